"""House rules that code structure must keep."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_analysis_never_imports_streamlit():
    offenders = [
        p.name for p in (ROOT / "analysis").rglob("*.py") if "streamlit" in _imports(p)
    ]
    assert offenders == []


def test_no_unsafe_html_anywhere():
    sources = [*ROOT.glob("*.py"), *(ROOT / "pages").glob("*.py"), *(ROOT / "ui").glob("*.py")]
    assert sources
    assert [p.name for p in sources if "unsafe_allow_html" in p.read_text()] == []


def test_pages_hold_no_data_logic():
    for page in [ROOT / "app.py", *(ROOT / "pages").glob("*.py")]:
        text = page.read_text()
        for forbidden in (".groupby(", "duckdb", ".sql(", "import pandas"):
            assert forbidden not in text, f"{page.name} contains {forbidden}"
        assert len(text.splitlines()) <= 150, f"{page.name} is too long for a page"


def test_no_clock_or_global_random_in_analysis():
    for path in (ROOT / "analysis").rglob("*.py"):
        text = path.read_text()
        assert "np.random.seed" not in text and "random.random(" not in text, path.name
        if path.name != "store.py":  # the catalog's created time, injectable via clock=
            assert "datetime.now(" not in text, path.name


def test_every_view_has_a_page():
    names = sorted(p.name for p in (ROOT / "pages").glob("*.py"))
    assert names == [
        "1_Paths.py", "2_Funnels.py", "3_Churn.py", "4_Experiments.py", "5_Pain_points.py",
        "6_Data.py",
    ]

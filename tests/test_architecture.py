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
        "6_Touchpoints.py", "7_Data.py",
    ]


def _analysis_modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the analysis package."""
    out = {}
    for path in (ROOT / "analysis").rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _internal_imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """The analysis modules a file imports at run time (TYPE_CHECKING blocks excluded)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for n in ast.walk(node))
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(
                "analysis"):
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                found.add(full if full in modules else node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("analysis"))
    return {m for m in found if m in modules}


def test_analysis_has_no_import_cycle():
    modules = _analysis_modules()
    graph = {name: _internal_imports(path, modules) - {name} for name, path in modules.items()}
    # A package's __init__ re-exports its own modules; that is not a dependency.
    graph = {n: {m for m in deps if not m.startswith(n + ".")} for n, deps in graph.items()}
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                raise AssertionError("import cycle: " + " -> ".join([*trail, node, dep]))
            if dep not in state:
                visit(dep, [*trail, node])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [])


VIEWS = ("paths", "funnel", "survival", "experiments", "painpoints", "touchpoints")
BASE = ("schema", "results", "stats", "definitions", "ingest", "store", "frames", "journeys")


def test_views_import_downwards_only():
    """pages -> ui -> views -> journeys/frames/stats/results/schema; nothing imports Home's
    overview, and the base never imports a view or the figures."""
    modules = _analysis_modules()
    for name, path in modules.items():
        imported = _internal_imports(path, modules)
        # The command line (analysis.cli*, python -m analysis) is a top layer, like the pages.
        top = name.startswith(("analysis.cli", "analysis.__main__"))
        if name != "analysis.overview" and not top:
            assert "analysis.overview" not in imported, f"{name} imports overview"
        layer = name.split(".")[1] if "." in name else ""
        if layer in BASE:
            upward = {m for m in imported if m.split(".")[1] in (*VIEWS, "figures")}
            assert not upward, f"{name} imports {upward}"


def test_analysis_modules_and_functions_stay_small():
    for path in (ROOT / "analysis").rglob("*.py"):
        text = path.read_text()
        assert len(text.splitlines()) <= 400, f"{path.name} has over 400 lines"
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef):
                length = node.end_lineno - node.lineno + 1
                body = node.body[1:] if ast.get_docstring(node) else node.body
                code = sum(b.end_lineno - b.lineno + 1 for b in body)
                assert code <= 60, f"{path.name}:{node.name} has {code} lines of code"
                assert length <= 110, f"{path.name}:{node.name} is {length} lines long"


def test_no_metadata_in_dataframe_attrs():
    for path in (ROOT / "analysis").rglob("*.py"):
        assert ".attrs[" not in path.read_text(), path.name

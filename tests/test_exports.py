import pandas as pd

from analysis.exports import neutralise_formulas, safe_csv


def test_formula_cells_are_neutralised():
    df = pd.DataFrame(
        {"text": ["=HYPERLINK(\"http://x\")", "+1+1", "-2", "@SUM(A1)", "\tx", "ok", None],
         "n": [1, 2, 3, 4, 5, 6, 7]}
    )
    out = neutralise_formulas(df)
    assert out["text"].tolist()[:6] == [
        "'=HYPERLINK(\"http://x\")", "'+1+1", "'-2", "'@SUM(A1)", "'\tx", "ok"
    ]
    assert pd.isna(out["text"].iloc[6])
    assert out["n"].tolist() == [1, 2, 3, 4, 5, 6, 7]
    assert df["text"].iloc[0].startswith("=")  # input untouched


def test_safe_csv_is_utf8_with_bom_and_quotes_header_formulas():
    data = safe_csv(pd.DataFrame({"=cmd": ["Café"]}))
    assert data.startswith(b"\xef\xbb\xbf")
    text = data.decode("utf-8-sig")
    assert text.splitlines() == ["'=cmd", "Café"]

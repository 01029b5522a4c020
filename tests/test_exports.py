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


def test_safe_csv_rounds_float_noise_but_keeps_small_p_values():
    df = pd.DataFrame({"share": [0.1 + 0.2, 1.0000000000000002], "p": [1.234e-12, 0.5]})
    text = safe_csv(df).decode("utf-8-sig")
    assert "0.3," in text and "\n1," in text
    assert "1.234e-12" in text
    assert "0000000" not in text

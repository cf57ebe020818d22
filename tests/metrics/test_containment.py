"""OCRBench containment, against hand-worked cases (HME100k spaces, case, newlines, full width)."""

from harness.metrics.containment import ocrbench_match


def test_general_sources_lowercase_and_contain():
    assert ocrbench_match("The word is CUMBERLAND.", ["Cumberland"], "IIIT5K") == 1.0
    assert ocrbench_match("HELLO\nWORLD", ["hello world"], "IIIT5K") == 1.0  # newline -> space
    assert ocrbench_match("helloworld", ["hello world"], "IIIT5K") == 0.0  # spaces matter here
    assert ocrbench_match("cumber", ["cumberland"], "IIIT5K") == 0.0  # the answer must be inside
    assert ocrbench_match("2019", ["1999", "2019"], "docVQA") == 1.0  # any ground truth


def test_hme100k_removes_spaces_keeps_case():
    assert ocrbench_match("x^{2}+1", ["x ^ { 2 } + 1"], "HME100k") == 1.0
    assert ocrbench_match("$x ^ {2}\n+ 1$", ["x^{2}+1"], "HME100k") == 1.0
    assert ocrbench_match("X^{2}+1", ["x ^ { 2 } + 1"], "HME100k") == 0.0
    # source names are case-sensitive: 'hme100k' is a general source (lowercased, spaces kept)
    assert ocrbench_match("x ^ { 2 }", ["X ^ { 2 }"], "hme100k") == 1.0
    assert ocrbench_match("x^{2}", ["x ^ { 2 }"], "hme100k") == 0.0


def test_fullwidth_folding_is_the_lmms_eval_protocol():
    assert ocrbench_match("ＴＯＴＡＬ　１２．５０", ["total 12.50"], "SROIE") == 1.0
    assert (
        ocrbench_match("total 12.50", ["ＴＯＴＡＬ　１２．５０"], "SROIE") == 1.0
    )  # both sides folded
    assert (
        ocrbench_match("ＴＯＴＡＬ　１２．５０", ["total 12.50"], "SROIE", fold_width=False) == 0.0
    )
    # lmms-eval folds in the general branch only: in HME100k the ideographic space stays (not a
    # space to delete) and a full-width letter stays full width
    assert ocrbench_match("x\u3000^2", ["x^2"], "HME100k") == 0.0
    assert ocrbench_match("ｘ^2", ["x^2"], "HME100k") == 0.0
    assert ocrbench_match("x ^2", ["x^2"], "HME100k") == 1.0


def test_v02_lowercases_the_prediction_before_the_formula_branch():
    # v0.2.x: pred = pred.lower() first; HME100k answers keep their case, so a capital never matches
    assert ocrbench_match("\\Delta x", ["\\Delta x"], "HME100k") == 1.0
    assert (
        ocrbench_match("\\Delta x", ["\\Delta x"], "HME100k", fold_width=False, lower_first=True)
        == 0.0
    )
    assert (
        ocrbench_match("\\delta x", ["\\delta x"], "HME100k", fold_width=False, lower_first=True)
        == 1.0
    )
    # general sources lowercase both sides anyway: lowering first changes nothing there
    assert (
        ocrbench_match("CUMBERLAND", ["Cumberland"], "IIIT5K", fold_width=False, lower_first=True)
        == 1.0
    )
    assert ocrbench_match("ＡＢ", ["ab"], "IIIT5K", fold_width=False, lower_first=True) == 0.0

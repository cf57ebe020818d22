"""Reading other harnesses' prediction files (no model, no dataset)."""

from __future__ import annotations

import json

import pytest
from replay_files import lmms_eval_main_line, lmms_eval_v02_line

from harness.errors import HarnessError
from harness.models.replay import read_predictions
from harness.models.replay_formats import VLMEVAL_FAIL, read_entries


def test_lmms_eval_both_layouts_read_the_scored_text(tmp_path):
    path = tmp_path / "20241002_samples_pope.jsonl"
    doc = {"question_id": "7", "question": "Is there a dog?", "answer": "yes", "image_source": "x"}
    path.write_text(
        json.dumps(lmms_eval_v02_line(0, doc, "Yes", "yes"))
        + "\n"
        + json.dumps(lmms_eval_main_line(1, "No", "no"))
        + "\n"
    )
    entries = read_entries(path)
    assert [(e.task, e.match, e.key, e.prediction) for e in entries] == [
        ("pope", "index", "0", "Yes"),
        ("pope", "index", "1", "No"),
    ]
    assert entries[1].where == f"{path}:2"


def test_lmms_eval_several_responses_per_doc_are_refused(tmp_path):
    path = tmp_path / "x_samples_seedbench.jsonl"
    path.write_text(json.dumps({"doc_id": 4, "filtered_resps": [["A", "B"], ["C"]]}) + "\n")
    with pytest.raises(
        HarnessError, match=r"samples_seedbench\.jsonl:1: doc_id 4: filtered_resps is not one text"
    ):
        read_entries(path)


def test_vlmevalkit_sheet_failures_empty_cells_and_numbers(tmp_path):
    import pandas as pd

    path = tmp_path / "m_MME.xlsx"
    pd.DataFrame(
        {
            "index": [0, 1, 2, 3],
            "question": ["q"] * 4,
            "answer": ["Yes"] * 4,
            "prediction": ["Yes", f"{VLMEVAL_FAIL}.", None, 12],
        }
    ).to_excel(path, index=False)
    entries = read_entries(path)
    assert [(e.task, e.key, e.prediction) for e in entries] == [
        ("mme", "0", "Yes"),
        ("mme", "1", None),
        ("mme", "2", ""),
        ("mme", "3", "12"),
    ]
    assert entries[2].where == f"{path} row 4"
    assert read_predictions(path) == {"mme/0": "Yes", "mme/2": "", "mme/3": "12"}


def test_vlmevalkit_sheet_without_prediction_column(tmp_path):
    path = tmp_path / "m_OCRBench.tsv"
    path.write_text('"index"\t"question"\n"0"\t"q"\n')
    with pytest.raises(HarnessError, match=r"m_OCRBench\.tsv: no prediction column"):
        read_entries(path)


def test_vlmevalkit_tsv_not_utf8_names_the_line(tmp_path):
    path = tmp_path / "m_POPE.tsv"
    path.write_bytes(b'"index"\t"prediction"\n"0"\t"yes"\n"1"\t"n\xf6"\n')
    with pytest.raises(HarnessError, match=r"m_POPE\.tsv:3: not UTF-8"):
        read_entries(path)


def test_unknown_format_and_missing_file(tmp_path):
    with pytest.raises(HarnessError, match="predictions_format='csv'"):
        read_entries(tmp_path, "csv")
    with pytest.raises(HarnessError, match="not found"):
        read_entries(tmp_path / "none.jsonl")

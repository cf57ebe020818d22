"""model=replay on the demo DocVQA set: this project's JSON lines, lmms-eval's logged samples
(v0.2.4 and today's layout) and VLMEvalKit's sheets give the same run; bad files are one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from replay_files import demo_task, write_lmms_eval, write_native, write_vlmevalkit

from harness.errors import HarnessError
from harness.runner import run

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def docs(cache_dir):
    return list(demo_task(cache_dir).docs())


def _answers(docs, wrong_every: int = 3) -> dict[str, str]:
    """The first answer of each sample, every ``wrong_every``-th one replaced by a wrong one."""
    return {
        d["id"]: ("zzzzzz" if i % wrong_every == 0 else d["answers"][0]) for i, d in enumerate(docs)
    }


def _replay(compose_cfg, out: Path, preds: Path, *extra: str) -> dict:
    run(
        compose_cfg(
            f"output_dir={out}",
            "device=cpu",
            "task=docvqa",
            "data=demo",
            "model=replay",
            f"model.predictions={preds}",
            *extra,
        )
    )
    return json.loads((out / "scores.json").read_text())["docvqa"]


def _predictions(out: Path) -> dict[str, str | None]:
    lines = (out / "predictions" / "docvqa.jsonl").read_text().splitlines()
    return {r["id"]: r["prediction"] for r in map(json.loads, lines)}


@pytest.mark.parametrize(
    "kind", ["lmms-eval-0.2.4", "lmms-eval-main", "vlmevalkit.xlsx", "vlmevalkit.tsv"]
)
def test_other_harnesses_files_replay_like_our_own(compose_cfg, tmp_path, docs, kind):
    answers = _answers(docs)
    native = _replay(compose_cfg, tmp_path / "native", write_native(tmp_path / "p.jsonl", answers))
    if kind.startswith("lmms-eval"):
        version = kind.removeprefix("lmms-eval-")
        path = write_lmms_eval(
            tmp_path / "20241002_samples_docvqa_val.jsonl", docs, answers, version
        )
    else:
        path = write_vlmevalkit(
            tmp_path / f"llava_v1.5_7b_DocVQA_VAL.{kind.split('.')[1]}", docs, answers
        )
    other = _replay(compose_cfg, tmp_path / "other", path)
    assert _predictions(tmp_path / "other") == answers == _predictions(tmp_path / "native")
    assert other["value"] == native["value"] and other["n"] == len(docs) and other["failed"] == 0
    assert 0 < other["value"] < 100  # a third of the answers are wrong
    meta = json.loads((tmp_path / "other" / "meta.json").read_text())
    assert meta["model"]["predictions_format"] == "auto"


def test_lmms_eval_doc_ids_are_row_indices_not_sample_ids(compose_cfg, tmp_path, docs):
    """doc_id 3 is the fourth row, even where a sample's own id is "3"."""
    path = tmp_path / "x_samples_docvqa_val.jsonl"
    rows = [
        {"doc_id": d["_index"], "filtered_resps": [d["answers"][0]], "resps": [[d["answers"][0]]]}
        for d in docs
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert _replay(compose_cfg, tmp_path / "out", path)["value"] == 100.0


def test_format_override(compose_cfg, tmp_path, docs):
    path = write_lmms_eval(tmp_path / "log.jsonl", docs, _answers(docs))  # no task in the name
    assert _replay(compose_cfg, tmp_path / "a", path, "++model.predictions_format=lmms-eval")[
        "n"
    ] == len(docs)
    with pytest.raises(HarnessError, match=r"log\.jsonl:1: not a \{\"id\", \"prediction\"\}"):
        _replay(compose_cfg, tmp_path / "b", path, "++model.predictions_format=jsonl")


def test_missing_ids_are_failed_samples_counted_and_named(compose_cfg, tmp_path, docs):
    answers = {d["id"]: d["answers"][0] for d in docs[:5]}
    preds = write_native(tmp_path / "few.jsonl", answers)
    d = _replay(compose_cfg, tmp_path / "out", preds)
    assert d["n"] + d["failed"] == len(docs) and d["failed"] == len(docs) - 5
    recs = [
        json.loads(x)
        for x in (tmp_path / "out" / "predictions" / "docvqa.jsonl").read_text().splitlines()
    ]
    assert {r["failed"] for r in recs if r.get("failed")} == {f"no prediction in {preds}"}
    assert any(
        f"no prediction for {len(docs) - 5} of {len(docs)} docvqa sample(s)" in w
        for w in d["warnings"]
    )


def test_the_same_prediction_twice_is_fine(compose_cfg, tmp_path, docs):
    answers = {d["id"]: d["answers"][0] for d in docs}
    preds = tmp_path / "twice.jsonl"
    lines = [json.dumps({"id": k, "prediction": v}) for k, v in answers.items()]
    preds.write_text("\n".join(lines + lines[:3]) + "\n")
    assert _replay(compose_cfg, tmp_path / "out", preds)["value"] == 100.0


def _bad(tmp_path, docs, case) -> Path:
    first, second = docs[0]["id"], docs[1]["id"]
    lines = [
        json.dumps({"id": first, "prediction": "a"}).encode(),
        json.dumps({"id": second, "prediction": "b"}).encode(),
    ]
    if case == "duplicate":
        lines.append(json.dumps({"id": first, "prediction": "other"}).encode())
    elif case == "unknown id":
        lines.append(json.dumps({"id": "no-such-id", "prediction": "x"}).encode())
    elif case == "not utf-8":
        lines.append(b'{"id": "1", "prediction": "caf\xe9"}')
    elif case == "not json":
        lines.append(b'{"id": "1", "prediction": ')
    elif case == "empty":
        lines = []
    path = tmp_path / f"{case.replace(' ', '_')}.jsonl"
    path.write_bytes(b"\n".join(lines) + (b"\n" if lines else b""))
    return path


BAD = {
    "duplicate": r"\.jsonl:3: id '{first}' has a second, different prediction \(first at .*:1\)",
    "unknown id": r"\.jsonl:3: id 'no-such-id' is not in the docvqa dataset",
    "not utf-8": r"\.jsonl:3: not UTF-8 text \(byte 0xe9",
    "not json": r"\.jsonl:3: not valid JSON",
    "empty": r"no predictions in it",
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_replay_files_are_one_line_errors(compose_cfg, tmp_path, docs, case):
    path = _bad(tmp_path, docs, case)
    with pytest.raises(HarnessError, match=BAD[case].format(first=docs[0]["id"])) as exc:
        _replay(compose_cfg, tmp_path / "out", path)
    assert "\n" not in str(exc.value) and str(path) in str(exc.value)


def test_command_line_exit_code_and_one_line(tmp_path, docs):
    path = _bad(tmp_path, docs, "duplicate")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness",
            "task=docvqa",
            "data=demo",
            "device=cpu",
            "model=replay",
            f"model.predictions={path}",
            f"output_dir={tmp_path / 'out'}",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    errors = [x for x in proc.stderr.splitlines() if x.startswith("error:")]
    assert len(errors) == 1 and f"{path}:3:" in errors[0] and docs[0]["id"] in errors[0]


def test_a_folder_of_lmms_eval_files_serves_each_task_its_own(
    compose_cfg, tmp_path, docs, cache_dir
):
    folder = tmp_path / "lmms"
    folder.mkdir()
    write_lmms_eval(
        folder / "20241002_samples_docvqa_val.jsonl", docs, {d["id"]: d["answers"][0] for d in docs}
    )
    chart = list(
        demo_task(cache_dir, "chartqa").docs()
    )  # another task's file: ignored by task=docvqa
    (folder / "20241002_samples_chartqa.jsonl").write_text(
        "".join(json.dumps({"doc_id": d["_index"], "filtered_resps": "0"}) + "\n" for d in chart)
    )
    assert _replay(compose_cfg, tmp_path / "out", folder)["value"] == 100.0
    (folder / "notes.jsonl").write_text('{"id": "1", "prediction": "x"}\n')
    with pytest.raises(HarnessError, match=r"notes\.jsonl: its task cannot be told"):
        _replay(compose_cfg, tmp_path / "out2", folder)

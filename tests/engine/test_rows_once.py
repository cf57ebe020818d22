"""Each dataset row is read and converted once per run (by the planner; the loader and the
scorer use what the plan kept), documents never hold their image bytes, failures stay per
sample, and an oracle-like run never imports torch."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harness.bench_scale import build_docvqa_set, docvqa_rows

SCRIPT = textwrap.dedent(
    """
    import json, sys, tempfile, pathlib, logging
    logging.disable(logging.INFO)
    from harness.engine import EngineSettings, run_task
    from harness.models.base import Model
    from harness.models.oracle import OracleModel
    from harness.tasks.docvqa import DocVQA
    import harness.tasks.loading as loading

    reads = [0]
    original = loading.LazyDocs.__getitem__

    def counted(self, i):
        reads[0] += 1
        return original(self, i)

    loading.LazyDocs.__getitem__ = counted

    class Echo(Model):  # answers from the request alone: reads no document
        name = "echo"
        def generate(self, requests):
            return ["A" + r.id[-1] for r in requests]

    folder, which, share = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
    task = DocVQA({"dataset": {"path": folder, "name": "DocVQA", "split": "validation"}})
    n = len(task.docs())
    kept = task.docs()[0]["images"][0]
    reads[0] = 0
    model = Echo() if which == "echo" else OracleModel()
    settings = EngineSettings(progress=False, share_images=share, batch_size=4)
    out = pathlib.Path(tempfile.mkdtemp())
    res = run_task(task, model, out, settings)
    first = reads[0]
    reads[0] = 0
    again = run_task(task, model, out, settings)  # resumed: every record checked, none run
    assert [r["prediction"] for r in again.records] == [r["prediction"] for r in res.records]
    print(json.dumps({
        "n": n, "reads": first, "resume_reads": reads[0], "resumed": again.n_resumed,
        "torch": "torch" in sys.modules,
        "transformers": "transformers" in sys.modules,
        "holds_bytes": kept.holds_payload, "has_bytes": bool(kept.data),
        "failed": {r["id"]: r.get("failed") for r in res.records if r.get("failed")},
        "scored": sum("score" in r for r in res.records),
    }))
    """
)


@pytest.fixture(scope="module")
def docvqa_set(tmp_path_factory) -> Path:
    """30 rows of distinct pages; row 5's image is corrupt, row 9 has none."""

    from harness.demo.hub import write_hub_dataset

    rows = docvqa_rows(30)
    rows[5]["image"] = {"bytes": b"not an image", "path": None}
    rows[9]["image"] = None
    folder = tmp_path_factory.mktemp("rows-once") / "docvqa"
    from harness.demo.sets.docvqa import features

    feats = features()
    write_hub_dataset(folder, {"DocVQA": {"validation": rows}}, feats)
    return folder


def _run(folder: Path, model: str, share: bool = True) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(folder), model, "1" if share else "0"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("share", [True, False])
def test_each_row_is_read_once_and_failures_stay_per_sample(docvqa_set, share):
    got = _run(docvqa_set, "echo", share)
    assert got["n"] == 30 and got["reads"] == 30  # planner only: loader and scorer reuse it
    # a resumed run checks each saved record against its row, read once too (the two failed
    # samples run again: retry_failed)
    assert got["resumed"] == 28 and got["resume_reads"] == 30
    assert not got["holds_bytes"] and got["has_bytes"]  # fetched from the dataset on use
    failed = got["failed"]
    assert set(failed) == {"100005", "100009"}
    assert failed["100005"].startswith("image failed to decode")
    assert failed["100009"] == "record has no image"
    # the corrupt image's sample is scored as an empty answer; the row without an image was not
    # converted (its document keeps only id and error), so it has no score fields
    assert got["scored"] == 29
    assert not got["torch"] and not got["transformers"]


def test_an_oracle_run_imports_neither_torch_nor_transformers(docvqa_set):
    got = _run(docvqa_set, "oracle")
    assert not got["torch"] and not got["transformers"]
    # the planner reads each row once, the oracle's scan once more for the reference (the two
    # failed samples are not answered: their rows are scanned past on the way to later ones)
    assert got["reads"] == 2 * got["n"]
    assert set(got["failed"]) == {"100005", "100009"}  # the same failures as any other model


def test_a_generated_set_is_what_the_benchmark_runs(tmp_path):
    folder = build_docvqa_set(tmp_path / "d", 12)
    assert (folder / "README.md").is_file()
    rows = docvqa_rows(12)
    assert len({r["image"]["bytes"] for r in rows}) == 12  # one question per distinct image

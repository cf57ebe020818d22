"""Reading saved predictions for ``model=replay``: this project's JSON lines, lmms-eval's
``--log_samples`` files and VLMEvalKit's prediction sheets, into one list of :class:`Entry`.

Formats (``model.predictions_format``; ``auto`` detects by extension and content):

- ``jsonl`` (this project's own): JSON lines ``{"id", "prediction"[, "task"]}`` (a run's
  ``predictions/<task>.jsonl`` is one); ``id`` is a sample id or a dataset row index.
- ``lmms-eval``: ``<date>_samples_<task>.jsonl``, one logged sample a line. v0.2.x writes
  ``doc_id``, ``doc``, ``target``, ``arguments``, ``resps`` (``[[text]]``), ``filtered_resps``
  (``[text]``), hashes, ``input`` and the metric keys; today's main drops ``doc`` and
  ``arguments``, unwraps single responses (``filtered_resps`` a string) and drops ``resps`` when
  equal. ``doc_id`` is the row index in the task's split: matched against the row index only.
  The prediction is ``filtered_resps`` (what lmms-eval scored), else ``resps``.
- ``vlmevalkit``: ``<model>_<dataset>.xlsx`` (default) or ``.tsv`` (``PRED_FORMAT=tsv``): the
  dataset's sheet without the image, plus ``prediction``; ``index`` is matched like a native id.
  A prediction containing VLMEvalKit's ``Failed to obtain answer`` is a failed sample.

The task of a file comes from its name (``samples_docvqa_val`` -> docvqa, ``..._DocVQA_VAL`` ->
docvqa) or, for native lines, from a ``task`` key; otherwise its ids apply to any task.
"""

from __future__ import annotations

import io
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.jsonl import json_lines, text_lines

FORMATS = ("auto", "jsonl", "lmms-eval", "vlmevalkit")  # "native" is accepted for "jsonl"
VLMEVAL_FAIL = "Failed to obtain answer"

# lmms-eval task names (normalised: lower case, letters and digits) by prefix -> our task
_LMMS_PREFIXES = (
    ("gqa", "gqa"),
    ("okvqa", "okvqa"),
    ("chartqa", "chartqa"),
    ("docvqa", "docvqa"),
    ("infovqa", "infovqa"),
    ("ocrbench", "ocrbench"),
    ("pope", "pope"),
    ("seedbench", "seed"),
    ("mathvista", "mathvista"),
)
# VLMEvalKit dataset names (the end of the file name) -> our task
_VLMEVAL_NAMES = {
    "GQA_TestDev_Balanced": "gqa",
    "OKVQA": "okvqa",
    "ChartQA_TEST": "chartqa",
    "DocVQA_VAL": "docvqa",
    "InfoVQA_VAL": "infovqa",
    "OCRBench": "ocrbench",
    "POPE": "pope",
    "MME": "mme",
    "SEEDBench_IMG": "seed",
    "MathVista_MINI": "mathvista",
}


@dataclass(frozen=True)
class Entry:
    """One saved prediction. ``match``: ``any`` (sample id, then row index) or ``index`` (row
    index only); ``prediction`` None: the sample failed in the source."""

    key: str
    prediction: str | None
    where: str  # FILE:LINE (or FILE row N)
    task: str | None = None
    match: str = "any"


def lmms_eval_task(name: str) -> str | None:
    """The project's task for an lmms-eval task name.

    >>> lmms_eval_task("docvqa_val"), lmms_eval_task("ok_vqa_val2014"), lmms_eval_task("mme")
    ('docvqa', 'okvqa', 'mme')
    >>> lmms_eval_task("mathvista_testmini_format"), lmms_eval_task("mmbench_en") is None
    ('mathvista', True)
    """
    flat = re.sub(r"[^a-z0-9]", "", name.lower())
    if flat == "mme":
        return "mme"
    return next((ours for prefix, ours in _LMMS_PREFIXES if flat.startswith(prefix)), None)


def task_from_filename(path: Path) -> str | None:
    """The task a file of another harness holds, from its name.

    >>> task_from_filename(Path("20241002_samples_infovqa_val.jsonl"))
    'infovqa'
    >>> task_from_filename(Path("llava_v1.5_7b_SEEDBench_IMG.xlsx"))
    'seed'
    >>> task_from_filename(Path("x.jsonl")) is None
    True
    """
    m = re.search(r"samples_(.+)$", path.stem)
    if m:
        return lmms_eval_task(m.group(1))
    return next(
        (
            t
            for name, t in _VLMEVAL_NAMES.items()
            if path.stem == name or path.stem.endswith("_" + name)
        ),
        None,
    )


def detect_format(path: Path, first: dict[str, Any] | None) -> str:
    """``vlmevalkit`` for sheets, ``lmms-eval`` for logged samples, else ``jsonl``."""
    if path.suffix.lower() in (".xlsx", ".tsv"):
        return "vlmevalkit"
    if (
        isinstance(first, dict)
        and "doc_id" in first
        and ("filtered_resps" in first or "resps" in first)
    ):
        return "lmms-eval"
    return "jsonl"


def as_text(value: Any, where: str, what: str) -> str | None:
    """A prediction value as text: strings as they are, numbers printed, null None."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise HarnessError(f"{where}: {what} must be text, got {type(value).__name__}")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def read_native(path: Path, records: list[tuple[int, Any]]) -> list[Entry]:
    out = []
    for lineno, rec in records:
        where = f"{path}:{lineno}"
        if not isinstance(rec, dict) or "id" not in rec or "prediction" not in rec:
            raise HarnessError(f'{where}: not a {{"id", "prediction"}} JSON object')
        key = as_text(rec["id"], where, "id")
        pred = as_text(rec["prediction"], where, f"the prediction of id {key!r}")
        out.append(Entry(str(key), pred, where, rec.get("task") or None, "any"))
    return out


def lmms_eval_prediction(rec: dict[str, Any], where: str) -> str:
    """The text lmms-eval scored: ``filtered_resps`` (v0.2: ``[text]``; today: ``text``), else
    ``resps`` (v0.2: ``[[text]]``), unwrapped while a one-element list."""
    for field in ("filtered_resps", "resps"):
        if field in rec:
            value = rec[field]
            while isinstance(value, list) and len(value) == 1:
                value = value[0]
            if isinstance(value, str):
                return value
            raise HarnessError(
                f"{where}: doc_id {rec.get('doc_id')!r}: {field} is not one text "
                f"({json.dumps(value)[:60]}); only generation tasks can be replayed"
            )
    raise HarnessError(
        f"{where}: doc_id {rec.get('doc_id')!r} has neither filtered_resps nor resps"
    )


def read_lmms_eval(path: Path, records: list[tuple[int, Any]]) -> list[Entry]:
    task = task_from_filename(path)
    out = []
    for lineno, rec in records:
        where = f"{path}:{lineno}"
        if not isinstance(rec, dict) or "doc_id" not in rec:
            raise HarnessError(f"{where}: not an lmms-eval logged sample (no doc_id)")
        doc_id = rec["doc_id"]
        if isinstance(doc_id, bool) or not (isinstance(doc_id, int) or str(doc_id).isdigit()):
            raise HarnessError(f"{where}: doc_id {doc_id!r} is not a row index")
        out.append(Entry(str(int(doc_id)), lmms_eval_prediction(rec, where), where, task, "index"))
    return out


def _cell(value: Any) -> str:
    """A sheet cell as text (pandas reads an xlsx's integers back as floats, empty cells as NaN)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def read_vlmevalkit(path: Path) -> list[Entry]:
    import pandas as pd

    suffix = path.suffix.lower()
    try:
        if suffix == ".xlsx":
            frame = pd.read_excel(path, dtype=object)
            first_row = 2  # the header is row 1
        else:
            text = "\n".join(line for _, line in text_lines(path, "replay predictions"))
            frame = pd.read_csv(io.StringIO(text), sep="\t", dtype=str, keep_default_na=False)
            first_row = 2
    except HarnessError:
        raise
    except Exception as exc:  # pandas/openpyxl raise many types for a damaged sheet
        raise HarnessError(
            f"{path}: cannot read as a VLMEvalKit prediction sheet "
            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
        ) from None
    missing = [c for c in ("index", "prediction") if c not in frame.columns]
    if missing:
        raise HarnessError(
            f"{path}: no {' or '.join(missing)} column (VLMEvalKit sheets have index, "
            f"question, answer, prediction); columns: {', '.join(map(str, frame.columns))}"
        )
    task = task_from_filename(path)
    out = []
    for i, (index, pred) in enumerate(zip(frame["index"], frame["prediction"])):
        where = f"{path} row {i + first_row}"
        key = _cell(index)
        if not key:
            raise HarnessError(f"{where}: empty index")
        text = _cell(pred)
        out.append(Entry(key, None if VLMEVAL_FAIL in text else text, where, task, "any"))
    return out


def files_of(path: Path) -> list[Path]:
    """The prediction files named by ``path``: the file, or a folder's ``.jsonl``/``.xlsx``/
    ``.tsv`` files (each must name its task, e.g. lmms-eval's ``samples_<task>.jsonl``)."""
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(
            p
            for p in path.iterdir()
            if p.is_file() and p.suffix.lower() in (".jsonl", ".xlsx", ".tsv")
        )
        if not files:
            raise HarnessError(
                f"replay predictions folder {path} holds no .jsonl, .xlsx or .tsv file"
            )
        return files
    raise HarnessError(f"replay predictions file not found: {path}")


def read_entries(path: str | Path, fmt: str | None = None) -> list[Entry]:
    """Every saved prediction named by ``path`` (a file or a folder of files), in file order."""
    fmt = {"native": "jsonl", None: "auto", "": "auto"}.get(fmt, fmt)
    if fmt not in FORMATS:
        raise HarnessError(f"model.predictions_format={fmt!r}: valid: {', '.join(FORMATS)}")
    path = Path(path)
    files = files_of(path)
    out: list[Entry] = []
    for f in files:
        entries = read_file(f, fmt)
        if path.is_dir() and any(e.task is None for e in entries):
            raise HarnessError(
                f"{f}: its task cannot be told from the file name (in a folder of predictions "
                "each file must be lmms-eval's *_samples_<task>.jsonl or VLMEvalKit's "
                '<model>_<dataset>.xlsx/.tsv, or carry "task" on every line)'
            )
        out += entries
    if not out:
        raise HarnessError(f"{path}: no predictions in it (empty file)")
    return out


def read_file(path: Path, fmt: str) -> list[Entry]:
    if fmt == "vlmevalkit" or (fmt == "auto" and path.suffix.lower() in (".xlsx", ".tsv")):
        return read_vlmevalkit(path)
    records = json_lines(path, "replay predictions")
    first = records[0][1] if records and isinstance(records[0][1], dict) else None
    kind = fmt if fmt != "auto" else detect_format(path, first)
    return read_lmms_eval(path, records) if kind == "lmms-eval" else read_native(path, records)

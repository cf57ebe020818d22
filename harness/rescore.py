"""``python -m harness.rescore RUN_DIR... protocol=P [task=a,b]``: score a finished run's
predictions again under another protocol, without generating anything.

Layout: a run folder ``R`` (one with ``scores.json``) gets ``R/rescored/<P>/``; a folder ``T``
of run folders (a grid) gets ``T/rescored/<P>/<run>/`` for each, plus ``T/rescored/<P>/table.md``.
Each rescored folder is a run folder (``scores.json``, ``meta.json``, ``config.yaml``,
``predictions/<task>.jsonl``), so ``python -m harness.report T/rescored/paper --paper`` tables
it; the original files are never written. ``P`` is canonical in the folder name (``paper`` is
``lmms-eval-0.2``). A failed sample stays failed; tasks without protocol ``P`` are skipped.
"""

from __future__ import annotations

import datetime as _dt
import json
import shutil
import sys
from pathlib import Path
from typing import Any, cast

from harness.engine.files import atomic_write_lines, write_json
from harness.errors import HarnessError
from harness.jsonl import json_lines

USAGE = "usage: python -m harness.rescore RUN_DIR [RUN_DIR...] protocol=NAME [task=a,b]"


def canonical(protocol: str) -> str:
    from harness.tasks.base import PROTOCOL_ALIASES

    return PROTOCOL_ALIASES.get(protocol, protocol)


# ---- reading a finished run ----------------------------------------------------------------
def read_task_config(run_dir: Path, task: str) -> dict[str, Any]:
    """The task config a run used, for building the task again (the one place that knows how a
    run records it). Assumptions: ``config.yaml`` (the run's, else its grid folder's) holds either
    ``tasks.<task>`` (a job's resolved per-task config), or ``task`` naming this task, or
    ``task.names`` with per-task ``task.overrides.<task>``; ``meta.json`` ``datasets.<task>``
    (path, name, split, format) names the data actually read and wins; ``data.name: demo`` marks
    a demo set."""
    from omegaconf import OmegaConf

    cfg_path = next(
        (p for p in (run_dir / "config.yaml", run_dir.parent / "config.yaml") if p.is_file()), None
    )
    if cfg_path is None:
        raise HarnessError(f"{run_dir}: no config.yaml (not a run folder of this harness?)")
    try:
        loaded = OmegaConf.to_container(OmegaConf.load(cfg_path), resolve=False)
        cfg = cast("dict[str, Any]", loaded)  # a run's config.yaml is a mapping
    except Exception as exc:  # a damaged YAML file
        raise HarnessError(f"{cfg_path}: cannot read ({str(exc).splitlines()[0]})") from None
    tcfg = _task_section(cfg, task)
    meta = _read_json(run_dir / "meta.json") if (run_dir / "meta.json").is_file() else {}
    used = (meta.get("datasets") or {}).get(task) or {}
    dataset = dict(tcfg.get("dataset") or {})
    dataset.update(
        {k: used[k] for k in ("path", "name", "split", "format") if used.get(k) is not None}
    )
    if (cfg.get("data") or {}).get("name") == "demo":
        dataset["demo"] = True
    if not dataset.get("path"):
        raise HarnessError(
            f"{run_dir}: cannot tell which dataset {task} read (no meta.json "
            f"datasets.{task}.path, no dataset.path in {cfg_path})"
        )
    out = {k: v for k, v in tcfg.items() if k not in ("names", "overrides")}
    out.update(name=task, dataset=dataset)
    if isinstance(cfg.get("cache_dir"), str) and "${" not in cfg["cache_dir"]:
        out.setdefault("cache_dir", cfg["cache_dir"])
    return out


def _task_section(cfg: dict[str, Any], task: str) -> dict[str, Any]:
    per_job = (cfg.get("tasks") or {}).get(task)
    if per_job:
        return dict(per_job)
    section = dict(cfg.get("task") or {})
    if section.get("name") == task:
        return section
    base: dict[str, Any] = {}
    try:
        from harness.config import load_group

        base = load_group("task", task)
    except Exception:  # the group file's defaults are a convenience, not required
        base = {"name": task}
    extra = (section.get("overrides") or {}).get(task) or {}
    return _merge(base, extra)


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in extra.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise HarnessError(f"{path}: cannot read ({exc})") from None


def run_folders(path: Path, protocol: str) -> list[tuple[Path, Path]]:
    """(run folder, its rescored folder) for a run folder or a folder of run folders."""
    if not path.is_dir():
        raise HarnessError(f"run folder not found: {path}")
    if (path / "scores.json").is_file():
        return [(path, path / "rescored" / protocol)]
    subs = sorted(d for d in path.iterdir() if d.is_dir() and (d / "scores.json").is_file())
    if not subs:
        raise HarnessError(f"{path}: no scores.json in it or in its sub-folders (not a run folder)")
    return [(d, path / "rescored" / protocol / d.name) for d in subs]


# ---- scoring again ---------------------------------------------------------------------------
def rescore_task(
    src: Path, task_name: str, protocol: str
) -> tuple[dict[str, Any], list[dict[str, Any]], Any]:
    """(scores.json entry, records) of one task's saved predictions under ``protocol``."""
    from harness.engine.scoring import score_record
    from harness.engine.store import normalize
    from harness.results import task_scores
    from harness.tasks import get_task_class

    cfg = read_task_config(src, task_name)
    cfg["protocol"] = protocol
    task = get_task_class(task_name)(cfg)
    docs = task.docs()
    index = {str(d["id"]): i for i, d in enumerate(docs)}
    pred_file = src / "predictions" / f"{task_name}.jsonl"
    records, changed_prompts = [], 0
    for lineno, rec in json_lines(pred_file, "predictions"):
        if not isinstance(rec, dict) or "id" not in rec:
            raise HarnessError(
                f"{pred_file}:{lineno}: a prediction record must be an object with an 'id'"
            )
        rid = str(rec["id"])
        if rid not in index:
            raise HarnessError(
                f"{pred_file}:{lineno}: id {rid!r} is not in the {task_name} dataset "
                f"({task.dataset.get('path')}); was the dataset changed?"
            )
        if rec.get("prediction") is None or rec.get("failed"):
            records.append(normalize(rec))
            continue
        doc = docs[index[rid]]
        new = score_record(task, doc, rec.get("prompt"), rec["prediction"])
        changed_prompts += rec.get("prompt") is not None and rec.get("prompt") != task.prompt(doc)
        records.append(normalize(new))
    if changed_prompts:
        task.warnings.append(
            f"rescored: {changed_prompts} prediction(s) were generated with another "
            f"prompt than protocol {task.protocol}'s; only the scoring is {task.protocol}'s"
        )
    return task_scores(task, records), records, task


def supports(task_name: str, protocol: str) -> bool:
    from harness.tasks import get_task_class

    return protocol in get_task_class(task_name).protocols


def rescore_run(src: Path, dst: Path, protocol: str, only: list[str] | None) -> list[str]:
    """Rescore one run folder into ``dst``; returns printable lines."""
    scores = _read_json(src / "scores.json")
    tasks = [t for t in scores if (src / "predictions" / f"{t}.jsonl").is_file()]
    if only:
        unknown = [t for t in only if t not in tasks]
        if unknown:
            raise HarnessError(
                f"{src}: no predictions for task(s) {', '.join(unknown)}; it has: "
                f"{', '.join(tasks) or 'none'}"
            )
        tasks = [t for t in tasks if t in only]
    lines, new_scores = [], {}
    out_scores = _read_json(dst / "scores.json") if (dst / "scores.json").is_file() else {}
    meta = _read_json(src / "meta.json") if (src / "meta.json").is_file() else {}
    protocols = dict(meta.get("protocols") or {})
    (dst / "predictions").mkdir(parents=True, exist_ok=True)
    for t in tasks:
        if not supports(t, protocol):
            lines.append(f"  {t}: no protocol {protocol}; skipped")
            continue
        entry, records, task = rescore_task(src, t, protocol)
        old = scores[t]
        entry["rescored_from"] = {k: old.get(k) for k in ("protocol", "version", "value")}
        new_scores[t] = entry
        protocols[t] = {"protocol": task.protocol, "version": task.version}
        atomic_write_lines(dst / "predictions" / f"{t}.jsonl", records)
        lines.append(
            f"  {t}: {entry['metric']} {_fmt(old.get('value'))} ({old.get('protocol')}) -> "
            f"{_fmt(entry['value'])} ({task.protocol}); n={entry['n']}, failed={entry['failed']}"
        )
    if not new_scores:
        raise HarnessError(f"{src}: none of its tasks ({', '.join(tasks)}) has protocol {protocol}")
    out_scores.update(new_scores)
    meta["protocols"] = protocols
    meta["rescored"] = {
        "from": str(src.resolve()),
        "protocol": protocol,
        "tasks": sorted(out_scores),
        "command": " ".join(sys.argv),
        "time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    if (src / "config.yaml").is_file():
        shutil.copyfile(src / "config.yaml", dst / "config.yaml")
    write_json(dst / "scores.json", out_scores)
    write_json(dst / "meta.json", meta)
    return lines


def _fmt(v: float | None) -> str:
    return "—" if v is None else f"{float(v):.2f}"


# ---- command line ----------------------------------------------------------------------------
def parse_args(argv: list[str]) -> tuple[list[Path], str, list[str] | None]:
    paths, opts = [], {}
    for a in argv:
        key, eq, value = a.partition("=")
        if eq and key in ("protocol", "task"):
            opts[key] = value
        elif eq and "/" not in key:
            raise HarnessError(f"unknown option {key!r}; {USAGE}")
        else:
            paths.append(Path(a))
    if not paths or not opts.get("protocol"):
        raise HarnessError(USAGE)
    only = [t for t in opts.get("task", "").strip("[]").split(",") if t.strip()] or None
    return paths, canonical(opts["protocol"]), [t.strip() for t in only] if only else None


def rescore(argv: list[str]) -> list[Path]:
    """Rescore every run named by ``argv``; returns the rescored run folders."""
    paths, protocol, only = parse_args(argv)
    done = []
    for path in paths:
        pairs = run_folders(path, protocol)
        for src, dst in pairs:
            print(f"{src} -> {dst}")
            print("\n".join(rescore_run(src, dst, protocol, only)))
            done.append(dst)
        if not (path / "scores.json").is_file():  # a folder of run folders: one table of them
            top = path / "rescored" / protocol
            if (path / "config.yaml").is_file():
                shutil.copyfile(path / "config.yaml", top / "config.yaml")
            _table(top)
    return done


def _table(top: Path) -> None:
    from harness.report.table import build_table

    table = build_table([top])
    (top / "table.md").write_text(table.to_markdown(), encoding="utf-8")
    print(table.to_text())


def main(argv: list[str] | None = None) -> int:
    try:
        rescore(sys.argv[1:] if argv is None else argv)
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

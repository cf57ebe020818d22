"""Reading run folders (``scores.json``, ``meta.json``, ``predictions/<task>.jsonl``).

A *run folder* holds one encoder's results; a *grid folder* holds one run folder per encoder
(any sub-folder with a ``scores.json``). A folder with the paper's CSVs (``results/paper/``)
stands for the paper itself. Every problem is a one-line :class:`HarnessError` naming the file.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.jsonl import json_lines
from harness.report.paper import FAMILY_LABELS, PaperTable, is_paper_dir, load_paper


@dataclass
class Run:
    path: Path
    scores: dict[str, dict[str, Any]]
    meta: dict[str, Any] = field(default_factory=dict)
    label: str = ""
    _ci_cache: dict[str, tuple[float, float] | None] = field(default_factory=dict, repr=False)

    @property
    def encoder(self) -> dict[str, Any]:
        enc = self.meta.get("encoder")
        return enc if isinstance(enc, dict) else {}

    @property
    def key(self) -> str:
        """The run's identity inside a grid: the encoder name, else the folder name."""
        return str(self.encoder.get("name") or self.path.name)

    @property
    def family(self) -> str | None:
        return self.encoder.get("family")

    @property
    def model(self) -> str | None:
        model = self.meta.get("model")
        if isinstance(model, dict):
            model = model.get("name") or model.get("model")
        return str(model) if model else None

    @property
    def tasks(self) -> list[str]:
        return list(self.scores)

    def value(self, task: str) -> float | None:
        entry = self.scores.get(task)
        value = entry.get("value") if entry else None
        return float(value) if isinstance(value, (int, float)) and not math.isnan(value) else None

    def records(self, task: str) -> list[dict[str, Any]]:
        """Every line of ``predictions/<task>.jsonl`` (failed samples included)."""
        path = self.path / "predictions" / f"{task}.jsonl"
        if not path.is_file():
            raise HarnessError(f"predictions file not found: {path}")
        out = []
        for i, rec in json_lines(path):
            if not isinstance(rec, dict) or "id" not in rec:
                raise HarnessError(
                    f"{path}:{i}: a prediction record must be an object with an 'id'"
                )
            out.append(rec)
        return out

    def ci(
        self, task: str, compute: bool = True, n_resamples: int = 1000, seed: int = 0
    ) -> tuple[float, float] | None:
        """The task's 95% interval: from ``scores.json`` when stored, else bootstrapped from the
        predictions (``None`` when neither is possible, e.g. no predictions or no task class)."""
        stored = (self.scores.get(task) or {}).get("ci95")
        if isinstance(stored, (list, tuple)) and len(stored) == 2:
            ok = all(isinstance(x, (int, float)) for x in stored)
            return (
                (float(stored[0]), float(stored[1])) if ok else None
            )  # null: no interval possible
        if not compute:
            return None
        if task not in self._ci_cache:
            from harness.report import columns
            from harness.report.stats import bootstrap_ci

            self._ci_cache[task] = None
            if (
                columns.task_class(task) is not None
                and (self.path / "predictions" / f"{task}.jsonl").is_file()
            ):
                try:
                    self._ci_cache[task] = bootstrap_ci(
                        task, self.records(task), n_resamples=n_resamples, seed=seed
                    )
                except HarnessError:  # no scored sample: no interval
                    pass
        return self._ci_cache[task]


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise HarnessError(f"file not found: {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise HarnessError(f"{path}: not valid JSON ({exc})") from None


def load_run(path: str | Path) -> Run:
    path = Path(path)
    scores = read_json(path / "scores.json")
    if not isinstance(scores, dict) or not all(isinstance(v, dict) for v in scores.values()):
        raise HarnessError(f'{path / "scores.json"}: expected {{task: {{"value": ..., ...}}}}')
    for task, entry in scores.items():
        if "value" not in entry:
            raise HarnessError(f"{path / 'scores.json'}: task {task!r} has no 'value'")
    meta = read_json(path / "meta.json") if (path / "meta.json").is_file() else {}
    run = Run(path=path, scores=scores, meta=meta if isinstance(meta, dict) else {})
    run.label = str(run.encoder.get("label") or run.encoder.get("name") or path.name)
    return run


def expand(paths: Iterable[str | Path]) -> tuple[list[Path], list[Path]]:
    """Run folders and paper folders named by ``paths`` (grid folders expand to their runs)."""
    runs: list[Path] = []
    papers: list[Path] = []
    for p in map(Path, paths):
        if not p.is_dir():
            raise HarnessError(f"run folder not found: {p}")
        if (p / "scores.json").is_file():
            runs.append(p)
        elif is_paper_dir(p):
            papers.append(p)
        else:
            subs = [d for d in p.iterdir() if d.is_dir() and (d / "scores.json").is_file()]
            if not subs:
                raise HarnessError(
                    f"{p}: no scores.json in it or in its sub-folders (not a run or grid folder)"
                )
            runs.extend(_grid_order(p, subs))
    return runs, papers


def _grid_order(grid: Path, subs: list[Path]) -> list[Path]:
    """The grid's own order (``config.yaml`` encoder.grid), else the paper's family order, then
    name."""
    order: list[str] = []
    if (grid / "config.yaml").is_file():
        try:
            from omegaconf import OmegaConf

            cfg = OmegaConf.load(grid / "config.yaml")
            order = [str(x) for x in (OmegaConf.select(cfg, "encoder.grid") or [])]
        except Exception:  # a config we cannot read only loses the ordering
            order = []
    families = list(FAMILY_LABELS)

    def rank(d: Path) -> tuple[int, int, str]:
        if d.name in order:
            return (0, order.index(d.name), d.name)
        fam = next((f for f in families if d.name.endswith(f)), None)
        return (1, families.index(fam) if fam else len(families), d.name)

    return sorted(subs, key=rank)


def load_sources(paths: Iterable[str | Path]) -> tuple[list[Run], PaperTable | None]:
    """Load the runs named by ``paths`` and the paper table if a paper folder is among them."""
    run_dirs, paper_dirs = expand(paths)
    runs = [load_run(d) for d in run_dirs]
    _disambiguate(runs)
    paper = load_paper(paper_dirs[0]) if paper_dirs else None
    return runs, paper


def _disambiguate(runs: list[Run]) -> None:
    """Give runs that share a label a suffix: the model name if that tells them apart, else the
    folder."""
    by_label: dict[str, list[Run]] = {}
    for r in runs:
        by_label.setdefault(r.label, []).append(r)
    for label, group in by_label.items():
        if len(group) < 2:
            continue
        models = [r.model for r in group]
        use_model = all(models) and len(set(models)) == len(models)
        for r in group:
            r.label = (
                f"{label} [{r.model}]"
                if use_model
                else f"{label} [{r.path.parent.name}/{r.path.name}]"
            )

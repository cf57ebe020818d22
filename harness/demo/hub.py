"""Write small datasets in the Hugging Face hub layout: parquet shards per config/split and a
``README.md`` whose YAML header lists the ``configs:``, so that
``datasets.load_dataset(folder, config, split=...)`` reads them offline exactly as it reads a
downloaded ``lmms-lab/<Name>`` snapshot."""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image

if TYPE_CHECKING:  # datasets ships no type information: its names read as Any
    from datasets import Features


def png_bytes(img: Image.Image, fmt: str = "PNG") -> dict[str, Any]:
    """A PIL image as a hub image cell ``{"bytes": ..., "path": None}``."""
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return {"bytes": buf.getvalue(), "path": None}


def write_hub_dataset(
    folder: Path,
    configs: Mapping[str, Mapping[str, Sequence[dict[str, Any]]]],
    features: Features | Mapping[str, Features],
) -> Path:
    """Write ``{config: {split: rows}}`` as ``folder/<config>/<split>-00000-of-00001.parquet``.

    ``features`` is a ``datasets.Features`` shared by all configs, or a mapping config ->
    Features. The README header declares each config's data files.
    """
    from datasets import Dataset, Features
    from datasets.utils.logging import disable_progress_bar

    disable_progress_bar()  # demo sets are tiny; the bars are noise
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    header = ["---", "configs:"]
    for config, splits in configs.items():
        feats = features if isinstance(features, Features) else features[config]
        header.append(f"- config_name: {config}")
        header.append("  data_files:")
        for split, rows in splits.items():
            shard = folder / config / f"{split}-00000-of-00001.parquet"
            shard.parent.mkdir(parents=True, exist_ok=True)
            Dataset.from_list(list(rows), features=feats).to_parquet(str(shard))
            header.append(f"  - split: {split}")
            header.append(f"    path: {config}/{split}-*")
    header += ["---", "", f"# {folder.name} (synthetic demo data written by unit-harness)", ""]
    (folder / "README.md").write_text("\n".join(header), encoding="utf-8")
    return folder


def build_once(target: Path, build: Callable[[Path], None]) -> Path:
    """Run ``build(tmp)`` into a temporary sibling folder and rename it to ``target``.

    Idempotent (an existing target is reused) and safe against concurrent builders and
    crashes: a half-written folder is never visible under ``target``.
    """
    target = Path(target)
    if (target / ".complete").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        build(tmp)
        (tmp / ".complete").write_text("ok\n")
        try:
            os.rename(tmp, target)
        except OSError:  # another process won the race, or a stale incomplete target exists
            if not (target / ".complete").exists():
                shutil.rmtree(target, ignore_errors=True)
                os.rename(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target

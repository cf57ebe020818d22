"""The LLaVA-style MLLM: encoder -> (UNIT: LayerNorm) -> projector -> image embeddings spliced into
a causal LM.

Two stages, so the engine can preprocess in DataLoader workers::

    prep = mllm.preprocessor(request)          # CPU only: images, prompt, token ids
    texts = mllm.generate_prepared([prep, ...])

``generate(requests)`` chains both, batching by ``batch_size``. With ``share_images`` (the
default) each distinct image is encoded once (features kept in a :class:`FeatureCache` by content
hash) and the questions about one image decode from one prefill of their common prefix
(:mod:`harness.models.sharing`); ``share_images = False`` runs every question on its own.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch

from harness.config import per_encoder
from harness.device import DeviceSpec
from harness.errors import HarnessError, SampleError
from harness.fingerprint import dir_fingerprint
from harness.models import anyres, kvcache
from harness.models import checkpoints as ck
from harness.models.base import Model
from harness.models.featcache import FEATURES_VERSION, FeatureCache, Namespace
from harness.models.formats import Parts, load_composed, load_hf, load_llava
from harness.models.generation import CausalLM, Clock, RowSpec, cut_at_stop, greedy, left_pad
from harness.models.imageproc import ImagePipeline
from harness.models.prepare import IMAGE_SLOT, Prepared, Preprocessor
from harness.models.sharing import Groups, PrefixSharer
from harness.models.templates import resolve_template
from harness.types import Request

log = logging.getLogger(__name__)
TIMING_KEYS = (
    "preprocess",
    "encode",
    "prefill",
    "decode",
    "prefill_tokens",
    "generated_tokens",
    "images",
    "images_encoded",
    "prefixes_computed",
    "shared_prefix_rows",
)
MEMO_IMAGES = 8  # processed images each preprocessor remembers while sharing


class MLLM(Model):
    name = "mllm"
    can_share_images = True
    device: DeviceSpec
    preprocessor: Preprocessor

    def __init__(
        self,
        parts: Parts,
        device: DeviceSpec,
        template: Any = "vicuna_v1",
        batch_size: int = 16,
        cpu_threads: int | None = None,
        features: FeatureCache | None = None,
        share_images: bool = True,
    ):
        super().__init__()
        self.parts, self.device = parts, device
        self.batch_size: int = int(batch_size)
        self.cpu_threads = cpu_threads if device.type == "cpu" else None
        self.profile = False
        self.timings: dict[str, float] = dict.fromkeys(TIMING_KEYS, 0.0)
        dev = device.torch_device
        self.encoder = parts.encoder.to(dev).eval()
        self.projector = parts.projector.to(dev, device.dtype).eval()
        self.newline = parts.newline.to(dev, device.dtype) if parts.newline is not None else None
        parts.llm.to(dev)
        self.lm = CausalLM(parts.llm)
        self.tokenizer = parts.tokenizer
        self.template = resolve_template(template, self.tokenizer)
        self.preprocessor = Preprocessor(
            self.tokenizer,
            self.template,
            ImagePipeline(parts.processing, parts.aspect, parts.pinpoints),
            parts.image_token_id,
        )
        self.eos = ck.eos_ids(self.tokenizer, parts.llm, self.template.stop)
        self.features = features if features is not None else FeatureCache()
        self.sharer = PrefixSharer(self.lm)
        self._prints: dict[str, str] | None = None
        self._namespace: tuple[tuple[object, ...], Namespace] | None = None
        self.share_images = share_images
        log.info("MLLM ready: %s", self.describe())

    @property
    def share_images(self) -> bool:
        return self._share

    @share_images.setter
    def share_images(self, on: bool) -> None:
        """Turn image sharing on or off (before the engine starts its workers: the memo travels with
        the preprocessor)."""
        self._share = bool(on)
        self.preprocessor.memo = MEMO_IMAGES if self._share else 0
        self.sharer.carry = None

    # ---- images -------------------------------------------------------------------------
    @torch.no_grad()
    def encode_images(
        self, pixel_values: Sequence[torch.Tensor], image_sizes: Sequence[tuple[int, int]]
    ) -> list[torch.Tensor]:
        """Per image (crops, 3, H, W) -> its projected embeddings (tokens, D); crops share batched
        encoder calls."""
        t0 = time.perf_counter()
        dev = self.device.torch_device
        self.timings["images_encoded"] = self.timings.get("images_encoded", 0) + len(pixel_values)
        crops = [c for pv in pixel_values for c in pv]
        by_shape: dict[tuple[int, ...], list[int]] = {}
        for i, c in enumerate(crops):
            by_shape.setdefault(tuple(c.shape), []).append(i)
        feats: list[torch.Tensor | None] = [None] * len(crops)
        with self.device.autocast():
            for idx in by_shape.values():
                x = torch.stack([crops[i] for i in idx]).to(dev, non_blocking=True)
                out = self.projector(self.encoder(x).to(self.device.dtype))
                for j, i in enumerate(idx):
                    feats[i] = out[j]
        result, k = [], 0
        for pv, size in zip(pixel_values, image_sizes):
            f = torch.stack(feats[k : k + pv.shape[0]])  # type: ignore[arg-type]
            k += pv.shape[0]
            if self.parts.aspect == "anyres":
                f = anyres.pack(
                    f,
                    size,
                    self.parts.pinpoints,
                    self.parts.processing.square_side(),
                    self.parts.merge,
                    self.newline,
                )
            else:
                f = f.flatten(0, 1)
            result.append(f)
        self._tick("encode", t0)
        return result

    def image_features(
        self, batch: Sequence[Prepared], hints: Sequence[Prepared] | None = None
    ) -> list[list[torch.Tensor]]:
        """Per row, per image: its projected features. Sharing: each distinct image once, from the
        cache when there; kept in memory for later batches only when the rows of ``hints``
        (default ``batch``: the whole batch, when ``batch`` holds only some of its rows) say it
        is asked about again (see :meth:`reuse_after`)."""
        if not self.share_images or any(len(p.image_hashes) != len(p.pixel_values) for p in batch):
            feats = (
                self.encode_images(
                    [pv for p in batch for pv in p.pixel_values],
                    [s for p in batch for s in p.image_sizes],
                )
                if any(p.pixel_values for p in batch)
                else []
            )
            it = iter(feats)
            return [[next(it) for _ in p.pixel_values] for p in batch]
        ns, dev = self.feature_namespace(), self.device.torch_device
        later = reuse_after(batch if hints is None else hints)
        found: dict[str, torch.Tensor] = {}
        todo: dict[str, tuple[torch.Tensor, tuple[int, int]]] = {}
        for p in batch:
            for h, pv, size in zip(p.image_hashes, p.pixel_values, p.image_sizes):
                if h not in found and h not in todo:
                    hit = self.features.get(ns, h, dev, keep=later.get(h) is not False)
                    if hit is None:
                        todo[h] = (pv, size)
                    else:
                        found[h] = hit
        if todo:
            for h, f in zip(
                todo,
                self.encode_images([v[0] for v in todo.values()], [v[1] for v in todo.values()]),
            ):
                found[h] = f
                self.features.put(ns, h, f, keep=later.get(h) is not False)
        return [[found[h] for h in p.image_hashes] for p in batch]

    def release_features(self, batch: Sequence[Prepared]) -> None:
        """After a batch: free the cached features of every image it used for the last time
        (also those it did not look up: a group served from the sharer's carried prefix)."""
        if not self.share_images:
            return
        ns = None
        for h, again in reuse_after(batch).items():
            if again is False:
                ns = ns or self.feature_namespace()
                self.features.release(ns, h)

    def start_cold(self) -> None:
        """Drop every cached image feature (memory) and the sharer's carried prefix."""
        self.features.clear()
        self.sharer.carry = None

    def counters(self) -> dict[str, Any]:
        """The model's counters since it was built: its ``timings`` (images, images_encoded,
        prefill/generated tokens, preprocess/encode/prefill/decode seconds, ...) and the feature
        cache's (entries, bytes, max_bytes, hits, misses, evicted, freed_after_last_use,
        disk_hits, disk_writes, peak_bytes)."""
        out: dict[str, Any] = {k: self.timings.get(k, 0.0) for k in TIMING_KEYS}
        out.update((k, v) for k, v in self.timings.items() if k not in out)
        for k in ("images", "images_encoded", "prefill_tokens", "generated_tokens"):
            out[k] = int(out.get(k) or 0)
        out["feature_cache"] = self.features.counters()
        return out

    def feature_namespace(self) -> Namespace:
        """What image features depend on besides the pixels (the feature cache's namespace); rebuilt
        whenever the image pipeline, encoder, projector, merge or device changes."""
        signature = (
            self.preprocessor.images,
            id(self.encoder),
            id(self.projector),
            self.parts.merge,
            self.newline is not None,
            self.device,
        )
        if self._namespace is None or self._namespace[0] != signature:
            self._namespace = (signature, self._namespace_spec())
        return self._namespace[1]

    def _namespace_spec(self) -> Namespace:
        pre = {
            k: v
            for k, v in self.preprocessor.describe().items()
            if k not in ("template", "image_tokenisation")
        }
        return Namespace(
            {
                "version": FEATURES_VERSION,
                "checkpoints": self._checkpoint_prints(),
                "format": self.parts.format,
                "encoder": self.encoder.describe(),
                "settings": self.parts.settings,
                "preprocessing": pre,
                "merge": self.parts.merge,
                "newline": self.newline is not None,
                "dtype": self.device.dtype_name,
                "device": self.device.type,
            }
        )

    def embed_prompt(self, prep: Prepared, images: Sequence[torch.Tensor]) -> torch.Tensor:
        """Token embeddings of ``prep.input_ids`` with each image slot replaced by that image's
        embeddings."""
        return self.embed_ids(prep.input_ids, images)

    def embed_ids(self, input_ids: Sequence[int], images: Sequence[torch.Tensor]) -> torch.Tensor:
        ids = torch.tensor(list(input_ids), device=self.device.torch_device)
        slots = (ids == IMAGE_SLOT).nonzero().flatten().tolist()
        text = self.lm.embed(ids.clamp(min=0))
        pieces, start = [], 0
        for slot, img in zip(slots, images):
            pieces += [text[start:slot], img.to(text.dtype)]
            start = slot + 1
        pieces.append(text[start:])
        return torch.cat(pieces, dim=0)

    # ---- generation ---------------------------------------------------------------------
    @torch.no_grad()
    def prompt_embeddings(self, batch: Sequence[Prepared]) -> list[torch.Tensor]:
        return [self.embed_prompt(p, f) for p, f in zip(batch, self.image_features(batch))]

    @torch.no_grad()
    def generate_ids(self, batch: Sequence[Prepared]) -> list[list[int]]:
        """Greedy token ids for prepared requests without errors (EOS excluded)."""
        with self.device.autocast(), cpu_threads(self.cpu_threads):
            self.timings["images"] = self.timings.get("images", 0) + sum(
                len(p.pixel_values) for p in batch
            )
            specs = [RowSpec(p.gen.max_new_tokens, p.stop) for p in batch]
            clock = Clock(self.timings, self.device.synchronize if self.profile else None)
            groups = self.sharer.plan(batch) if self.share_images else None
            if groups is not None:
                try:
                    ids = self._generate_shared(batch, groups, specs, clock)
                except kvcache.Unsupported as exc:
                    self.sharer.refused(exc)
                else:
                    self.release_features(batch)
                    return ids
            ids = self._generate_each(batch, specs, clock)
            self.release_features(batch)
            return ids

    def _generate_each(
        self, batch: Sequence[Prepared], specs: list[RowSpec], clock: Clock
    ) -> list[list[int]]:
        feats = self.image_features(batch)
        rows = [self.embed_prompt(p, f) for p, f in zip(batch, feats)]
        hook = None
        if self.share_images:
            if may_recur(batch[-1]):  # the next batch may start with this prefix: keep it
                hook = self.sharer.keeper(batch[-1], feats[-1], len(batch) - 1)
            else:  # the plan says its image is not asked about again: copy nothing
                self.sharer.carry = None
        return greedy(
            self.lm,
            rows,
            specs,
            self.eos,
            self._decode_raw,
            self.timings,
            clock.sync,
            on_prefill=hook,
        )

    def _generate_shared(
        self, batch: Sequence[Prepared], groups: Groups, specs: list[RowSpec], clock: Clock
    ) -> list[list[int]]:
        fresh = [g for g, key in enumerate(groups.keys) if not self.sharer.carried(key)]
        reps = [batch[groups.first[g]] for g in fresh]
        prefixes = {
            g: self.embed_ids(rep.input_ids[: groups.lengths[g]], f)
            for g, rep, f in zip(fresh, reps, self.image_features(reps, hints=batch))
        }
        suffixes = [
            self.embed_ids(p.input_ids[groups.lengths[g] :], [])
            for p, g in zip(batch, groups.of_row)
        ]
        return self.sharer.generate(
            groups, prefixes, suffixes, specs, self.eos, self._decode_raw, clock
        )

    def generate_prepared(self, batch: Sequence[Prepared]) -> list[str | SampleError]:
        """Texts for prepared requests (one batch); a prepared request carrying an error yields that
        error."""
        out: list[str | SampleError] = [p.error for p in batch]  # type: ignore[misc]
        self.timings["preprocess"] += sum(p.seconds for p in batch)
        ok = [i for i, p in enumerate(batch) if p.error is None]
        if ok:
            good = [batch[i] for i in ok]
            for i, p, toks in zip(ok, good, self.generate_ids(good)):
                out[i] = cut_at_stop(
                    self.tokenizer.decode(toks, skip_special_tokens=True), p.stop
                ).strip()
        return out

    def generate(self, requests: Sequence[Request]) -> list[str | SampleError]:
        out: list[str | SampleError] = []
        for start in range(0, len(requests), self.batch_size):
            out.extend(
                self.generate_prepared(
                    [self.preprocessor(r) for r in requests[start : start + self.batch_size]]
                )
            )
        return out

    @torch.no_grad()
    def prompt_logits(self, batch: Sequence[Prepared]) -> list[torch.Tensor]:
        """Logits at every prompt position of each prepared request (left-padded batch, pads
        removed)."""
        with self.device.autocast():
            rows = self.prompt_embeddings(batch)
            embeds, mask = left_pad(rows)
            logits = self.lm.full_logits(embeds, mask)
        return [logits[i, mask.shape[1] - r.shape[0] :] for i, r in enumerate(rows)]

    def decode_module(self) -> torch.nn.Module:
        return self.lm.model

    def _decode_raw(self, ids: list[int]) -> str:
        return str(self.tokenizer.decode(ids, skip_special_tokens=False))

    def _tick(self, key: str, t0: float) -> None:
        if self.profile:
            self.device.synchronize()
        self.timings[key] = self.timings.get(key, 0.0) + time.perf_counter() - t0

    # ---- identity -----------------------------------------------------------------------
    def _checkpoint_prints(self) -> dict[str, str]:
        """Fingerprints of the checkpoint paths (each folder hashed once per model)."""
        if self._prints is None:
            prints: dict[str, str] = {}
            seen: dict[str, str] = {}
            for key, path in sorted(self.parts.paths.items()):
                if Path(path).exists():
                    seen.setdefault(path, dir_fingerprint(path))
                    prints[key] = seen[path]
            self._prints = prints
        return dict(self._prints)

    def fingerprint(self) -> dict[str, Any]:
        return {
            "model": self.name,
            "format": self.parts.format,
            "checkpoints": self._checkpoint_prints(),
            "template": self.template.name,
            "template_text": [self.template.prefix, self.template.suffix],
            "image_aspect_ratio": self.parts.aspect,
            "dtype": self.device.dtype_name,
        }

    def describe(self) -> dict[str, Any]:
        def count(m: torch.nn.Module) -> int:
            return sum(p.numel() for p in m.parameters())

        return {
            "model": self.name,
            "format": self.parts.format,
            "paths": dict(self.parts.paths),
            "device": str(self.device.torch_device),
            "dtype": self.device.dtype_name,
            "encoder": self.encoder.describe(),
            "projector_parameters": count(self.projector),
            "llm": type(self.parts.llm).__name__,
            "llm_parameters": count(self.parts.llm),
            "preprocessing": self.preprocessor.describe(),
            "merge": self.parts.merge,
            "settings": self.parts.settings,
            "batch_size": self.batch_size,
            "cpu_threads": self.cpu_threads,  # None: torch's own setting
            "share_images": self.share_images,
            "feature_cache": {
                "max_bytes": self.features.max_bytes,
                "dir": str(self.features.disk_dir) if self.features.disk_dir else None,
            },
        }


def may_recur(prep: Prepared) -> bool:
    """Whether a later row may share ``prep``'s prompt prefix: False when the engine's plan says
    one of its images is not asked about again (``Prepared.image_reuse``), else True (no hint:
    a direct ``generate`` call keeps the prefix as before).

    >>> may_recur(Prepared("a", image_hashes=["x"], image_reuse=(False,)))
    False
    >>> may_recur(Prepared("b", image_hashes=["x"], image_reuse=(True,))), may_recur(Prepared("c"))
    (True, True)
    """
    return False not in reuse_after([prep]).values()


def reuse_after(batch: Sequence[Prepared]) -> dict[str, bool | None]:
    """Per image hash in ``batch``: whether a later batch asks about it, as its last row in the
    batch says (``Prepared.image_reuse``); None where a row does not say (a direct ``generate``).

    >>> a = Prepared("a", image_hashes=["x", "y"], image_reuse=(True, False))
    >>> reuse_after([a, Prepared("b", image_hashes=["x"], image_reuse=(False,))])
    {'x': False, 'y': False}
    >>> reuse_after([Prepared("c", image_hashes=["x"])])
    {'x': None}
    """
    out: dict[str, bool | None] = {}
    for p in batch:
        hints = p.image_reuse if p.image_reuse is not None else ()
        known = len(hints) == len(p.image_hashes)
        for j, h in enumerate(p.image_hashes):
            out[h] = bool(hints[j]) if known else None
    return out


@contextlib.contextmanager
def cpu_threads(n: int | None) -> Iterator[None]:
    """Run with ``n`` intra-op CPU threads (tiny models are fastest on one: no thread hand-offs)."""
    if not n:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def load_mllm(model_cfg: dict[str, Any], encoder_cfg: dict[str, Any], device: DeviceSpec) -> MLLM:
    """Build the MLLM named by the config. A demo encoder's checkpoint is built by the caller
    (the runner: :func:`harness.demo.models.ensure_demo_checkpoint`) and given as ``checkpoint``."""
    model_cfg, encoder_cfg = dict(model_cfg or {}), dict(encoder_cfg or {})
    name = str(encoder_cfg.get("name", ""))
    for key in ("checkpoint", "llm", "projector"):  # grids: one MLLM per encoder
        model_cfg[key] = per_encoder(model_cfg.get(key), name)
    dtype, where = device.dtype, device.torch_device
    if encoder_cfg.get("demo") and not model_cfg.get("checkpoint"):
        raise HarnessError(
            f"encoder {name} is a demo encoder: give model.checkpoint its built "
            "folder (harness.demo.models.demo_cfg)"
        )
    if model_cfg.get("checkpoint"):
        folder = ck.require_path(
            model_cfg["checkpoint"],
            "MLLM checkpoint",
            "model.checkpoint",
            download=bool(model_cfg.get("download")),
        )
        fmt = ck.detect_format(folder)
        parts = (
            load_llava(folder, model_cfg, encoder_cfg, dtype, where)
            if fmt == "llava"
            else load_hf(folder, fmt, model_cfg, dtype, where, encoder_cfg)
        )
    elif model_cfg.get("llm") and model_cfg.get("projector"):
        parts = load_composed(model_cfg, encoder_cfg, dtype, where)
    else:
        raise HarnessError(
            "model=mllm needs model.checkpoint (an MLLM folder), or model.llm and model.projector "
            "(composed with encoder.path)"
        )
    threads = model_cfg.get("cpu_threads") or (1 if encoder_cfg.get("demo") else None)
    limit = model_cfg.get("feature_cache_bytes")
    features = FeatureCache(
        1 << 30 if limit is None else int(limit), model_cfg.get("feature_cache_dir")
    )
    return MLLM(
        parts,
        device,
        model_cfg.get("template") or "vicuna_v1",
        int(model_cfg.get("batch_size") or 16),
        threads,
        features,
    )

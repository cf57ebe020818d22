"""HF Llava/LlavaNext folders as transformers 4.x and 5.x write them load, with AutoProcessor's
pixels.

transformers 5 ``save_pretrained`` writes ``processor_config.json`` (the image processor nested
in it) and no ``preprocessor_config.json``; 4.x wrote ``preprocessor_config.json``. Weight names:
4.x before 4.52 ``language_model.model.*`` / ``language_model.lm_head.*`` /
``vision_tower.vision_model.*`` / ``multi_modal_projector.*``; 4.52 to 4.57
``model.language_model.*``, ``model.vision_tower.vision_model.*``, ``lm_head.*``; a folder
saved by the installed transformers 5 is checked as saved. The other layouts are written by hand.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from harness.models.imageproc import ImagePipeline, ImageProcessing
from harness.models.mllm import load_mllm
from harness.types import ImageRef, Request
from tests.models.conftest import IMAGE_TOKEN_ID, TEXT, VISION, tok_files
from tests.models.test_pixels import CLIP_336, PINS_WH, SIGLIP_384, SIZES, photo

CLIP_ENC = {"name": "clip_l", "arch": "clip", "select_layer": -2, "select_feature": "patch"}
CLIP_56 = {**CLIP_336, "size": {"shortest_edge": 56}, "crop_size": {"height": 56, "width": 56}}
PINS_HW_56 = [[56, 112], [112, 112]]


def _rename(key: str, layout: str) -> str:
    """A transformers-5-saved key in another version's layout."""
    if layout == "v4":  # before 4.52
        return re.sub(r"^vision_tower\.(?!vision_model\.)", "vision_tower.vision_model.", key)
    key = re.sub(r"^language_model\.lm_head", "lm_head", key)
    key = re.sub(r"^language_model\.model\.", "model.language_model.", key)
    key = re.sub(r"^vision_tower\.(?!vision_model\.)", "model.vision_tower.vision_model.", key)
    return re.sub(r"^(multi_modal_projector|image_newline)", r"model.\1", key)


def _processor(kind: str, size: dict, tok):
    from transformers import (
        CLIPImageProcessor,
        LlavaNextImageProcessor,
        LlavaNextProcessor,
        LlavaProcessor,
    )

    if kind == "next":
        ip = LlavaNextImageProcessor(**size, image_grid_pinpoints=PINS_HW_56)
        return LlavaNextProcessor(
            image_processor=ip,
            tokenizer=tok,
            patch_size=14,
            vision_feature_select_strategy="default",
        )
    return LlavaProcessor(image_processor=CLIPImageProcessor(**size), tokenizer=tok, patch_size=14)


@pytest.fixture(scope="module")
def saved(tmp_path_factory, tok_dir) -> dict[str, tuple[Path, torch.nn.Module]]:
    """kind -> (folder saved by the installed transformers, the model it holds)."""
    from transformers import (
        AutoTokenizer,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaNextConfig,
        LlavaNextForConditionalGeneration,
    )

    tok = AutoTokenizer.from_pretrained(str(tok_dir))
    out = {}
    for kind, cls, cfg_cls, extra in (
        ("llava", LlavaForConditionalGeneration, LlavaConfig, {}),
        (
            "next",
            LlavaNextForConditionalGeneration,
            LlavaNextConfig,
            {"image_grid_pinpoints": PINS_HW_56},
        ),
    ):
        torch.manual_seed(5)
        cfg = cfg_cls(
            vision_config=CLIPVisionConfig(**VISION).to_dict(),
            text_config=LlamaConfig(vocab_size=420, **TEXT).to_dict(),
            image_token_index=IMAGE_TOKEN_ID,
            vision_feature_layer=-2,
            vision_feature_select_strategy="default",
            **extra,
        )
        model = cls(cfg).eval()
        folder = tmp_path_factory.mktemp(f"saved_{kind}")
        model.save_pretrained(str(folder))
        _processor(kind, CLIP_56, tok).save_pretrained(str(folder))
        out[kind] = (folder, model)
    return out


def _hand_written(src: Path, dst: Path, layout: str) -> Path:
    """``src`` re-written in a 4.x layout: renamed weight keys, preprocessor_config.json."""
    from safetensors.torch import load_file, save_file

    dst.mkdir(parents=True, exist_ok=True)
    for f in tok_files(src):
        shutil.copy(f, dst / f.name)
    shutil.copy(src / "config.json", dst / "config.json")
    weights = load_file(str(src / "model.safetensors"))
    renamed = {_rename(k, layout): v.contiguous() for k, v in weights.items()}
    save_file(renamed, str(dst / "model.safetensors"))
    proc = json.loads((src / "processor_config.json").read_text())
    image = dict(proc.pop("image_processor"), processor_class=proc["processor_class"])
    (dst / "preprocessor_config.json").write_text(json.dumps(image))
    return dst


def _check_loaded(folder: Path, model: torch.nn.Module, cpu, cache_dir) -> None:
    """All weights as saved, and each request's pixels equal to AutoProcessor's."""
    from transformers import AutoProcessor

    mllm = load_mllm({"checkpoint": str(folder)}, CLIP_ENC, cpu)
    theirs = model.state_dict()
    ours = mllm.parts.llm.state_dict()
    assert set(ours) == set(theirs) and all(torch.equal(ours[k], theirs[k]) for k in theirs)
    ref = AutoProcessor.from_pretrained(str(folder)).image_processor
    for i, (w, h) in enumerate(list(SIZES.values())[1:]):
        img = photo(w, h, i)
        prep = mllm.preprocessor(Request(id=str(i), prompt="What?", images=[ImageRef(image=img)]))
        expected = ref(images=img, return_tensors="pt")["pixel_values"]
        expected = expected[0] if expected.ndim == 5 else expected
        assert torch.equal(prep.pixel_values[0], expected), (folder.name, (w, h))


@pytest.mark.parametrize("kind", ["llava", "next"])
@pytest.mark.parametrize("layout", ["saved", "v4", "v4.52"])
def test_hf_folder_layouts_load(kind, layout, saved, tmp_path, cpu, cache_dir):
    folder, model = saved[kind]
    if layout == "saved":  # transformers 5: processor_config.json only
        assert (folder / "processor_config.json").is_file()
        assert not (folder / "preprocessor_config.json").exists()
    else:
        folder = _hand_written(folder, tmp_path / layout, layout)
    _check_loaded(folder, model, cpu, cache_dir)


# ---- the processors alone, at their real sizes ---------------------------------------------------
def _write_processor(folder: Path, kind: str, tok_dir: Path) -> Path:
    """A processor folder as transformers 5 saves it, or a hand-written 4.x preprocessor_config."""
    from transformers import AutoTokenizer

    folder.mkdir()
    tok = AutoTokenizer.from_pretrained(str(tok_dir))
    if kind == "v5_clip":
        _processor("llava", CLIP_336, tok).save_pretrained(str(folder))
        return folder
    for f in tok_files(tok_dir):
        shutil.copy(f, folder / f.name)
    cfg = {
        "v4_llava_pad": {**CLIP_336, "image_processor_type": "LlavaImageProcessor", "do_pad": True},
        "v4_siglip": {**SIGLIP_384, "image_processor_type": "SiglipImageProcessor"},
        "v4_next": {
            **CLIP_336,
            "image_processor_type": "LlavaNextImageProcessor",
            "image_grid_pinpoints": [[h, w] for w, h in PINS_WH],
        },
    }[kind]
    proc_class = "LlavaNextProcessor" if kind == "v4_next" else "LlavaProcessor"
    cfg = {**cfg, "processor_class": proc_class}
    (folder / "preprocessor_config.json").write_text(json.dumps(cfg))
    return folder


@pytest.mark.parametrize(
    "kind,aspect",
    [("v5_clip", "crop"), ("v4_llava_pad", "pad"), ("v4_siglip", "crop"), ("v4_next", "anyres")],
)
def test_hf_pixels_equal_autoprocessor(kind, aspect, tmp_path, tok_dir):
    from transformers import AutoProcessor

    folder = _write_processor(tmp_path / kind, kind, tok_dir)
    ref = AutoProcessor.from_pretrained(str(folder)).image_processor
    pins = tuple(PINS_WH) if aspect == "anyres" else ()
    ours = ImagePipeline(ImageProcessing.from_folder(folder, backend="transformers"), aspect, pins)
    pil = ImagePipeline(ImageProcessing.from_folder(folder), aspect, pins)
    differs = 0
    for i, (w, h) in enumerate(SIZES.values()):
        img = photo(w, h, i)
        theirs = ref(images=img, return_tensors="pt")["pixel_values"]
        theirs = (theirs[0] if theirs.ndim == 5 else theirs).numpy()
        mine = ours(img)
        assert mine.shape == theirs.shape and np.array_equal(mine, theirs), (kind, (w, h))
        differs += not np.array_equal(pil(img), theirs)
    assert differs, (
        "the PIL steps should miss the torchvision processor somewhere (else this "
        "test proves nothing)"
    )


def test_reference_processor_is_batch_invariant(tmp_path, tok_dir):
    """The worker calls the processor one image at a time; a batch of same-sized images (grouped and
    resized together by transformers) gives the same pixels, so batch size never changes them."""
    folder = _write_processor(tmp_path / "p", "v4_llava_pad", tok_dir)
    proc = ImageProcessing.from_folder(folder, backend="transformers")
    imgs = [photo(640, 480, s) for s in (7, 8, 9)]
    batch = proc.reference(images=imgs, return_tensors="pt", do_pad=False)["pixel_values"].numpy()
    assert all(np.array_equal(batch[i], proc(img)) for i, img in enumerate(imgs))


@pytest.mark.parametrize("layout", ["saved", "v4", "v4.52"])
def test_layouts_load_where_transformers_does_not_rename(
    layout, saved, tmp_path, monkeypatch, cpu, cache_dir
):
    """With a transformers that knows only its own names (e.g. 4.x reading a 5.x folder, where the
    tower lost its ``vision_model.`` level), load_hf matches the names itself."""
    import transformers

    folder, model = saved["next"]
    if layout != "saved":
        folder = _hand_written(folder, tmp_path / layout, layout)
    cls = transformers.LlavaNextForConditionalGeneration

    def knows_no_names(path, **kwargs):
        torch.manual_seed(0)
        fresh = cls(transformers.AutoConfig.from_pretrained(path)).eval()  # random weights
        info = {
            "missing_keys": list(fresh.state_dict()),
            "unexpected_keys": [],
            "mismatched_keys": [],
        }
        return fresh, info

    monkeypatch.setattr(cls, "from_pretrained", staticmethod(knows_no_names))
    _check_loaded(folder, model, cpu, cache_dir)


def test_missing_weights_are_still_an_error(saved, tmp_path, cpu, cache_dir):
    from safetensors.torch import load_file, save_file

    from harness.errors import HarnessError

    folder = _hand_written(saved["llava"][0], tmp_path / "v4", "v4")
    weights = load_file(str(folder / "model.safetensors"))
    kept = {k: v for k, v in weights.items() if "layers.1." not in k}
    save_file(kept, str(folder / "model.safetensors"))
    with pytest.raises(HarnessError, match=r"v4: .*missing for \d+ keys .*layers\.1\..*init"):
        load_mllm({"checkpoint": str(folder)}, CLIP_ENC, cpu)


def test_preprocessor_with_the_reference_travels_to_workers(saved, cpu, cache_dir):
    """The preprocessor (with the folder's transformers processor) pickles, as data-loader workers
    need, and gives the same pixels there; the memo keys on the pipeline's settings."""
    import pickle

    mllm = load_mllm({"checkpoint": str(saved["next"][0])}, CLIP_ENC, cpu)
    mllm.share_images = True  # the memo on
    req = Request(id="0", prompt="What?", images=[ImageRef(image=photo(300, 120, 3))])
    here = mllm.preprocessor(req).pixel_values[0]
    there = pickle.loads(pickle.dumps(mllm.preprocessor))
    assert there.images == mllm.preprocessor.images
    assert hash(there.images) == hash(mllm.preprocessor.images)
    moved = there(req).pixel_values[0]
    assert torch.equal(moved, here) and moved.shape[0] == 3
    assert mllm.preprocessor.describe()["processing"]["backend"] == "transformers"

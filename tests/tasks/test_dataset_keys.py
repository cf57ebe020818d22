"""Every dataset key of every task is honoured (path, name, split, format and the tasks' own keys),
in the hub layout and the original release layout; a key a layout does not read, or a key no
task reads, is a one-line error naming it."""

from __future__ import annotations

import json

import pytest
from _key_layouts import ORIGINAL, dump, task_config, write_hub

from harness.errors import HarnessError
from harness.tasks import get_task_class
from harness.tasks.base import dataset_defaults

TASKS = list(ORIGINAL)
EXTRA_KEYS = {
    "gqa": ("images_name", "annotations", "image_dir"),
    "okvqa": ("questions", "annotations", "image_dir"),
    "docvqa": ("annotations",),
    "infovqa": ("annotations",),
    "ocrbench": ("annotations",),
    "pope": ("image_dir",),
    "seed": ("annotations", "image_dir"),
}
ORIGINAL_SPLITS = {
    "gqa": ("testdev", "val"),
    "okvqa": ("val2014", "train2014"),
    "chartqa": ("test", "val"),
    "docvqa": ("validation", "test"),
    "infovqa": ("validation", "test"),
    "mathvista": ("testmini", "test"),
}
FILE_SPLIT = {"validation": "val"}  # DocVQA/InfoVQA release files say val


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    return tmp_path_factory.mktemp("demo-tables")


def docs(task: str, /, **dataset) -> list[dict]:
    return list(get_task_class(task)(task_config(task, **dataset)).docs())


def tags(loaded: list[dict]) -> set[str]:
    return {str(d["question"]).split()[0] for d in loaded}


def hub_default(name: str) -> tuple[str, str]:
    ds = dataset_defaults(name)
    return ds.get("name") or "default", ds["split"]


def test_every_task_declares_the_keys_it_reads():
    for name in TASKS:
        keys = get_task_class(name).dataset_keys
        assert {"path", "name", "split", "format"} <= set(keys), name
        assert set(EXTRA_KEYS.get(name, ())) <= set(keys), name
        extra = set(keys) - {"path", "name", "split", "format", "expected_size", "demo"}
        assert extra == set(EXTRA_KEYS.get(name, ())), name
        assert set(dataset_defaults(name)) <= set(keys), name  # every YAML key is read


@pytest.mark.parametrize("name", TASKS)
def test_hub_path(name, tmp_path, scratch):
    config, split = hub_default(name)
    for tag, n in (("A", 3), ("B", 4)):
        write_hub(name, tmp_path / tag, scratch, {(config, split): (tag, n)})
    for tag, n in (("B", 4), ("A", 3)):
        loaded = docs(name, path=str(tmp_path / tag))
        assert tags(loaded) == {tag} and len(loaded) == n


@pytest.mark.parametrize("name", TASKS)
def test_hub_name(name, tmp_path, scratch):
    _, split = hub_default(name)
    variants = {("cfgA", split): ("A", 3), ("cfgB", split): ("B", 4)}
    folder = write_hub(name, tmp_path / "hub", scratch, variants)
    for tag, n in (("B", 4), ("A", 3)):
        loaded = docs(name, path=str(folder), name=f"cfg{tag}")
        assert tags(loaded) == {tag} and len(loaded) == n


@pytest.mark.parametrize("name", TASKS)
def test_hub_split(name, tmp_path, scratch):
    config, _ = hub_default(name)
    variants = {(config, "sA"): ("A", 3), (config, "sB"): ("B", 4)}
    folder = write_hub(name, tmp_path / "hub", scratch, variants)
    for tag, n in (("B", 4), ("A", 3)):
        loaded = docs(name, path=str(folder), split=f"s{tag}")
        assert tags(loaded) == {tag} and len(loaded) == n
    if name == "pope":  # POPE's Full config: a list of splits
        assert len(docs(name, path=str(folder), split=["sA", "sB"])) == 7


def test_gqa_images_name(tmp_path, scratch):
    split = dataset_defaults("gqa")["split"]
    folder = write_hub("gqa", tmp_path / "hub", scratch, {("questions", split): ("A", 3)})
    (folder / "testdev_balanced_images").rename(folder / "imgs")
    readme = folder / "README.md"
    readme.write_text(readme.read_text().replace("testdev_balanced_images", "imgs"))
    loaded = docs("gqa", path=str(folder), name="questions", images_name="imgs")
    assert tags(loaded) == {"A"} and not any(d.get("error") for d in loaded)
    with pytest.raises(HarnessError, match="testdev_balanced_images"):  # the YAML's; not here
        docs("gqa", path=str(folder), name="questions")


@pytest.mark.parametrize("name", TASKS)
def test_format_picks_the_layout(name, tmp_path, scratch):
    folder = write_hub(name, tmp_path / "both", scratch, {hub_default(name): ("H", 3)})
    ORIGINAL[name](folder, "O")  # the release's files beside the parquet shards
    assert tags(docs(name, path=str(folder), format="hub")) == {"H"}
    assert tags(docs(name, path=str(folder), format="original")) == {"O"}


@pytest.mark.parametrize("name", list(ORIGINAL_SPLITS))
def test_original_split(name, tmp_path):
    first, second = ORIGINAL_SPLITS[name]
    for tag, split, n in (("A", first, 2), ("B", second, 3)):
        ORIGINAL[name](tmp_path, tag, split=FILE_SPLIT.get(split, split), n=n)
    per_row = 2 if name == "chartqa" else 1  # ChartQA: a human and an augmented file
    for tag, split, n in (("B", second, 3), ("A", first, 2)):
        loaded = docs(name, path=str(tmp_path), format="original", split=split)
        assert tags(loaded) == {tag} and len(loaded) == n * per_row
    with pytest.raises(HarnessError, match="task.dataset.split='nosuch'"):
        docs(name, path=str(tmp_path), format="original", split="nosuch")


def test_pope_original_split_names_release_files(tmp_path):
    ORIGINAL["pope"](tmp_path, "O", n=2)
    assert {d["split"] for d in docs("pope", path=str(tmp_path), format="original")} == {
        "adversarial",
        "popular",
        "random",
    }
    one = docs("pope", path=str(tmp_path), format="original", split="popular")
    assert len(one) == 2 and {d["split"] for d in one} == {"popular"}
    two = docs("pope", path=str(tmp_path), format="original", split=["random", "adversarial"])
    assert [d["split"] for d in two] == ["random"] * 2 + ["adversarial"] * 2
    with pytest.raises(HarnessError, match="task.dataset.split='val'.*POPE release"):
        docs("pope", path=str(tmp_path), format="original", split="val")


@pytest.mark.parametrize("name", ["ocrbench", "mme", "seed"])
def test_original_layout_without_splits_refuses_another_split(name, tmp_path):
    ORIGINAL[name](tmp_path, "O")
    assert tags(docs(name, path=str(tmp_path), format="original", split="test")) == {"O"}
    with pytest.raises(HarnessError, match=r"^task \w+: task.dataset.split='val' is not a split"):
        docs(name, path=str(tmp_path), format="original", split="val")


@pytest.mark.parametrize("name", TASKS)
def test_hub_name_with_original_format_is_an_error(name, tmp_path):
    ORIGINAL[name](tmp_path, "O")
    with pytest.raises(HarnessError, match="task.dataset.name='other' is not used with format"):
        docs(name, path=str(tmp_path), format="original", name="other")


@pytest.mark.parametrize(
    "name, key", [(n, k) for n, keys in EXTRA_KEYS.items() for k in keys if k != "images_name"]
)
def test_original_only_key_with_hub_format_is_an_error(name, key, tmp_path, scratch):
    folder = write_hub(name, tmp_path / "hub", scratch, {hub_default(name): ("H", 2)})
    with pytest.raises(HarnessError, match=rf"task.dataset.{key}='x' is not used with format=hub"):
        docs(name, path=str(folder), **{key: "x"})


@pytest.mark.parametrize("name", ["gqa", "docvqa", "infovqa", "ocrbench", "seed"])
def test_original_annotations(name, tmp_path):
    ORIGINAL[name](tmp_path, "A", n=2)
    ORIGINAL[name](tmp_path, "B", n=3, annotations="mine.json")
    assert tags(docs(name, path=str(tmp_path), format="original")) == {"A"}
    loaded = docs(name, path=str(tmp_path), format="original", annotations="mine.json")
    assert tags(loaded) == {"B"} and len(loaded) == 3


def test_okvqa_questions_annotations_and_image_dir(tmp_path):
    ORIGINAL["okvqa"](tmp_path, "A", n=2)
    question = {"question_id": "B0", "image_id": 0, "question": "B q?"}
    dump(tmp_path / "q.json", {"questions": [question]})
    answers = [{"answer": "mine"}] * 10
    dump(tmp_path / "a.json", {"annotations": [{"question_id": "B0", "answers": answers}]})
    loaded = docs(
        "okvqa", path=str(tmp_path), format="original", questions="q.json", annotations="a.json"
    )
    assert tags(loaded) == {"B"} and loaded[0]["answers"] == ["mine"] * 10
    ORIGINAL["okvqa"](tmp_path, "A", n=2, image_dir="coco")
    loaded = docs("okvqa", path=str(tmp_path), format="original", image_dir="coco")
    assert all("/coco/" in d["images"][0].path for d in loaded)


@pytest.mark.parametrize("name", ["gqa", "pope", "seed"])
def test_original_image_dir(name, tmp_path):
    ORIGINAL[name](tmp_path, "A")
    ORIGINAL[name](tmp_path, "A", image_dir="elsewhere")
    default = docs(name, path=str(tmp_path), format="original")
    assert not any("/elsewhere/" in d["images"][0].path for d in default)
    chosen = docs(name, path=str(tmp_path), format="original", image_dir="elsewhere")
    assert all("/elsewhere/" in d["images"][0].path for d in chosen)


@pytest.mark.parametrize(
    "name, key, hint",
    [
        ("gqa", "spilt", "split"),
        ("docvqa", "pth", "path"),
        ("gqa", "image_name", "images_name"),
        ("pope", "imagedir", "image_dir"),
        ("okvqa", "formt", "format"),
    ],
)
def test_unknown_key_is_a_one_line_error_with_a_did_you_mean(name, key, hint):
    task = get_task_class(name)(task_config(name, **{key: "x"}))
    with pytest.raises(HarnessError) as err:
        task.check_dataset_keys()
    message = str(err.value)
    assert f"task.dataset.{key}" in message and f"did you mean 'task.dataset.{hint}'?" in message
    assert "\n" not in str(err.value)
    with pytest.raises(HarnessError, match=f"task.dataset.{key}"):
        task.docs()  # loading checks too


def test_a_key_of_another_task_is_unknown_but_null_keys_of_a_shared_schema_pass():
    task = get_task_class("docvqa")(task_config("docvqa", images_name="x"))
    with pytest.raises(HarnessError, match="unknown key task.dataset.images_name"):
        task.check_dataset_keys()
    shared = task_config("docvqa", images_name=None, image_dir=None)
    get_task_class("docvqa")(shared).check_dataset_keys()


def test_unset_split_is_named(tmp_path, scratch):
    folder = write_hub("docvqa", tmp_path / "hub", scratch, {hub_default("docvqa"): ("H", 2)})
    with pytest.raises(HarnessError, match="task docvqa: task.dataset.split is not set"):
        docs("docvqa", path=str(folder), split=None)
    assert json.loads(json.dumps(dataset_defaults("docvqa")))["split"] == "validation"

"""The judges: the openai client against a local fake endpoint (127.0.0.1 only), retries with
exponential backoff, the on-disk cache keyed by (model, prompt), the offline chat-model judge,
and the config that picks one."""

import json
import multiprocessing
import subprocess
import sys

import pytest

from harness.errors import HarnessError, SampleError
from harness.metrics.judge import ApiJudge, DiskCache, LocalJudge, judge_from_config

from .judge_server import FakeJudge, build_tiny_chat_model


def api(url, cache_dir, model="judge-model", **kw):
    kw.setdefault("sleep", lambda s: None)
    return ApiJudge(url, model, DiskCache(cache_dir), timeout_s=5, **kw)


def test_request_shape_key_and_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_JUDGE_KEY", "sk-test")
    with FakeJudge(reply=lambda p: "  C \n") as srv:
        j = api(srv.url, tmp_path / "cache", api_key_env="TEST_JUDGE_KEY")
        assert j._client is None  # nothing created before the first question
        assert j.complete("prompt one") == "C"
        assert j.complete("prompt one") == "C"  # from the cache: no second request
        assert len(srv.requests) == 1 and j.requests == 1
        req = srv.requests[0]
        assert req["path"] == "/v1/chat/completions" and req["auth"] == "Bearer sk-test"
        assert req["body"]["model"] == "judge-model" and req["body"]["temperature"] == 0
        assert req["body"]["max_tokens"] == 256
        assert req["body"]["messages"] == [{"role": "user", "content": "prompt one"}]
        # another model or prompt is another cache entry; no key set: a placeholder is sent
        api(
            srv.url, tmp_path / "cache", model="other-model", api_key_env="UNSET_JUDGE_KEY"
        ).complete("prompt one")
        j.complete("prompt two")
        assert len(srv.requests) == 3 and srv.requests[1]["auth"] == "Bearer EMPTY"
    entries = sorted(tmp_path.joinpath("cache").glob("*.json"))
    assert len(entries) == 3
    assert {json.loads(p.read_text())["model"] for p in entries} == {"judge-model", "other-model"}
    # a new client reads the cache with no server at all
    again = api("http://127.0.0.1:9/v1", tmp_path / "cache", retries=0)
    assert again.complete("prompt one") == "C" and again.requests == 0


def test_retries_a_500_then_succeeds_with_exponential_backoff(tmp_path):
    waits = []
    with FakeJudge(reply=lambda p: "14", statuses=[500, 503, 500]) as srv:
        j = api(srv.url, tmp_path, retries=3, backoff_s=0.5, sleep=waits.append)
        assert j.complete("p") == "14"
        assert len(srv.requests) == 4 and j.requests == 4
    assert waits == [0.5, 1.0, 2.0]


def test_failure_after_the_retries_is_a_sample_error_and_not_cached(tmp_path):
    with FakeJudge(status=500) as srv:
        j = api(srv.url, tmp_path, retries=1)
        with pytest.raises(SampleError, match="gave no answer after 2 attempt"):
            j.complete("p")
        assert len(srv.requests) == 2
    assert not list(tmp_path.glob("*.json"))


def _writer(folder, worker):
    cache = DiskCache(folder)
    for i in range(40):
        cache.put("m", f"prompt {i % 5}", f"reply {i % 5}")
        got = cache.get("m", f"prompt {(i + worker) % 5}")
        assert got in (None, f"reply {(i + worker) % 5}")


def test_cache_is_safe_with_two_processes(tmp_path):
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(tmp_path, w)) for w in (0, 1)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    assert [p.exitcode for p in procs] == [0, 0]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        DiskCache(tmp_path).path("m", f"prompt {i}").name for i in range(5)
    )  # no temporary files left
    assert DiskCache(tmp_path).get("m", "prompt 3") == "reply 3"


def test_damaged_or_foreign_cache_entries_are_ignored(tmp_path):
    cache = DiskCache(tmp_path)
    cache.path("m", "p").write_text("{not json")
    assert cache.get("m", "p") is None
    cache.path("m", "q").write_text(json.dumps({"model": "m", "prompt": "other", "reply": "x"}))
    assert cache.get("m", "q") is None


def test_importing_the_module_creates_no_client():
    code = "import sys, harness.metrics.judge, tasks.mathvista; print('openai' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_config_picks_the_judge(tmp_path):
    assert judge_from_config(None, "gpt-3.5-turbo", tmp_path) is None
    assert judge_from_config({"url": None, "model": None}, "gpt-3.5-turbo", tmp_path) is None
    j = judge_from_config({"url": "http://127.0.0.1:9/v1"}, "gpt-3.5-turbo", tmp_path / "c")
    assert isinstance(j, ApiJudge) and j.model == "gpt-3.5-turbo" and j.retries == 4
    assert j.label == "gpt-3.5-turbo @ http://127.0.0.1:9/v1" and j.cache.folder == tmp_path / "c"
    j = judge_from_config(
        {"url": "http://h/v1", "model": "qwen", "cache_dir": str(tmp_path / "x"), "retries": 0},
        "gpt-3.5-turbo",
        tmp_path,
    )
    assert (j.model, j.retries, j.cache.folder) == ("qwen", 0, tmp_path / "x")
    with pytest.raises(HarnessError, match="not a local folder"):
        judge_from_config({"model": str(tmp_path / "missing")}, "gpt-3.5-turbo", tmp_path)
    with pytest.raises(HarnessError, match="choose one"):
        judge_from_config({"model": str(tmp_path), "url": "http://h/v1"}, "gpt-3.5-turbo", tmp_path)
    with pytest.raises(HarnessError, match="task.judge.retries must be an integer >= 0"):
        judge_from_config({"url": "http://h/v1", "retries": -1}, "gpt-3.5-turbo", tmp_path)
    with pytest.raises(HarnessError, match="task.judge.backoff_s"):
        judge_from_config({"url": "http://h/v1", "backoff_s": "soon"}, "gpt-3.5-turbo", tmp_path)


@pytest.fixture(scope="module")
def tiny_chat_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("judge-model")
    build_tiny_chat_model(folder, answer="7")
    return folder


def test_offline_judge_runs_a_local_chat_model_and_caches(tiny_chat_model, tmp_path):
    j = judge_from_config({"model": str(tiny_chat_model)}, "gpt-3.5-turbo", tmp_path / "c")
    assert isinstance(j, LocalJudge) and j._model is None  # loaded on the first question
    assert j.label == f"local {tiny_chat_model.resolve()}"
    assert j.complete("How many?\n\nSeven.\n\nExtracted answer: ") == "7"
    assert j.requests == 1
    again = LocalJudge(tiny_chat_model, DiskCache(tmp_path / "c"))
    assert again.complete("How many?\n\nSeven.\n\nExtracted answer: ") == "7"
    assert again.requests == 0 and again._model is None  # the cache answered


def test_offline_judge_bad_folder_is_one_line(tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "config.json").write_text("{}")
    j = LocalJudge(tmp_path / "m", DiskCache(tmp_path / "c"))
    with pytest.raises(HarnessError, match="cannot load the chat model"):
        j.complete("p")

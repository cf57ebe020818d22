"""The optional judge client against a local fake endpoint (127.0.0.1 only): request shape,
API key header, on-disk cache keyed by model + prompt, failures as SampleError."""
import pytest

from harness.errors import HarnessError, SampleError
from harness.metrics.judge import Judge, extraction_prompt

from .judge_server import FakeJudge


def test_request_shape_key_and_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_JUDGE_KEY", "sk-test")
    with FakeJudge(reply=lambda p: "  C \n") as srv:
        j = Judge(srv.url, "judge-model", tmp_path / "cache", api_key_env="TEST_JUDGE_KEY", timeout_s=5)
        assert j.complete("prompt one") == "C"
        assert j.complete("prompt one") == "C"            # from the cache: no second request
        assert len(srv.requests) == 1
        req = srv.requests[0]
        assert req["path"] == "/v1/chat/completions"
        assert req["auth"] == "Bearer sk-test"
        assert req["body"]["model"] == "judge-model" and req["body"]["temperature"] == 0
        assert req["body"]["messages"] == [{"role": "user", "content": "prompt one"}]
        # another model or prompt is another cache entry
        other = Judge(srv.url, "other-model", tmp_path / "cache", api_key_env=None, timeout_s=5)
        other.complete("prompt one")
        j.complete("prompt two")
        assert len(srv.requests) == 3 and srv.requests[1]["auth"] is None
    assert len(list((tmp_path / "cache").glob("*.json"))) == 3
    # a new client reads the cache without any server
    again = Judge("http://127.0.0.1:9", "judge-model", tmp_path / "cache", timeout_s=1, retries=0)
    assert again.complete("prompt one") == "C" and again.calls == 0


def test_failure_is_a_sample_error(tmp_path):
    with FakeJudge(status=500) as srv:
        j = Judge(srv.url, "m", tmp_path, retries=1, timeout_s=5)
        with pytest.raises(SampleError, match="judge .* failed"):
            j.complete("p")
        assert len(srv.requests) == 2                      # one retry
    assert not list(tmp_path.glob("*.json"))               # failures are not cached


def test_judge_needs_url_and_model(tmp_path):
    with pytest.raises(HarnessError):
        Judge("", "m", tmp_path)


def test_extraction_prompt_ends_with_the_case():
    p = extraction_prompt("How many?", "Five.")
    assert p.endswith("Question: How many?\nReply: Five.\nExtracted answer:")

"""Answer-extraction judges, cached on disk: an OpenAI-compatible endpoint or a local chat model.

Nothing here runs at import time: the ``openai`` client and a local model are created on the
first question a judge is asked. Every reply is cached as one JSON file under the cache folder,
keyed by (model, prompt), so re-scoring saved predictions asks nothing twice; files are written
to a temporary name and renamed, so two processes sharing a cache never read a partial entry.

- :class:`ApiJudge`: ``openai.OpenAI(base_url=url)`` (OpenAI, vLLM, SGLang, Ollama, ...), one
  user message at temperature 0; a failed request is retried ``retries`` times, waiting
  ``backoff_s``, 2×, 4×, ... (at most 60 s) in between.
- :class:`LocalJudge`: a transformers chat model folder (``AutoModelForCausalLM`` and its
  tokenizer's chat template), greedy decoding of the same one-message conversation.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.engine.files import atomic_write_text
from harness.errors import HarnessError, SampleError

if TYPE_CHECKING:  # openai is imported when a judge first asks
    import openai

MAX_BACKOFF_S = 60.0


class DiskCache:
    """Replies keyed by (model, prompt): ``<folder>/<sha256>.json`` holding both and the reply."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)

    def path(self, model: str, prompt: str) -> Path:
        digest = hashlib.sha256(json.dumps([model, prompt]).encode("utf-8")).hexdigest()
        return self.folder / f"{digest}.json"

    def get(self, model: str, prompt: str) -> str | None:
        """The cached reply, or ``None`` (a damaged or foreign entry counts as absent)."""
        try:
            entry = json.loads(self.path(model, prompt).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        ok = isinstance(entry, dict) and entry.get("model") == model
        ok = ok and entry.get("prompt") == prompt
        return entry["reply"] if ok and isinstance(entry.get("reply"), str) else None

    def put(self, model: str, prompt: str, reply: str) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        entry = {"model": model, "prompt": prompt, "reply": reply}
        atomic_write_text(self.path(model, prompt), json.dumps(entry))  # unique temporary, renamed


class Judge:
    """A cached ``prompt -> reply`` model. ``label`` is what the scores record; ``requests``
    counts questions actually sent (cache misses, retries included)."""

    label: str
    cache_model: str  # the model part of the cache key

    def __init__(self, cache: DiskCache):
        self.cache = cache
        self.requests = 0

    def complete(self, prompt: str) -> str:
        """The reply (stripped), from the cache when there; SampleError when none came."""
        cached = self.cache.get(self.cache_model, prompt)
        if cached is not None:
            return cached
        reply = self._ask(prompt)
        self.cache.put(self.cache_model, prompt, reply)
        return reply

    def _ask(self, prompt: str) -> str:
        raise NotImplementedError

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.update({k: None for k in ("_client", "_model", "_tokenizer") if k in state})
        return state


class ApiJudge(Judge):
    def __init__(
        self,
        url: str,
        model: str,
        cache: DiskCache,
        api_key_env: str | None = "OPENAI_API_KEY",
        timeout_s: float = 60.0,
        retries: int = 4,
        backoff_s: float = 1.0,
        max_tokens: int = 256,
        sleep: Callable[[float], None] = time.sleep,
    ):
        super().__init__(cache)
        if not url or not model:
            raise HarnessError("judge: task.judge.url and task.judge.model are both needed")
        self.url, self.model, self.api_key_env = str(url), str(model), api_key_env
        self.timeout_s, self.retries, self.backoff_s = timeout_s, retries, backoff_s
        self.max_tokens, self.sleep = max_tokens, sleep
        self.label = f"{self.model} @ {self.url}"
        self.cache_model = self.model
        self._client: openai.OpenAI | None = None

    def client(self) -> openai.OpenAI:
        if self._client is None:
            import openai

            key = os.environ.get(self.api_key_env) if self.api_key_env else None
            # local servers (vLLM, SGLang, Ollama) take any key; the client insists on one
            self._client = openai.OpenAI(
                base_url=self.url, api_key=key or "EMPTY", timeout=self.timeout_s, max_retries=0
            )
        return self._client

    def _ask(self, prompt: str) -> str:
        import openai

        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                self.sleep(min(self.backoff_s * 2 ** (attempt - 1), MAX_BACKOFF_S))
            self.requests += 1
            try:
                out = self.client().chat.completions.create(
                    model=self.model,
                    messages=[{"role": "user", "content": prompt}],
                    temperature=0,
                    max_tokens=self.max_tokens,
                )
                return str(out.choices[0].message.content or "").strip()
            except (openai.OpenAIError, AttributeError, IndexError, TypeError) as exc:
                last = f"{type(exc).__name__}: {exc}".splitlines()[0]
        raise SampleError(
            f"judge {self.label} gave no answer after {self.retries + 1} attempt(s): {last}"
        )


class LocalJudge(Judge):
    def __init__(
        self, folder: str | Path, cache: DiskCache, max_tokens: int = 256, device: str = "cpu"
    ):
        super().__init__(cache)
        from harness.fingerprint import dir_fingerprint

        self.folder = Path(folder).expanduser().resolve()
        self.max_tokens, self.device = max_tokens, device
        self.label = f"local {self.folder}"
        self.cache_model = f"local:{dir_fingerprint(self.folder)}"  # same weights, same cache
        # transformers' Auto classes pick the model and tokenizer classes at run time
        self._model: Any = None
        self._tokenizer: Any = None

    def _load(self) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        try:
            self._tokenizer = AutoTokenizer.from_pretrained(str(self.folder))
            model = AutoModelForCausalLM.from_pretrained(str(self.folder))
            # transformers wraps PreTrainedModel.to so that its type reads as unbound
            self._model = model.to(self.device).eval()  # type: ignore[arg-type]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise HarnessError(
                f"judge: cannot load the chat model in {self.folder}: {str(exc).splitlines()[0]}"
            ) from exc
        if not getattr(self._tokenizer, "chat_template", None):
            raise HarnessError(f"judge: the tokenizer in {self.folder} has no chat template")

    def _ask(self, prompt: str) -> str:
        import torch

        if self._model is None:
            self._load()
        tok, model = self._tokenizer, self._model
        self.requests += 1
        messages = [{"role": "user", "content": prompt}]
        enc = tok.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        enc = {k: v.to(self.device) for k, v in enc.items()}
        pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        with torch.inference_mode():
            out = model.generate(
                **enc, max_new_tokens=self.max_tokens, do_sample=False, pad_token_id=pad
            )
        text = tok.decode(out[0, enc["input_ids"].shape[1] :], skip_special_tokens=True)
        return str(text).strip()


def _number(
    cfg: Mapping[str, Any], key: str, default: float, kind: type[float] = float, low: float = 0
) -> float:
    value = cfg.get(key)
    if value is None:
        return kind(default)
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or value < low
        or (kind is int and value != int(value))
    ):
        what = "an integer" if kind is int else "a number"
        raise HarnessError(f"task.judge.{key} must be {what} >= {low}, got {value!r}")
    return kind(value)


def _integer(cfg: Mapping[str, Any], key: str, default: int, low: int = 0) -> int:
    return int(_number(cfg, key, default, int, low))


def judge_from_config(
    cfg: Mapping[str, Any] | None, default_model: str, cache_dir: str | Path
) -> Judge | None:
    """The judge a task's ``judge`` config asks for, or ``None`` (no judge: rules only).

    ``model`` naming an existing folder: a :class:`LocalJudge`. Else ``url`` set: an
    :class:`ApiJudge` asking ``model`` (``default_model`` when null). ``cache_dir`` (the task's
    default folder) is replaced by ``cache_dir`` in the config when that is set.
    """
    cfg = dict(cfg or {})
    url, model = cfg.get("url"), cfg.get("model")
    cache = DiskCache(Path(str(cfg.get("cache_dir") or cache_dir)).expanduser())
    max_tokens = _integer(cfg, "max_tokens", 256, 1)
    if model and Path(str(model)).expanduser().is_dir():
        if url:
            raise HarnessError(
                f"task.judge.model={model} is a local folder and task.judge.url="
                f"{url} is set; choose one (url: null for the local model)"
            )
        device = str(cfg.get("device") or "cpu")
        return LocalJudge(str(model), cache, max_tokens=max_tokens, device=device)
    if url:
        return ApiJudge(
            str(url),
            str(model or default_model),
            cache,
            api_key_env=cfg.get("api_key_env"),
            timeout_s=_number(cfg, "timeout_s", 60.0),
            retries=_integer(cfg, "retries", 4),
            backoff_s=_number(cfg, "backoff_s", 1.0),
            max_tokens=max_tokens,
        )
    if model:
        raise HarnessError(
            f"task.judge.model={model} is not a local folder; for a model behind an "
            "OpenAI-compatible server set task.judge.url too"
        )
    return None

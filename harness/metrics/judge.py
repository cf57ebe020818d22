"""An optional answer-extraction judge: any OpenAI-compatible chat endpoint, cached on disk.

Nothing here runs at import time; a :class:`Judge` is built only when a task's config names
a ``judge.url``. Each reply is cached under ``cache_dir`` keyed by the model name and the
SHA-256 of the prompt, so re-scoring saved predictions never calls the endpoint twice.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
import urllib.error
import urllib.request
from pathlib import Path

from harness.errors import HarnessError, SampleError

EXTRACTION_INSTRUCTIONS = """\
You read a model's reply to a maths question about an image and write down only its final answer, \
in the form the hint asks for: an option letter for multiple-choice questions, a number for \
numeric questions, a Python list for list questions. Write nothing else. If the reply gives no \
answer, write nothing.

Example 1
Question: How many cubes are left? Answer the question using a single integer number.
Reply: After removing two of the five cubes, three cubes are left.
Extracted answer: 3

Example 2
Question: Which shape is largest?
A. circle
B. square
Answer with the option's letter from the given choices directly.
Reply: The square (B) covers the most area.
Extracted answer: B

Example 3
Question: What are the two smallest values? Answer the question using a Python list.
Reply: The smallest values are 1.5 and 2.
Extracted answer: [1.5, 2]
"""


def extraction_prompt(query: str, response: str) -> str:
    """The judge prompt for one reply: instructions with worked examples, then the case.

    >>> extraction_prompt("Q?", "It is 4.").endswith("Question: Q?\\nReply: It is 4.\\nExtracted answer:")
    True
    """
    return f"{EXTRACTION_INSTRUCTIONS}\nNow this one\nQuestion: {query}\nReply: {response}\nExtracted answer:"


class Judge:
    """POST ``{url}/chat/completions`` with one user message at temperature 0; replies cached."""

    def __init__(self, url: str, model: str, cache_dir: str | Path, api_key_env: str | None = "OPENAI_API_KEY",
                 timeout_s: float = 60.0, retries: int = 2, max_tokens: int = 64):
        if not url or not model:
            raise HarnessError("judge: both judge.url and judge.model are needed")
        self.url = str(url).rstrip("/") + "/chat/completions"
        self.model = str(model)
        self.cache_dir = Path(cache_dir)
        self.api_key_env = api_key_env
        self.timeout_s, self.retries, self.max_tokens = float(timeout_s), int(retries), int(max_tokens)
        self.calls = 0  # requests actually sent (cache misses)

    def key(self, prompt: str) -> str:
        return hashlib.sha256(f"{self.model}\n{prompt}".encode("utf-8")).hexdigest()

    def _cache_path(self, prompt: str) -> Path:
        return self.cache_dir / f"{self.key(prompt)}.json"

    def complete(self, prompt: str) -> str:
        """The endpoint's reply text (stripped), from the cache when present.

        A failure after the retries raises SampleError: the sample is recorded as failed.
        """
        path = self._cache_path(prompt)
        if path.is_file():
            try:
                return json.loads(path.read_text(encoding="utf-8"))["reply"]
            except (json.JSONDecodeError, KeyError, OSError):
                pass  # a damaged entry is fetched again
        reply = self._post(prompt)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"model": self.model, "prompt": prompt, "reply": reply}), encoding="utf-8")
        os.replace(tmp, path)
        return reply

    def _post(self, prompt: str) -> str:
        body = json.dumps({"model": self.model, "messages": [{"role": "user", "content": prompt}],
                           "temperature": 0, "max_tokens": self.max_tokens}).encode("utf-8")
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.api_key_env) if self.api_key_env else None
        if key:
            headers["Authorization"] = f"Bearer {key}"
        last = ""
        for attempt in range(self.retries + 1):
            self.calls += 1
            try:
                req = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
                with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                    data = json.loads(resp.read().decode("utf-8"))
                return str(data["choices"][0]["message"]["content"] or "").strip()
            except (urllib.error.URLError, OSError, ValueError, KeyError, IndexError, TypeError) as exc:
                last = f"{type(exc).__name__}: {exc}"
                if attempt < self.retries:
                    time.sleep(min(2.0 ** attempt, 8.0) * 0.1)
        raise SampleError(f"judge {self.url} (model {self.model}) failed: {last}")

"""Conversation templates: how one user turn (images + question) becomes the prompt text.

Built in: ``vicuna_v1`` (LLaVA-1.5), ``plain``, ``chatml``, ``mistral_instruct``, and
``tokenizer`` (the tokenizer's own chat template). A custom template is a mapping with
``prefix``, ``suffix`` and optional ``stop`` (strings), e.g. in YAML::

    template: {prefix: "Q: ", suffix: "\\nA:", stop: ["\\n"]}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.errors import HarnessError

Tokenizer = Any
"""A transformers tokenizer (slow or fast, of any version): read by its common methods only."""

VICUNA_SYSTEM = (
    "A chat between a curious human and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the human's questions."
)
_MARK = "\x00USER_TURN\x00"


@dataclass(frozen=True)
class Template:
    name: str
    prefix: str
    suffix: str
    stop: tuple[str, ...] = ()

    def render(self, user: str) -> str:
        """The prompt for one user turn.

        >>> text = TEMPLATES["vicuna_v1"].render("<image>\\nWhat is it?")
        >>> text.endswith("questions. USER: <image>\\nWhat is it? ASSISTANT:")
        True
        >>> TEMPLATES["plain"].render("<image>\\nQ")
        '<image>\\nQ\\n'
        """
        return self.prefix + user + self.suffix


TEMPLATES: dict[str, Template] = {
    "vicuna_v1": Template("vicuna_v1", VICUNA_SYSTEM + " USER: ", " ASSISTANT:"),
    "plain": Template("plain", "", "\n"),
    "chatml": Template(
        "chatml",
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n",
        "<|im_end|>\n<|im_start|>assistant\n",
        ("<|im_end|>",),
    ),
    "mistral_instruct": Template("mistral_instruct", "[INST] ", " [/INST]"),
}


def user_turn(prompt: str, n_images: int, image_token: str = "<image>") -> str:
    """LLaVA's user turn: one image token per image, then a newline, before the question.

    >>> user_turn("What is it?", 1)
    '<image>\\nWhat is it?'
    >>> user_turn("<image> above: what?", 1)
    '<image> above: what?'
    """
    if image_token in prompt:
        return prompt
    return "".join(f"{image_token}\n" for _ in range(n_images)) + prompt


def resolve_template(spec: Any, tokenizer: Tokenizer = None) -> Template:
    """A Template from a name, a mapping, or ``tokenizer`` (rendered once around a marker)."""
    if isinstance(spec, Mapping):
        try:
            return Template(
                str(spec.get("name", "custom")),
                str(spec["prefix"]),
                str(spec["suffix"]),
                tuple(spec.get("stop") or ()),
            )
        except KeyError as exc:
            raise HarnessError(
                f"custom template needs 'prefix' and 'suffix' (missing {exc})"
            ) from None
    if spec == "tokenizer":
        return _from_tokenizer(tokenizer)
    if spec not in TEMPLATES:
        raise HarnessError(
            f"unknown template {spec!r}; valid: {', '.join([*TEMPLATES, 'tokenizer'])} or a mapping"
        )
    return TEMPLATES[spec]


def _from_tokenizer(tokenizer: Tokenizer) -> Template:
    if tokenizer is None or not getattr(tokenizer, "chat_template", None):
        raise HarnessError("template=tokenizer, but the tokenizer has no chat_template")
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": _MARK}], tokenize=False, add_generation_prompt=True
    )
    if text.count(_MARK) != 1:
        raise HarnessError(
            "template=tokenizer: the chat template does not render the user message once"
        )
    prefix, suffix = text.split(_MARK)
    bos = getattr(tokenizer, "bos_token", None)
    if bos and prefix.startswith(bos):  # the tokenizer adds BOS itself
        prefix = prefix[len(bos) :]
    stop = tuple(t for t in ("<|im_end|>", "<|eot_id|>", "<|end|>") if t in text)
    return Template("tokenizer", prefix, suffix, stop)

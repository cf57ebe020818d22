"""A tiny OpenAI-compatible chat endpoint on 127.0.0.1 for judge tests (loopback only)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeJudge:
    """Answers POST /v1/chat/completions with ``reply(prompt)``; records every request.

    ``status``: the HTTP status of every answer; ``statuses``: those of the first answers, one
    each (e.g. ``[500]``: the first request fails, later ones succeed).
    """

    def __init__(self, reply=lambda prompt: "B", status: int = 200, statuses=()):
        self.reply, self.status, self.statuses, self.requests = reply, status, list(statuses), []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                owner.requests.append(
                    {"path": self.path, "body": body, "auth": self.headers.get("Authorization")}
                )
                status = owner.statuses.pop(0) if owner.statuses else owner.status
                if status != 200:
                    data = json.dumps(
                        {"error": {"message": f"fake failure {status}", "type": "server_error"}}
                    )
                    self._send(status, data.encode())
                    return
                text = owner.reply(body["messages"][-1]["content"])
                data = {
                    "id": f"chatcmpl-{len(owner.requests)}",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": body.get("model"),
                    "choices": [
                        {
                            "index": 0,
                            "finish_reason": "stop",
                            "message": {"role": "assistant", "content": text},
                        }
                    ],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                }
                self._send(200, json.dumps(data).encode())

            def _send(self, status: int, data: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def build_tiny_chat_model(folder, answer: str = "7") -> None:
    """Save a tiny LlamaForCausalLM + the demo tokenizer (with its chat template) that, greedy,
    answers every chat prompt with ``answer`` (one token) then EOS.

    One layer whose attention and MLP outputs are zeroed, one-hot embeddings: the logits depend
    on the last token only. After the chat template's last token comes ``answer``; after any
    other token, EOS.
    """
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from harness.demo.models import build_tokenizer

    build_tokenizer(folder)
    tok = AutoTokenizer.from_pretrained(str(folder))
    vocab = len(tok)
    hidden = (vocab + 63) // 64 * 64
    cfg = LlamaConfig(
        vocab_size=vocab,
        hidden_size=hidden,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=1,
        num_key_value_heads=1,
        max_position_embeddings=4096,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        tie_word_embeddings=False,
    )
    model = LlamaForCausalLM(cfg)
    ids = tok.apply_chat_template([{"role": "user", "content": "x"}], add_generation_prompt=True)
    ids = ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "keys") else ids
    answer_ids = tok(answer, add_special_tokens=False)["input_ids"]
    assert len(answer_ids) == 1, (answer, answer_ids)
    with torch.no_grad():
        layer = model.model.layers[0]
        layer.self_attn.o_proj.weight.zero_()
        layer.mlp.down_proj.weight.zero_()
        model.model.embed_tokens.weight.copy_(torch.eye(vocab, hidden))
        head = torch.zeros(vocab, hidden)
        head[tok.eos_token_id, :vocab] = 0.5  # after any token: EOS ...
        head[answer_ids[0], ids[-1]] = 1.0  # ... except after the template's last token
        model.lm_head.weight.copy_(head)
    model.save_pretrained(str(folder))

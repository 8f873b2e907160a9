"""A small teacher server on 127.0.0.1 that speaks vLLM's wire format for prompt log-probabilities,
backed by a real transformers model (a tiny teacher built offline), for the tests of logit
distillation from a teacher server.

What it answers as vLLM's OpenAI-compatible server does (``vllm/entrypoints/openai``):

- ``GET /v1/models``: ``{"object": "list", "data": [{"id": NAME, "root": PATH, ...}]}``;
- ``POST /v1/chat/completions``: the messages (text and ``image_url`` data URLs) rendered by the
  model's chat template with ``add_generation_prompt`` (default true, as vLLM's) or
  ``continue_final_message`` (not both: a 400), tokenized without extra special tokens, one
  forward pass; ``prompt_logprobs: K`` returns, per prompt token, ``{token_id: {logprob, rank,
  decoded_token}}`` for the top K by rank plus the prompt's own token (``None`` first), -inf as
  -9999.0; K above ``max_logprobs`` (vLLM's ``--max-logprobs``, 20 by default) is a 400;
  ``return_token_ids`` adds ``prompt_token_ids``; the one generated token is the greedy one;
- ``Authorization: Bearer KEY`` checked when started with ``api_key`` (vLLM's ``--api-key``).

``rewrite_ids`` changes the prompt's token ids (one for one) before scoring: a server whose
tokenizer differs from the student's. ``fail_first`` requests are answered 503 (a server still
loading). ``calls`` counts the requests answered, ``answers`` holds the last assistant message of
each conversation scored::

    with LogprobServer(model_dir, served_name="Qwen/Qwen2-VL-72B-Instruct") as server:
        ... server.url ...   # http://127.0.0.1:PORT/v1
"""

from __future__ import annotations

import base64
import io
import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from vlkd.testing.loopback import ThreadedHTTP

#: vLLM's -inf stand-in in JSON (``clamp_prompt_logprobs``)
CLAMP = -9999.0


class LogprobServer(ThreadedHTTP):
    def __init__(
        self,
        model_dir: str | Path,
        *,
        served_name: str | None = None,
        mm_processor_kwargs: dict[str, int] | None = None,
        max_logprobs: int = 20,
        api_key: str | None = None,
        rewrite_ids: Callable[[list[int]], list[int]] | None = None,
        fail_first: int = 0,
    ):
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor

        self.model_dir = str(model_dir)
        self.served_name = served_name or self.model_dir
        self.max_logprobs = max_logprobs
        self.api_key = api_key
        self.rewrite_ids = rewrite_ids
        self.processor = AutoProcessor.from_pretrained(self.model_dir)
        limits = mm_processor_kwargs or {}
        image_processor = self.processor.image_processor
        if limits:  # as vLLM hands --mm-processor-kwargs to the HF processor
            image_processor.size = {
                "shortest_edge": limits["min_pixels"],
                "longest_edge": limits["max_pixels"],
            }
            for name, value in limits.items():
                if hasattr(image_processor, name):
                    setattr(image_processor, name, value)
        self.model = AutoModelForImageTextToText.from_pretrained(self.model_dir, dtype=torch.float32).eval()
        self.calls = 0
        self.fail_first = fail_first
        self.answers: list[str] = []  # the last assistant message of each chat request scored
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT/v1`` (while started), as vLLM's base URL."""
        return f"{self.address}/v1"

    # -- requests ---------------------------------------------------------------------------------
    def handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        with self._lock:
            self.calls += 1
            failing = self.calls <= self.fail_first
        if failing:  # a server still loading, or overloaded: vLLM's 503
            return _reply(handler, 503, _error("The server is not ready", "ServiceUnavailableError", 503))
        if self.api_key and handler.headers.get("Authorization") != f"Bearer {self.api_key}":
            return _reply(handler, 401, {"error": "Unauthorized"})
        path = handler.path.split("?")[0]
        if method == "GET" and path == "/v1/models":
            card = {"id": self.served_name, "object": "model", "owned_by": "vllm", "root": self.model_dir}
            return _reply(handler, 200, {"object": "list", "data": [card]})
        if method == "POST" and path == "/v1/chat/completions":
            length = int(handler.headers.get("Content-Length") or 0)
            try:
                body = json.loads(handler.rfile.read(length))
                status, data = self.chat(body)
            except Exception as exc:  # a request the model cannot take: vLLM's 400
                status, data = 400, _error(f"{type(exc).__name__}: {exc}")
            return _reply(handler, status, data)
        return _reply(handler, 404, {"detail": "Not Found"})

    def chat(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        import torch

        if body.get("model") != self.served_name:
            return 404, _error(f"The model `{body.get('model')}` does not exist.", "NotFoundError", 404)
        add_generation_prompt = body.get("add_generation_prompt", True)
        continue_final = body.get("continue_final_message", False)
        if add_generation_prompt and continue_final:
            return 400, _error(
                "Cannot set both `continue_final_message` and `add_generation_prompt` to True."
            )
        k = body.get("prompt_logprobs")
        if k is not None and k > self.max_logprobs:
            return 400, _error(
                f"Requested prompt logprobs of {k}, which is greater than max allowed: {self.max_logprobs}"
            )
        chat, images = _hf_chat(body["messages"])
        answer = [m for m in chat if m["role"] == "assistant"][-1:]
        with self._lock:
            self.answers.append("".join(p.get("text", "") for m in answer for p in m["content"]))
        text = self.processor.apply_chat_template(
            chat,
            tokenize=False,
            add_generation_prompt=add_generation_prompt,
            continue_final_message=continue_final,
        )
        inputs = dict(
            self.processor(text=[text], images=images or None, return_tensors="pt", add_special_tokens=False)
        )
        ids = inputs["input_ids"][0].tolist()
        if self.rewrite_ids is not None:
            ids = self.rewrite_ids(ids)  # one id for one: the image and type masks keep their places
            inputs["input_ids"] = torch.tensor([ids])
        with self._lock, torch.inference_mode():
            logits = self.model(**inputs).logits[0].float()
        log_probs = torch.log_softmax(logits, dim=-1)
        tokenizer = self.processor.tokenizer
        prompt_logprobs: list[Any] | None = None
        if k is not None:
            prompt_logprobs = [None]
            for i in range(1, len(ids)):
                row = log_probs[i - 1]
                top = row.topk(k)
                entry = {}
                for rank, (tid, lp) in enumerate(
                    zip(top.indices.tolist(), top.values.tolist(), strict=True), 1
                ):
                    entry[str(tid)] = _logprob(lp, rank, tokenizer.decode([tid]))
                own = ids[i]
                if str(own) not in entry:
                    rank = int((row > row[own]).sum()) + 1
                    entry[str(own)] = _logprob(float(row[own]), rank, tokenizer.decode([own]))
                prompt_logprobs.append(entry)
        nxt = int(log_probs[-1].argmax())
        reply = {
            "id": f"chatcmpl-{time.time_ns()}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.served_name,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": tokenizer.decode([nxt])},
                    "logprobs": None,
                    "finish_reason": "length",
                    "stop_reason": None,
                }
            ],
            "usage": {"prompt_tokens": len(ids), "completion_tokens": 1, "total_tokens": len(ids) + 1},
            "prompt_logprobs": prompt_logprobs,
            "prompt_token_ids": ids if body.get("return_token_ids") else None,
        }
        return 200, reply


def _logprob(value: float, rank: int, decoded: str) -> dict[str, Any]:
    return {"logprob": max(value, CLAMP), "rank": rank, "decoded_token": decoded}


def _error(message: str, kind: str = "BadRequestError", code: int = 400) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def _reply(handler: BaseHTTPRequestHandler, status: int, data: dict[str, Any]) -> None:
    raw = json.dumps(data).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(raw)))
    handler.end_headers()
    handler.wfile.write(raw)


def _hf_chat(messages: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[Any]]:
    """OpenAI chat messages -> the HF chat template's messages and the decoded images, in order."""
    from PIL import Image

    chat, images = [], []
    for message in messages:
        content = message["content"]
        if isinstance(content, str):
            content = [{"type": "text", "text": content}]
        parts = []
        for part in content:
            if part["type"] == "image_url":
                url = part["image_url"]["url"]
                raw = base64.b64decode(url.split(",", 1)[1])
                images.append(Image.open(io.BytesIO(raw)).convert("RGB"))
                parts.append({"type": "image"})
            else:
                parts.append({"type": "text", "text": part["text"]})
        chat.append({"role": message["role"], "content": parts})
    return chat, images

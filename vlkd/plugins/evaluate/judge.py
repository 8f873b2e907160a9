"""An optional LLM judge through any teach plugin: is a student's answer right, given the image?

``evaluate.judge`` is a teacher section (``{plugin: openai, model: gpt-4o-mini, ...}``); the
judge sees the document image, the question, the reviewed reference and the student's
answer, and says ``correct`` or ``incorrect``. Its verdicts become the ``judge_accuracy``
metric. Calls run through the per-item ledger, so a resumed stage never pays twice; their
tokens and cost land in the stage's usage in the manifest.
"""

from __future__ import annotations

import asyncio
import mimetypes
import re
import threading
from pathlib import Path
from typing import Any

from vlkd.api import SkipItem

JUDGE_SYSTEM = (
    "You grade answers to questions about an automotive document image. Compare the student's "
    "answer with the reference answer written by an expert; use the image only to settle doubt. "
    "The answer is correct when it states the same facts: names, codes, and numbers with the same "
    "units (wording, case, punctuation and language may differ). '不存在' means the information is "
    "not in the image. Reply with one word: correct or incorrect."
)
JUDGE_USER = "Question: {question}\nReference answer: {reference}\nStudent answer: {prediction}\nVerdict:"
_INCORRECT = re.compile(r"\bincorrect\b|\bwrong\b|不正确|错误")
_CORRECT = re.compile(r"\bcorrect\b|\bright\b|正确")


def parse_verdict(text: str) -> float | None:
    """1.0 for correct, 0.0 for incorrect, ``None`` when the judge said neither."""
    t = (text or "").strip().lower()
    if _INCORRECT.search(t):
        return 0.0
    if _CORRECT.search(t):
        return 1.0
    return None


def validate_judge(section: dict[str, Any]) -> dict[str, Any]:
    """Check ``evaluate.judge`` against the named teacher's own options (raises ValueError)."""
    from pydantic import ValidationError

    from vlkd.api import PluginError, find_plugin

    if "api_key" in section:
        raise ValueError(
            "judge.api_key: leave the key out of the recipe; the judge reads the provider's usual "
            "variable (OPENAI_API_KEY, ANTHROPIC_API_KEY)"
        )
    name = section.get("plugin")
    if not name:
        raise ValueError("judge needs 'plugin': a teach plugin such as openai or anthropic")
    try:
        info = find_plugin("teach", str(name))
    except PluginError as exc:
        raise ValueError(f"judge: {exc}") from None
    if not getattr(info.cls, "uses_prompt", True):
        raise ValueError(f"judge: teacher '{name}' takes no prompt and cannot judge; use openai or anthropic")
    try:
        info.cls.Options.model_validate(section)
    except ValidationError as exc:
        problems = "; ".join(f"judge.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ValueError(problems) from None
    return section


class Judge:
    """A teacher instance driven from worker threads through one event loop of its own."""

    def __init__(self, teacher: Any):
        self.teacher = teacher
        self.concurrency = getattr(self.teacher.options, "concurrency", 4)
        self.retries = min(getattr(self.teacher.options, "max_retries", 3), 5)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._lock = threading.Lock()
        self._started = False

    def _run(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def start(self, ctx) -> None:
        self._thread.start()
        self._run(self.teacher.start(ctx, []))
        self._started = True

    def close(self) -> None:
        if self._started:
            self._run(self.teacher.close())
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        self._loop.close()

    def price(self, model: str | None) -> tuple[float, float]:
        prices = getattr(self.teacher.options, "prices", {}) or {}
        p = prices.get(model or "") or type(self.teacher).PRICES.get(model or "")
        if p is None:
            return 0.0, 0.0
        return (p.input, p.output) if hasattr(p, "input") else (p["input"], p["output"])

    def _respond(self, request):
        import time

        from vlkd.api import TransientError

        for attempt in range(self.retries + 1):
            try:
                return self._run(self.teacher.respond(request))
            except TransientError as exc:
                if attempt == self.retries:
                    raise RuntimeError(f"judge: {exc} (gave up after {attempt + 1} tries)") from None
                time.sleep(min(exc.retry_after if exc.retry_after is not None else 2.0**attempt, 30.0))
        raise AssertionError("unreachable")

    def judge(self, ctx, record: dict[str, Any]) -> dict[str, Any]:
        from vlkd.api import ImageRecord, TeachRequest
        from vlkd.images.decode import BadImage, read_bytes
        from vlkd.images.files import image_size

        path = Path(record["image"])
        try:
            data = read_bytes(path)
            width, height = image_size(data, name=path)
        except BadImage as exc:
            raise SkipItem(f"judge cannot read the image: {exc.reason}") from None
        request = TeachRequest(
            image=ImageRecord(id=record["image_id"], path=str(path), width=width, height=height),
            image_bytes=data,
            mime=mimetypes.guess_type(path.name)[0] or "image/png",
            system=JUDGE_SYSTEM,
            user=JUDGE_USER.format(
                question=record["question"],
                reference=record["reference"],
                prediction=record["prediction"] or "(no answer)",
            ),
            output="csv",
        )
        response = self._respond(request)
        cost_in, cost_out = self.price(response.model or self.teacher.model)
        with self._lock:
            ctx.usage.requests += 1
            ctx.usage.input_tokens += response.input_tokens
            ctx.usage.output_tokens += response.output_tokens
            ctx.usage.cost_usd += (response.input_tokens * cost_in + response.output_tokens * cost_out) / 1e6
        return {
            "system": record["system"],
            "id": record["id"],
            "judge": parse_verdict(response.text),
            "judge_text": response.text[:200],
        }

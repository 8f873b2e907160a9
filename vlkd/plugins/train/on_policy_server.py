"""On-policy distillation from a teacher server: the student's samples scored by the server's top-k.

vLLM's chat endpoint takes images only inside chat messages, so each sampled answer goes to the
server as text, as the assistant's message of its sample (image and question unchanged), exactly
as :mod:`vlkd.plugins.train.teacher_server` sends a reviewed answer: ``prompt_logprobs: top_k``
over the whole conversation. The student's side is the same conversation through its own
collator, so both score the same tokens, checked token by token (a server with another tokenizer
is an error naming the sample); that is the sampled token sequence itself wherever the sample is
in its tokenizer's own form (the text of an odd one, re-read, may split otherwise; the loss reads
the re-read tokens, on both sides). The answer's closing turn-end token is scored as on the
reviewed answers.

The batches that are not sampled (``1 - lmbda``) and evaluation score the reviewed answers: their
entries come from the content-keyed teacher cache that ``logit_kd`` fills from the same server
(:mod:`vlkd.plugins.train.teacher_cache`), computed on first use and kept, so a resumed training or
a second epoch asks the server nothing for them.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from vlkd.plugins.train.peft_collator import IGNORE_INDEX
from vlkd.plugins.train.teacher_cache import TeacherCache, pad_entries, teacher_batch
from vlkd.plugins.train.teacher_server import ServerScoring, from_job
from vlkd.students.family import IMAGE_TAG

#: the collated batch's key that carries its samples to the trainer (popped before the model)
SAMPLES = "vlkd_samples"


class WithSamples:
    """The student's collator, plus the batch's samples under :data:`SAMPLES`."""

    def __init__(self, collator: Any):
        self.collator = collator

    def __call__(self, samples: list[Any]) -> dict[str, Any]:
        return {**self.collator(samples), SAMPLES: list(samples)}


def sampled_texts(batch: dict[str, Any], tokenizer: Any, eos_ids: list[int]) -> list[str]:
    """Each row's sampled answer as text: its scored tokens without the end token (the chat
    template writes the turn end), special tokens and ``<image>`` tags left out."""
    texts = []
    for ids, labels in zip(batch["input_ids"].tolist(), batch["labels"].tolist(), strict=True):
        tokens = [t for t, label in zip(ids, labels, strict=True) if label != IGNORE_INDEX]
        while tokens and tokens[-1] in eos_ids:
            tokens.pop()
        texts.append(tokenizer.decode(tokens, skip_special_tokens=True).replace(IMAGE_TAG, ""))
    return texts


def with_answer(sample: Any, text: str) -> Any:
    """``sample`` with its last assistant message replaced by ``text`` (the student's sample)."""
    messages = [dict(m) for m in sample.messages]
    last = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
    messages[last]["content"] = text
    return dataclasses.replace(sample, messages=messages, where=f"{sample.where} (the student's sample)")


class ServerScorer:
    """The teacher server's top-k for the trainer's batches: ``teacher_ids``/``teacher_log_probs``
    ``(B, A, k)`` and ``teacher_counts`` ``(B,)``, as the logit_kd collator gives them."""

    def __init__(self, job: dict[str, Any], processor: Any, cache: TeacherCache):
        self.scoring = ServerScoring(job, from_job(job["teacher"]), cache.top_k, processor)
        self.cache = cache
        self.tokenizer = processor.tokenizer
        #: the rung's teacher cost, for the manifest (the report's ladder): samples the server
        #: scored, reviewed entries read from the cache, seconds spent waiting for the server
        self.counts = {"teacher_samples_computed": 0, "teacher_samples_cached": 0, "teacher_seconds": 0.0}

    def _each(self, work: Any, items: list[Any]) -> list[Any]:
        started = time.perf_counter()
        try:
            return self.scoring.each(work, items)
        finally:
            self.counts["teacher_samples_computed"] += len(items)
            self.counts["teacher_seconds"] = round(
                self.counts["teacher_seconds"] + time.perf_counter() - started, 3
            )

    def reviewed(self, samples: list[Any], batch: dict[str, Any]) -> dict[str, Any]:
        """The reviewed answers of ``batch`` (collated from ``samples``): from the cache, the
        missing entries asked of the server and kept."""
        missing = [(row, s) for row, s in enumerate(samples) if not self.cache.has(s)]

        def one(item: tuple[int, Any]) -> None:
            row, sample = item
            self.cache.save(sample, *self.scoring.entries(sample, self.scoring.row(batch, row)))

        self.counts["teacher_samples_cached"] += len(samples) - len(missing)
        if missing:
            self._each(one, missing)
        return teacher_batch(self.cache, samples)

    def sampled(
        self, samples: list[Any], sampled: dict[str, Any], eos_ids: list[int]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The student's samples (``sampled``: :func:`vlkd.plugins.train.on_policy.sample`'s batch)
        as the batch the loss reads, and the server's top-k at its answer tokens."""
        texts = sampled_texts(sampled, self.tokenizer, eos_ids)
        answered = [with_answer(s, t) for s, t in zip(samples, texts, strict=True)]
        batch = self.scoring.collator(answered)

        def one(row: int) -> tuple[Any, Any]:
            return self.scoring.entries(answered[row], self.scoring.row(batch, row))

        return batch, pad_entries(self._each(one, list(range(len(answered)))))

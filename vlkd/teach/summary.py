"""The teach stage's end: ``pairs.jsonl``, ``failures.jsonl`` and the parse log written from the
ledger, the warnings a person needs (unanswered requests, unbelievable usage, failures), and
the stage's facts.

One pass over the ledger's entries, each read from its file and written out as it comes:
nothing here grows with the number of images but the per-image pair counts.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vlkd.core.artifacts import ImageFile
from vlkd.core.jsonl import write_jsonl_atomic
from vlkd.core.records import ImageRecord

if TYPE_CHECKING:
    from vlkd.core.context import StageContext
    from vlkd.teach.run import TeachRun

FAILURES_FILE = "failures.jsonl"
PARSE_LOG_FILE = "parse_log.jsonl"


def image_ids(images: Sequence[ImageRecord]) -> list[str]:
    """The images' ids, in order (an :class:`ImageFile` has them without reading its records)."""
    return images.ids if isinstance(images, ImageFile) else [i.id for i in images]


@dataclass
class _Tally:
    """What the pass over the ledger found besides the pairs it wrote."""

    failures: list[dict[str, Any]] = field(default_factory=list)
    dropped: list[dict[str, Any]] = field(default_factory=list)
    per_image: list[int] = field(default_factory=list)
    negatives: int = 0
    neg_dropped: int = 0
    pairs: int = 0


def _pairs_of_ok_entries(
    ctx: StageContext, images: Sequence[ImageRecord], tally: _Tally
) -> Iterator[dict[str, Any]]:
    ledger = ctx.ledger()
    for i, key in enumerate(image_ids(images)):
        status = ledger.status(key)
        if status is None or status == "skipped":
            continue
        entry = ledger.entry(key) or {}
        if status == "failed":
            tally.failures.append(
                {
                    "image_id": key,
                    "path": images[i].path,
                    "reason": entry.get("reason"),
                    "raw": entry.get("raw"),
                }
            )
            continue
        tally.per_image.append(entry.get("pairs", len(entry["records"])))
        tally.negatives += entry.get("negatives", 0)
        tally.neg_dropped += entry.get("negatives_dropped", 0)
        tally.dropped.extend({"image_id": key, **d} for d in entry.get("dropped", ()))
        yield from entry["records"]


def write_summary(ctx: StageContext, state: TeachRun, images: Sequence[ImageRecord], seconds: float) -> None:
    """Write pairs.jsonl, failures.jsonl and the parse log from the ledger; fill the stage facts."""
    tally = _Tally()
    tally.pairs = write_jsonl_atomic(ctx.output("pairs"), _pairs_of_ok_entries(ctx, images, tally))
    _warn_spending(ctx, state)
    write_jsonl_atomic(ctx.dir / FAILURES_FILE, tally.failures)
    write_jsonl_atomic(ctx.dir / PARSE_LOG_FILE, tally.dropped)
    if tally.dropped:
        ctx.info(
            f"{len(tally.dropped)} unreadable answer rows dropped (reasons in {ctx.dir / PARSE_LOG_FILE})"
        )
    if tally.failures:
        ctx.warn(
            f"{len(tally.failures)} images failed (reasons and raw answers in {ctx.dir / FAILURES_FILE})"
        )
    facts = _pair_facts(len(images), tally)
    facts.update(_call_facts(ctx, state, seconds))
    ctx.facts.update(facts)
    ctx.checkpoint(force=True)


def _warn_spending(ctx: StageContext, state: TeachRun) -> None:
    """Requests possibly paid for without an answer (counted in the usage), and usage not believed."""
    unanswered = state.journal.unanswered()
    ctx.usage.unanswered = len(unanswered)
    ctx.usage.unanswered_cost_usd = sum(e["worst_usd"] for e in unanswered)
    if unanswered:
        ctx.warn(
            f"{len(unanswered)} requests were sent but never answered (an interruption, a timeout): "
            f"the provider may have charged up to ${ctx.usage.unanswered_cost_usd:.4f} for them, "
            f"counted against max_cost (list in {state.journal.unanswered_path})"
        )
    rejected = state.calls.usage_rejected
    if rejected:
        ctx.warn(
            f"{len(rejected)} answers reported impossible token usage ({rejected[0]}); counted at the estimate instead"
        )


def _pair_facts(n_images: int, tally: _Tally) -> dict[str, Any]:
    n_pairs, per_image = tally.pairs, tally.per_image
    facts: dict[str, Any] = {
        "images": n_images,
        "pairs": n_pairs,
        "positives": n_pairs - tally.negatives,
        "negatives": tally.negatives,
        "negative_share": round(tally.negatives / n_pairs, 4) if n_pairs else 0.0,
        "pairs_per_image": {
            "min": min(per_image),
            "mean": round(statistics.mean(per_image), 2),
            "max": max(per_image),
        }
        if per_image
        else None,
        "failed_images": len(tally.failures),
        "rows_dropped": len(tally.dropped),
    }
    if tally.neg_dropped:
        facts["negatives_dropped_for_ratio"] = tally.neg_dropped
    return facts


def _call_facts(ctx: StageContext, state: TeachRun, seconds: float) -> dict[str, Any]:
    calls = state.calls
    facts: dict[str, Any] = {}
    if calls.retries:
        facts["retries"] = dict(calls.retries)
    if calls.usage_rejected:
        facts["usage_rejected"] = {"answers": len(calls.usage_rejected), "first": calls.usage_rejected[0]}
    if state.teacher.model:
        facts["model"] = state.teacher.model
        if state.price is None and ctx.usage.requests:
            ctx.warn(
                f"no price known for model '{state.teacher.model}': cost not counted "
                f"(add it under teach.prices)"
            )
    if seconds and ctx.usage.requests:
        facts["requests_per_s"] = round(ctx.usage.requests / seconds, 2)
    if calls.first_call is not None and calls.last_answer is not None:
        facts["calls_window_s"] = round(calls.last_answer - calls.first_call, 3)
        facts["first_request_s"] = round(calls.first_call - state.began, 3)
    if calls.first_call_cpu is not None:  # CPU: what a loaded machine's waiting does not inflate
        facts["first_request_cpu_s"] = round(calls.first_call_cpu - state.began_cpu, 3)
        facts["first_request_process_cpu_s"] = round(calls.first_call_cpu, 3)
    return facts

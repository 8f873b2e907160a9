"""``vlkd run --dry-run`` for the teach stage: calls, tokens and the most they can cost, spending
nothing (answers already in the response cache and images already taught are not counted)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from vlkd.core.context import StageContext
from vlkd.core.errors import StageError
from vlkd.core.jsonl import read_jsonl
from vlkd.core.records import ImageRecord, sha256_bytes
from vlkd.teach.batch import batch_price
from vlkd.teach.cache import cache_key
from vlkd.teach.calls import ItemFailed
from vlkd.teach.jobs import hash_text
from vlkd.teach.limits import cost_usd
from vlkd.teach.run import TeachRun, load_images, stage_teacher
from vlkd.teach.teacher import Teacher, TeachRequest

#: images listed one by one in the dry-run estimate
ESTIMATE_LINES = 10


def shown_name(image: ImageRecord) -> str:
    """The name a person knows an image by: its source file (and page), not the hash that names
    its preprocessed copy."""
    if not image.sources:
        return Path(image.path).name
    source = image.sources[0]
    return Path(source.path).name + (f" p.{source.page}" if source.page else "")


@dataclass
class _Count:
    done: int = 0
    cached: int = 0
    calls: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    per_image: list[str] = field(default_factory=list)
    shrunk: list[str] = field(default_factory=list)


def estimate(
    ctx: StageContext, teacher: Teacher | None = None, images: Sequence[ImageRecord] | None = None
) -> list[str]:
    """``vlkd run --dry-run``: calls, tokens and the most it can cost, spending nothing."""
    teacher = teacher or stage_teacher(ctx)
    state = TeachRun(ctx, teacher)
    if images is None:
        try:
            images = load_images(ctx)
        except StageError:
            images = None
    model = teacher.model or teacher.options.plugin
    if images is None:
        return [
            f"{model}: images not known until the earlier stages run; one call per image "
            f"(+ retries), ≤ {getattr(teacher.options, 'max_tokens', 0)} output tokens each"
        ]
    count = _count(ctx, state, images)
    lines = [
        f"{model}: {len(images)} images: {count.done} done, {count.cached} cached, {count.calls} calls to make"
    ]
    if not (count.tokens_in or count.tokens_out):
        return [lines[0] + " (offline: no tokens, no cost)"]
    lines += count.per_image
    if count.calls > len(count.per_image):
        lines.append(f"  ... and {count.calls - len(count.per_image)} more")
    lines.append(f"tokens: ~{count.tokens_in:,} in, ≤ {count.tokens_out:,} out")
    if count.shrunk:
        lines.append(
            f"the provider will scale down {len(count.shrunk)} images (send them smaller, or use image: student): "
            + "; ".join(count.shrunk[:5])
            + (f"; ... {len(count.shrunk) - 5} more" if len(count.shrunk) > 5 else "")
        )
    return lines + _cost_lines(state, count)


def _finished(ctx: StageContext) -> set[str]:
    ledger_path = ctx.dir / "ledger.jsonl"
    if not ledger_path.exists():
        return set()
    return {e["key"] for e in read_jsonl(ledger_path) if e.get("status") != "failed"}


def _count(ctx: StageContext, state: TeachRun, images: Sequence[ImageRecord]) -> _Count:
    """Every image not taught yet: a call, unless its answer is cached; its tokens estimated."""
    teacher = state.teacher
    finished = _finished(ctx)
    count = _Count()
    for image in images:
        if image.id in finished:
            count.done += 1
            continue
        request = TeachRequest(image=image, image_bytes=b"", mime="image/png", output=teacher.options.output)
        if state.student_limits is not None:
            request.sent_size = state.requests.student_size(image.width, image.height)
        if state.prompts is not None:
            request.system, request.user, _ = state.prompts.render(image)
            if _cached(ctx, state, image, request):
                count.cached += 1
                continue
        count.calls += 1
        i, o = teacher.estimate_tokens(request)
        count.tokens_in += i
        count.tokens_out += o
        w, h = request.size
        image_in, scaled = teacher.image_tokens(w, h)
        name = shown_name(image)
        if scaled is not None:
            count.shrunk.append(f"{name} {w}×{h} → {scaled[0]}×{scaled[1]}")
        if len(count.per_image) < ESTIMATE_LINES:
            count.per_image.append(f"  {name}: {w}×{h}, ~{i:,} in ({image_in:,} image), ≤ {o:,} out")
    return count


def _cached(ctx: StageContext, state: TeachRun, image: ImageRecord, request: TeachRequest) -> bool:
    """Whether the answer to ``request`` is in the response cache already."""
    teacher = state.teacher
    if not (teacher.cacheable and not ctx.no_cache and Path(image.path).exists()):
        return False
    try:
        data, _, _ = state.requests.image_bytes(image)
    except ItemFailed:
        data = b""
    key = cache_key(
        image_sha256=sha256_bytes(data),
        prompt_hash=hash_text(request.system + "\0" + request.user),
        plugin=teacher.options.plugin,
        model=teacher.model,
        params=state.params,
    )
    return state.cache.has(key)


def _cost_lines(state: TeachRun, count: _Count) -> list[str]:
    teacher = state.teacher
    mode = getattr(teacher.options, "mode", "online")
    price = batch_price(state.price) if mode == "batch" else state.price
    if price is not None:
        cost = cost_usd(price, count.tokens_in, count.tokens_out)
        unanswered = sum(e["worst_usd"] for e in state.journal.unanswered())
        return [
            f"cost: ≤ ${cost:.4f} (at ${price['input']:g}/${price['output']:g} per 1M tokens"
            + (", batch price: half of list" if mode == "batch" else "")
            + ")"
            + (f"; possibly spent already by unanswered requests: ≤ ${unanswered:.4f}" if unanswered else "")
            + (f"; max_cost ${teacher.options.max_cost}" if teacher.options.max_cost is not None else "")
        ]
    if teacher.model:
        return [f"cost: unknown (no price for '{teacher.model}'; add it under teach.prices)"]
    return []

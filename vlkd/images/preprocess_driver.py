"""Driver of the ``preprocess`` stage: decode each image once, apply the steps, encode once.

Per image (in worker processes, default one per CPU, resumable per image):

1. read the header only, and plan the chain: every step that has
   ``planned_size(size, header) -> size`` says what size it will output;
2. when every step can plan and the largest size a step resizes to is at most half the
   original on both sides, JPEG images are decoded in draft mode (a 2x/4x/8x reduced DCT
   decode, several times faster) to at least that size;
3. decode once, apply the steps in order: before each step ``record.width``/``height`` are
   set to the size the image has *in the plan* at that point, so resizing steps compute their
   target from the true size, not from the reduced draft;
4. encode once (PNG or JPEG) to ``preprocess/images/<id>.<ext>``. Originals are only read.

Collective steps (``dedup_near``): a step that also has ``collect(image, record)`` and
``select(entries)`` needs to see all images. ``collect`` runs inside the per-image chain and
its result is kept with the image's record in the ledger; after every image is done the
driver calls ``select`` once in the main process with ``(record, collected)`` pairs in input
order, and drops the images it names (counted as skipped, with its reason). Steps after a
collective step still run on every image: the decision comes only when all are seen.
"""

from __future__ import annotations

import io
import itertools
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from vlkd.core.context import StageContext
from vlkd.core.cpus import usable_cpus
from vlkd.core.options import RUN_ONLY, OnError, Options
from vlkd.core.plugin import Preprocessor
from vlkd.core.records import ImageRecord

COLLECTED = "_collected"


class Settings(Options):
    """Stage settings of ``preprocess`` (long form: ``preprocess: {steps: [...], workers: 2}``)."""

    workers: int | None = Field(
        default=None,
        ge=1,
        json_schema_extra=RUN_ONLY,
        description="worker processes [default: the CPUs this process may use]",
    )
    output_format: Literal["png", "jpeg"] = Field(default="png", description="encoding of the output images")
    quality: int = Field(default=95, ge=1, le=100, description="JPEG quality")
    png_compress_level: int = Field(
        default=1,
        ge=0,
        le=9,
        description="PNG zlib level: on photos 1 encodes 5x faster than 6 for files ~10% larger",
    )
    draft: bool = Field(
        default=True, description="decode JPEGs reduced when the target is at least 2x smaller"
    )
    max_pixels: int | None = Field(
        default=None,
        ge=1,
        description="skip images with more pixels [default: none here; the "
        "ingest stage applies its own max_pixels, Pillow's by default]",
    )
    on_error: OnError = Field(default="skip", description="skip a bad image with a reason, or stop the run")


def plan_sizes(steps: list[Preprocessor], size: tuple[int, int], header: Any) -> list[tuple[int, int]] | None:
    """Sizes entering each step and leaving the last; ``None`` when some step cannot say."""
    sizes = [size]
    for step in steps:
        planner = getattr(step, "planned_size", None)
        nxt = planner(sizes[-1], header) if planner is not None else None
        if nxt is None:
            return None
        sizes.append(tuple(nxt))  # type: ignore[arg-type]
    return sizes


def draft_box(sizes: list[tuple[int, int]]) -> tuple[int, int] | None:
    """The JPEG draft request: the largest size a step resizes to, if at most half the original."""
    from vlkd.images.decode import draft_request

    original = sizes[0]
    targets = [b for a, b in itertools.pairwise(sizes) if a != b and sorted(a) != sorted(b)]
    if not targets:
        return None
    largest = max(targets, key=lambda s: max(max(s) / max(original), min(s) / min(original)))
    return draft_request(original, largest)


class Chain:
    """The picklable per-image work: decode once, apply every step, encode once."""

    def __init__(self, steps: list[Preprocessor], out_dir: Path, settings: Settings):
        self.steps = steps
        self.out_dir = out_dir
        self.settings = settings

    def __call__(self, record: ImageRecord) -> list[dict[str, Any]]:
        from vlkd.images.decode import load_image, open_image

        settings = self.settings
        record = record.model_copy(deep=True)  # steps update it; the input list stays as read
        original = {
            "path": record.path,
            "width": record.width,
            "height": record.height,
            "format": record.format,
        }
        image, notes = open_image(record.path, max_pixels=settings.max_pixels, load=False)
        sizes = plan_sizes(self.steps, image.size, image)
        box = draft_box(sizes) if sizes is not None and settings.draft else None
        stored = image.size
        notes.extend(n for n in load_image(image, record.path, draft=box) if "JPEG draft" not in n)
        drafted = image.size != stored  # only JPEGs can be decoded reduced
        record.notes.extend(n for n in notes if n not in record.notes)
        collected: dict[str, Any] = {}
        for i, step in enumerate(self.steps):
            if drafted:
                record.width, record.height = sizes[i]  # type: ignore[index]
            else:
                record.width, record.height = image.size
            image = step.apply(image, record)
            if hasattr(step, "collect") and hasattr(step, "select"):
                collected[str(i)] = step.collect(image, record)
        out = self.encode(image, record)
        result = record.model_copy(
            update={
                "path": str(out),
                "width": image.width,
                "height": image.height,
                "format": "JPEG" if settings.output_format == "jpeg" else "PNG",
            }
        )
        dumped = result.model_dump(mode="json")
        dumped["original"] = original
        if collected:
            dumped[COLLECTED] = collected
        return [dumped]

    def encode(self, image: Any, record: ImageRecord) -> Path:
        from vlkd.images.color import to_rgb

        settings = self.settings
        buf = io.BytesIO()
        if settings.output_format == "jpeg":
            if image.mode not in ("RGB", "L"):
                image, note = to_rgb(image)
                if note:
                    record.notes.append(note + " (JPEG output)")
            image.save(buf, "JPEG", quality=settings.quality)
            out = self.out_dir / f"{record.id}.jpg"
        else:
            if image.mode not in ("RGB", "RGBA", "L", "LA", "P", "1", "I;16", "I"):
                image, note = to_rgb(image)
                if note:
                    record.notes.append(note + " (PNG output)")
            image.save(buf, "PNG", compress_level=settings.png_compress_level)
            out = self.out_dir / f"{record.id}.png"
        tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
        tmp.write_bytes(buf.getvalue())
        os.replace(tmp, out)
        return out


def apply_collective(
    ctx: StageContext, steps: list[Preprocessor], results: list[dict[str, Any]]
) -> list[ImageRecord]:
    """Let collective steps drop images now that all are done; return the kept records.

    ``results`` are the workers' dumps (kept by the ledger for resume), each with what every
    collective step collected; they become records here, once, and a step's ``select`` gets
    ``(ImageRecord, collected)`` pairs in input order."""
    kept = [
        (ImageRecord.model_validate({k: v for k, v in r.items() if k != COLLECTED}), r.get(COLLECTED, {}))
        for r in results
    ]
    for i, step in enumerate(steps):
        if not (hasattr(step, "collect") and hasattr(step, "select")):
            continue
        drop = step.select([(rec, c[str(i)]) for rec, c in kept if c.get(str(i)) is not None])
        if drop:
            for rec, _ in kept:
                reason = drop.get(rec.id)
                if reason is not None:
                    ctx.counts.ok -= 1
                    ctx.counts.add_skipped(rec.id, reason)
                    Path(rec.path).unlink(missing_ok=True)
            kept = [(rec, c) for rec, c in kept if rec.id not in drop]
    return [rec for rec, _ in kept]


def run_preprocess(ctx: StageContext) -> None:
    settings = ctx.settings if isinstance(ctx.settings, Settings) else Settings()
    records: list[ImageRecord] = ctx.load("images")
    out_dir = ctx.dir / "images"
    out_dir.mkdir(parents=True, exist_ok=True)
    steps: list[Preprocessor] = list(ctx.plugins)  # type: ignore[arg-type]
    chain: Any = Chain(steps, out_dir, settings)
    if settings.on_error == "fail":
        from vlkd.images.decode import strict

        chain = strict(chain)  # a broken file stops the stage; a step's deliberate skip does not
    workers = settings.workers or usable_cpus()
    results = ctx.map_items(
        records,
        key=lambda r: r.id,
        work=chain,
        workers=workers,
        processes=workers > 1,
        on_error=settings.on_error,
        description="preprocess",
        probe=lambda r: r.path,
    )
    kept = apply_collective(ctx, steps, results)
    ctx.save("images", kept)
    ctx.facts.update(
        {"images_in": len(records), "images_out": len(kept), "output_format": settings.output_format}
    )

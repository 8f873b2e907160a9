"""Driver of the ``preprocess`` stage: decode each image once, apply the steps, encode once.

Images are processed in worker processes (default: one per CPU). Each output image is
written under ``preprocess/images/``; the originals are never modified.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Literal

from pydantic import Field

from vlkd.core.context import StageContext
from vlkd.core.errors import SkipItem
from vlkd.core.jsonl import read_jsonl, write_jsonl_atomic
from vlkd.core.options import OnError, Options
from vlkd.core.plugin import Preprocessor
from vlkd.core.records import ImageRecord


class Settings(Options):
    """Stage settings of ``preprocess`` (long form: ``preprocess: {steps: [...], workers: 2}``)."""

    workers: int | None = Field(default=None, ge=1, json_schema_extra={"fingerprint": False},
                                description="worker processes [default: number of CPUs]")
    output_format: Literal["png", "jpeg"] = Field(default="png", description="encoding of the output images")
    quality: int = Field(default=95, ge=1, le=100, description="JPEG quality")
    on_error: OnError = Field(default="skip", description="skip a bad image with a reason, or stop the run")


class _Chain:
    """The picklable per-image work: decode once, apply every step, encode once."""

    def __init__(self, steps: list[Preprocessor], out_dir: Path, settings: Settings):
        self.steps = steps
        self.out_dir = out_dir
        self.settings = settings

    def __call__(self, record: ImageRecord) -> list[dict]:
        from PIL import Image

        try:
            image = Image.open(record.path)
            image.load()
        except FileNotFoundError:
            raise SkipItem(f"file disappeared: {record.path}") from None
        except Exception as exc:
            raise SkipItem(f"cannot decode image: {record.path}: {exc}") from None
        for step in self.steps:
            image = step.apply(image, record)
        ext = "jpg" if self.settings.output_format == "jpeg" else "png"
        out = self.out_dir / f"{record.id}.{ext}"
        buf = io.BytesIO()
        if ext == "jpg":
            image.convert("RGB").save(buf, "JPEG", quality=self.settings.quality)
        else:
            image.save(buf, "PNG")
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_bytes(buf.getvalue())
        os.replace(tmp, out)
        record = record.model_copy(update={"path": str(out), "width": image.width, "height": image.height,
                                           "format": self.settings.output_format.upper()})
        return [record.model_dump(mode="json")]


def run_preprocess(ctx: StageContext) -> None:
    settings = ctx.settings if isinstance(ctx.settings, Settings) else Settings()
    records = [ImageRecord.model_validate(r) for r in read_jsonl(ctx.input("images"))]
    out_dir = ctx.dir / "images"
    out_dir.mkdir(parents=True, exist_ok=True)
    chain = _Chain(list(ctx.plugins), out_dir, settings)  # type: ignore[arg-type]
    workers = settings.workers or os.cpu_count() or 1
    results = ctx.map_items(records, key=lambda r: r.id, work=chain, workers=workers, processes=workers > 1,
                            on_error=settings.on_error, description="preprocess")
    write_jsonl_atomic(ctx.output("images"), results)

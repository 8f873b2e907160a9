"""Per-file work of the ``files`` ingestor (runs in worker processes)."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

from vlkd.api import ImageRecord, Source, file_problem, sha256_bytes
from vlkd.images.decode import BadImage


class ReadFile:
    """Picklable: one input file -> its image record(s) (one per PDF page)."""

    def __init__(self, options: Any, pages_dir: Path):
        self.options = options
        self.pages_dir = pages_dir

    def __call__(self, item: dict[str, Any]) -> list[dict[str, Any]]:
        from vlkd.images.decode import read_bytes

        path = item["path"]
        where = f" (listed at {item['origin']})" if item.get("origin") else ""
        if item.get("problem"):
            raise BadImage(item["problem"])
        if item.get("origin") and not os.path.lexists(path):
            raise BadImage(f"file not found: {path}{where}; fix the path in the manifest")
        problem = file_problem(path, self.options.max_file_mb * 1024 * 1024)
        if problem:
            kind, _, detail = problem.partition(": ")
            raise BadImage(f"{kind}: {path}{where}: {detail}")
        data = read_bytes(path)
        category = item.get("category") or self.options.category
        if Path(path).suffix.lower() == ".pdf" or data[:5] == b"%PDF-":
            return self.pdf(data, path, item, category)
        return [self.image(data, path, item, category)]

    def image(self, data: bytes, path: str, item: dict[str, Any], category: str | None) -> dict[str, Any]:
        from vlkd.images.decode import load_image, open_image

        opts = self.options
        # the verify decode may be a reduced JPEG draft: it reads every byte, which is the point;
        # it decodes the image whose header was just read (its notes are not the record's)
        image, notes = open_image(data, path, max_pixels=opts.max_pixels, load=False)
        width, height, fmt = image.width, image.height, image.format
        if opts.verify:
            load_image(image, path, draft=(max(1, width // 8), max(1, height // 8)))
        image.close()
        record = ImageRecord(
            id=sha256_bytes(data),
            path=path,
            width=width,
            height=height,
            format=fmt,
            sources=[Source(path=path)],
            category=category,
            metadata=item["metadata"],
            notes=notes,
        )
        return record.model_dump(mode="json")

    def pdf(self, data: bytes, path: str, item: dict[str, Any], category: str | None) -> list[dict[str, Any]]:
        from vlkd.images.pdf import render_pages

        opts = self.options
        pages = item.get("pages") or opts.pdf_pages
        try:
            from vlkd.images.pdf import parse_page_range

            parse_page_range(pages)
        except ValueError as exc:
            raise BadImage(f"bad page range: {path}: {exc}") from None
        self.pages_dir.mkdir(parents=True, exist_ok=True)
        out = []
        for number, count, image in render_pages(
            data, path, dpi=opts.pdf_dpi, pages=pages, max_pixels=opts.max_pixels
        ):
            buf = io.BytesIO()
            image.save(buf, "PNG")
            png = buf.getvalue()
            digest = sha256_bytes(png)
            target = self.pages_dir / f"{digest}.png"
            if not target.exists():
                tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
                tmp.write_bytes(png)
                os.replace(tmp, target)
            record = ImageRecord(
                id=digest,
                path=str(target),
                width=image.width,
                height=image.height,
                format="PNG",
                sources=[Source(path=path, page=number)],
                category=category,
                metadata={**item["metadata"], "pdf_pages": count},
                notes=[f"page {number} of {count} rendered at {opts.pdf_dpi} dpi"],
            )
            out.append(record.model_dump(mode="json"))
        return out

"""PDF documents as images: page ranges and rasterising pages with pypdfium2."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

from vlkd.images.decode import BadImage

if TYPE_CHECKING:
    from PIL import Image


def parse_page_range(spec: str | None) -> list[tuple[int, int | None]]:
    """``"1-3,5,8-"`` -> ``[(1, 3), (5, 5), (8, None)]`` (1-based, inclusive; ``None`` = to the end)."""
    if spec is None or not str(spec).strip():
        return [(1, None)]
    out: list[tuple[int, int | None]] = []
    for part in str(spec).split(","):
        part = part.strip()
        if not part:
            continue
        first, dash, last = part.partition("-")
        try:
            start = int(first) if first.strip() else 1
            end: int | None = (int(last) if last.strip() else None) if dash else start
        except ValueError:
            raise ValueError(f"page range {spec!r}: {part!r} is not N, N-M, N- or -M") from None
        if start < 1 or (end is not None and end < start):
            raise ValueError(f"page range {spec!r}: {part!r} must count from 1 upwards")
        out.append((start, end))
    if not out:
        raise ValueError(f"page range {spec!r} selects no pages")
    return out


def select_pages(ranges: list[tuple[int, int | None]], n_pages: int) -> list[int]:
    """1-based page numbers of a document with ``n_pages`` pages, in order, without repeats."""
    pages: list[int] = []
    for start, end in ranges:
        for p in range(start, min(end or n_pages, n_pages) + 1):
            if p not in pages:
                pages.append(p)
    return pages


def render_pages(
    data: bytes, path: str | os.PathLike[str], *, dpi: int, pages: str | None, max_pixels: int | None
) -> Iterator[tuple[int, int, Image.Image]]:
    """Yield ``(page_number, page_count, image)`` for the selected pages of a PDF held in ``data``."""
    try:
        import pypdfium2 as pdfium
    except ImportError:
        raise BadImage(
            f'PDF support not installed: {path}: pip install "vlkd[pdf]" to read PDF manuals'
        ) from None

    if not data.lstrip()[:5].startswith(b"%PDF"):
        raise BadImage(f"unreadable PDF: {path}: not a PDF file (no %PDF header)")
    try:
        doc = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        text = str(exc)
        if "password" in text.lower():
            raise BadImage(
                f"encrypted PDF: {path}: it is password-protected; save an unprotected copy to include it"
            ) from None
        raise BadImage(f"unreadable PDF: {path}: {text}") from None
    try:
        count = len(doc)
        selected = select_pages(parse_page_range(pages), count)
        if not selected:
            raise BadImage(f"no pages selected: {path}: it has {count} page(s), page range is {pages!r}")
        scale = dpi / 72.0
        for number in selected:
            page = doc[number - 1]
            try:
                w_pt, h_pt = page.get_size()
                pixels = round(w_pt * scale) * round(h_pt * scale)
                if max_pixels is not None and pixels > max_pixels:
                    raise BadImage(
                        f"too many pixels: {path}: page {number} at {dpi} dpi would be "
                        f"{pixels:,} pixels, over the limit of {max_pixels:,}; lower pdf_dpi"
                    )
                bitmap = page.render(scale=scale)
                image = bitmap.to_pil().convert("RGB")
            except pdfium.PdfiumError as exc:
                raise BadImage(f"unreadable PDF: {path}: page {number}: {exc}") from None
            finally:
                page.close()
            yield number, count, image
    finally:
        doc.close()

"""Open images safely: every way a file can be bad becomes ``SkipItem`` with a clear reason.

Reasons start with a short kind (``truncated image``, ``not an image``, ...) followed by
``: path: detail``; the stage summary groups skipped items by that kind.
"""

from __future__ import annotations

import io
import math
import os
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from vlkd.core.errors import SkipItem

if TYPE_CHECKING:
    from PIL import Image


class BadImage(SkipItem):
    """The file cannot be used as an image: skipped with the reason (``on_error: skip``)."""


class UnreadableImage(Exception):
    """A :class:`BadImage` under ``on_error: fail``: the item fails and the stage stops."""


def strict(work):
    """Wrap per-item ``work`` so bad files fail (stopping the stage) instead of being skipped."""
    return _Strict(work)


class _Strict:
    def __init__(self, work):
        self.work = work

    def __call__(self, item):
        try:
            return self.work(item)
        except BadImage as exc:
            raise UnreadableImage(exc.reason) from None


#: Pillow's own decompression-bomb limit (``PIL.Image.MAX_IMAGE_PIXELS``), the default here
PILLOW_MAX_PIXELS = 1024 * 1024 * 1024 // 4 // 3


def read_bytes(path: str | os.PathLike[str]) -> bytes:
    """The file's bytes; a missing, unreadable or empty file is skipped with a reason."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise BadImage(
            f"file disappeared: {path}: it was listed but is gone (moved or deleted "
            f"while the run was going on?)"
        ) from None
    except IsADirectoryError:
        raise BadImage(f"not a file: {path}: it is a directory") from None
    except PermissionError:
        raise BadImage(f"unreadable file: {path}: permission denied") from None
    except OSError as exc:
        raise BadImage(f"unreadable file: {path}: {exc.strerror or exc}") from None
    if not data:
        raise BadImage(f"empty file: {path}: 0 bytes")
    return data


@contextmanager
def _pixel_limit_off():
    """vlkd checks the pixel limit itself (with a clear reason), so Pillow's check is off here."""
    from PIL import Image

    old = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            yield
    finally:
        Image.MAX_IMAGE_PIXELS = old


def _describe_not_image(data: bytes) -> str:
    head = data[:64]
    if head.lstrip().startswith(b"%PDF-"):
        return "it is a PDF document (render its pages first: vlkd's ingest does)"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return f"unknown format (first bytes {head[:8].hex(' ')})"
    if text.isprintable() or all(c.isprintable() or c in "\r\n\t" for c in text):
        return f"it is a text file ({text[:24].strip()!r}...)"
    return f"unknown format (first bytes {head[:8].hex(' ')})"


def open_image(
    source: str | os.PathLike[str] | bytes,
    path: str | os.PathLike[str] | None = None,
    *,
    max_pixels: int | None = PILLOW_MAX_PIXELS,
    draft: tuple[int, int] | None = None,
    load: bool = True,
) -> tuple[Image.Image, list[str]]:
    """Open (and by default decode) an image: ``(image, notes)``.

    ``source`` is a path or the file's bytes (``path`` then names it in messages). The
    header is checked against ``max_pixels`` before any pixel is decoded. Animated images
    give their first frame, with a note. With ``load=False`` only the header is read; call
    :func:`load_image` to decode.
    """
    from PIL import Image, UnidentifiedImageError

    name = path if path is not None else source
    data = source if isinstance(source, bytes) else read_bytes(source)
    notes: list[str] = []
    with _pixel_limit_off():
        try:
            image = Image.open(io.BytesIO(data))
        except UnidentifiedImageError:
            raise BadImage(f"not an image: {name}: {_describe_not_image(data)}") from None
        except Exception as exc:
            raise BadImage(f"corrupt image: {name}: {exc}") from None
    w, h = image.size
    if w <= 0 or h <= 0:
        raise BadImage(f"corrupt image: {name}: size {w}x{h}")
    if max_pixels is not None and w * h > max_pixels:
        raise BadImage(
            f"too many pixels: {name}: {w}x{h} = {w * h:,} pixels is over the limit of "
            f"{max_pixels:,} (a decompression bomb?); raise max_pixels if you trust this file"
        )
    frames = getattr(image, "n_frames", 1)
    if getattr(image, "is_animated", False) and frames > 1:
        notes.append(f"animated {image.format}: {frames} frames, first frame used")
    if load:
        notes.extend(load_image(image, name, draft=draft))
    return image, notes


def load_image(image: Image.Image, name: object, *, draft: tuple[int, int] | None = None) -> list[str]:
    """Decode an opened image in place; return notes. Truncated or corrupt data -> ``SkipItem``.

    ``draft`` asks JPEG's decoder for a reduced image at least that large (a 2x, 4x or 8x
    smaller decode, much faster); it is only used when the image is at least twice as large.
    """
    notes = []
    w, h = image.size
    if draft is not None and image.format in ("JPEG", "MPO") and w >= 2 * draft[0] and h >= 2 * draft[1]:
        image.draft(image.mode if image.mode in ("RGB", "L", "CMYK") else None, draft)
        if image.size != (w, h):
            notes.append(f"decoded at {image.size[0]}x{image.size[1]} (JPEG draft) for a smaller target")
    with _pixel_limit_off():
        try:
            image.load()
        except OSError as exc:
            text = str(exc)
            kind = "truncated image" if "truncated" in text else "corrupt image"
            raise BadImage(f"{kind}: {name}: {text}") from None
        except Exception as exc:
            raise BadImage(f"corrupt image: {name}: {type(exc).__name__}: {exc}") from None
    return notes


def draft_request(size: tuple[int, int], target: tuple[int, int]) -> tuple[int, int] | None:
    """The ``draft`` box for decoding ``size`` (stored orientation) towards ``target`` (any orientation).

    ``None`` when the target is not at least twice smaller on both sides.
    """
    w, h = size
    long_t, short_t = max(target), min(target)
    scale = max(long_t / max(w, h), short_t / min(w, h))
    if scale > 0.5:
        return None
    return math.ceil(w * scale), math.ceil(h * scale)

"""The OCR service that teach and verify share: offline OCR with rapidocr-onnxruntime (PP-OCRv4 Chinese/English models shipped in its wheel).

One engine per process, created on first use; it is safe to call from worker threads.

:func:`read_boxes` is the one way vlkd reads a page: the ``ocr`` teacher, ``ocr_context``
and the ``ocr_grounding`` check all call it with the run's cache directory, so a page is
read at most once per run (``<run>/cache/ocr/``, keyed by the image bytes and the reader's
version; it survives ``--fresh`` like the teacher cache).

PP-OCRv4 often drops the spaces between Latin words ("Lowoilpressure"). With its
per-character positions, :func:`_respace` puts a space back where the page has a blank gap
between two characters much wider than the line's usual gap between letters. The page is read
upright (EXIF orientation applied), so a phone photo stored on its side reads as lines.

:mod:`vlkd.ocr.fields`: the common document fields (part number, torque, ...) and the labels and
units that show them on a page, which the ``ocr`` teacher and the ``ocr_grounding`` check share.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

_engine = None
_lock = threading.Lock()
#: pages read by the engine in this process (not from the cache): for tests and benchmarks
reads = 0
#: part of the cache key: bump when reading changes what comes out
READER = "rapidocr-ppocrv4+spaces-1+upright"


class OCRError(Exception):
    """The page cannot be read (not an image, or the engine failed on it)."""


@dataclass(frozen=True)
class TextBox:
    text: str
    score: float
    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def cy(self) -> float:
        return (self.y0 + self.y1) / 2

    @property
    def height(self) -> float:
        return self.y1 - self.y0


@contextlib.contextmanager
def _sleeping_idle_threads() -> Iterator[None]:
    """While the engine's sessions are built: their idle pool threads sleep instead of spinning
    (onnxruntime's ``session.intra_op.allow_spinning``; rapidocr builds the options itself)."""
    try:
        from rapidocr_onnxruntime.utils.infer_engine import OrtInferSession
    except ImportError:  # another layout of the package: its defaults
        yield
        return
    build = OrtInferSession.__dict__.get("_init_sess_opts")
    if not isinstance(build, staticmethod):
        yield
        return

    def without_spinning(config: Any) -> Any:
        options = build.__func__(config)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "0")
        return options

    OrtInferSession._init_sess_opts = staticmethod(without_spinning)
    try:
        yield
    finally:
        OrtInferSession._init_sess_opts = build


def _get_engine():
    global _engine
    with _lock:
        if _engine is None:
            from rapidocr_onnxruntime import RapidOCR

            from vlkd.api import usable_cpus

            with _sleeping_idle_threads():
                # onnxruntime's pool is sized to the machine's cores by default, and spins
                _engine = RapidOCR(intra_op_num_threads=usable_cpus(), inter_op_num_threads=1)
        return _engine


def read_boxes(
    image: bytes | str | Path, min_score: float = 0.5, cache_dir: Path | None = None
) -> list[TextBox]:
    """The text boxes of an image read with at least ``min_score``, top to bottom, left to right.

    With ``cache_dir`` (a run's ``cache/``) the page is read once and kept there. Raises
    :class:`OCRError` for a file that is not an image the engine can read.
    """
    data = image if isinstance(image, bytes) else Path(image).read_bytes()
    return [b for b in page_boxes(data, cache_dir) if b.score >= min_score]


def page_boxes(data: bytes, cache_dir: Path | None = None) -> list[TextBox]:
    """Every text box the engine found (any score), from the run's cache when it has them."""
    path = None
    if cache_dir is not None:
        key = hashlib.sha256(READER.encode() + b"\0" + data).hexdigest()
        path = Path(cache_dir) / "ocr" / key[:2] / f"{key}.json"
        try:
            return [TextBox(**b) for b in json.loads(path.read_text(encoding="utf-8"))]
        except (OSError, ValueError, TypeError):
            pass  # not read yet, or a damaged entry: read again
    boxes = _read(data)
    if path is not None:
        from vlkd.api import write_json_atomic

        write_json_atomic(path, [asdict(b) for b in boxes])
    return boxes


def _read(data: bytes) -> list[TextBox]:
    global reads
    import numpy as np

    from vlkd.images.decode import BadImage
    from vlkd.images.files import open_as

    try:
        # upright as the camera's EXIF says (a phone photo is stored on its side): the engine
        # then finds horizontal lines and _respace measures their gaps. Only OCR turns the page:
        # text is text either way, while the pixels a student trains on stay as stored
        page = open_as(data, "RGB", upright=True)
    except BadImage as exc:
        raise OCRError(f"not an image OCR can read: {exc.reason}") from None
    gray = np.asarray(page.convert("L"))
    try:
        result, _ = _get_engine()(page, return_word_box=True)
    except Exception as exc:  # the engine's own errors have no common base
        raise OCRError(f"OCR failed: {type(exc).__name__}: {exc}") from None
    with _lock:
        reads += 1
    boxes = []
    for row in result or ():
        points, text, score = row[0], row[1], row[2]
        xs = [p[0] for p in points]
        ys = [p[1] for p in points]
        text = _respace(gray, row).strip()
        if text:
            boxes.append(
                TextBox(text, float(score), float(min(xs)), float(min(ys)), float(max(xs)), float(max(ys)))
            )
    boxes.sort(key=lambda b: (b.cy, b.x0))
    return boxes


#: character kinds between which a wide gap is a space, and the share of the line height it needs
_SPACE_SHARE = {
    ("a", "a"): 0.235,  # letter, letter: their gaps vary most ("m" + "i")
    ("c", "a"): 0.19,
    ("a", "c"): 0.19,
    ("d", "a"): 0.19,
    ("p", "a"): 0.19,
    ("p", "d"): 0.19,
}


#: or a gap this many times the line's median gap, and this share of its height: on a line whose
#: letters sit close together (1-2 px on a 22 px line) a 5 px word gap is clear, though under
#: the shares above. Measured on the demo pages and 60 generated sheets of known text: 2.5 puts
#: back six missed spaces and no false one; 2.0 split words ("Wa rra nty") on the sheets
_CLEAR_TIMES = 2.5
_CLEAR_SHARE = 0.18


def _kind(ch: str) -> str:
    if ch.isascii() and ch.isalpha():
        return "a"
    if ch.isascii() and ch.isdigit():
        return "d"
    if "\u4e00" <= ch <= "\u9fff":
        return "c"
    if ch in ".:,;)":
        return "p"
    return ""


def _blank_runs(ink) -> list[tuple[int, int]]:
    out, start = [], None
    for x, v in enumerate(ink):
        if not v and start is None:
            start = x
        elif v and start is not None:
            out.append((start, x))
            start = None
    return out


def _respace(gray, row: list) -> str:
    """The row's text with the spaces OCR dropped put back, from the blank gaps on the page.

    A space goes between two characters when a blank column run lies between their centres
    that is wider than twice the line's median gap and than a share of the line's height
    (a larger share between two letters, whose gaps vary most), or one that stands clear of
    the line's letter gaps (``_CLEAR_TIMES`` the median, ``_CLEAR_SHARE`` of the height). Only horizontal lines, and
    only the pairs of ``_SPACE_SHARE``: never inside numbers ("87139" stays whole), never
    between Chinese characters or before a digit after a letter ("M14").
    """
    import numpy as np

    points, text = row[0], row[1]
    if len(row) < 5 or not row[3] or len(row[3]) != len(row[4]):
        return text
    boxes, chars = row[3], row[4]
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    x0, x1, y0, y1 = int(min(xs)), int(max(xs)), int(min(ys)), int(max(ys))
    h = y1 - y0
    if h <= 0 or x1 - x0 < 1.5 * h:
        return text
    crop = gray[max(y0, 0) : y1, max(x0, 0) : x1].astype(np.int16)
    if crop.size == 0:
        return text
    diff = np.abs(crop - np.median(crop))
    ink = (diff > max(40.0, 0.5 * float(np.percentile(diff, 99)))).any(axis=0)
    runs = _blank_runs(ink)
    inner = [b - a for a, b in runs if a > 0]
    median = float(np.median(inner)) if inner else 0.0
    blanks = [(a + x0, b + x0, b - a) for a, b in runs if a > 0]
    centres = [(min(p[0] for p in q) + max(p[0] for p in q)) / 2 for q in boxes]
    out = []
    for i, ch in enumerate(chars):
        if i and ch != " " and chars[i - 1] != " ":
            share = _SPACE_SHARE.get((_kind(chars[i - 1]), _kind(ch)))
            if share is not None:
                wide = min(max(share * h, 2.0 * median), max(_CLEAR_SHARE * h, _CLEAR_TIMES * median))
                if any(w >= wide and a >= centres[i - 1] and b <= centres[i] for a, b, w in blanks):
                    out.append(" ")
        out.append(ch)
    return "".join(out)


def group_lines(boxes: list[TextBox]) -> list[list[TextBox]]:
    """Boxes whose vertical centres are within half a text height of each other form one line."""
    lines: list[list[TextBox]] = []
    for box in sorted(boxes, key=lambda b: b.cy):
        if lines:
            last = lines[-1]
            ref = sum(b.cy for b in last) / len(last)
            height = max(b.height for b in last)
            if abs(box.cy - ref) <= max(height, box.height) * 0.5:
                last.append(box)
                continue
        lines.append([box])
    return [sorted(line, key=lambda b: b.x0) for line in lines]


def lines_text(lines: list[list[TextBox]]) -> str:
    """One line per text line, cells separated by ' | '."""
    return "\n".join(" | ".join(b.text for b in line) for line in lines)


def ocr_text(image: bytes | str | Path, cache_dir: Path | None = None) -> str:
    """The image's text, one line per text line, cells separated by ' | '."""
    return lines_text(group_lines(read_boxes(image, cache_dir=cache_dir)))

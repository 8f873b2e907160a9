"""Offline OCR with rapidocr-onnxruntime (PP-OCRv4 Chinese/English models shipped in its wheel).

One engine per process, created on first use; it is safe to call from worker threads.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

_engine = None
_lock = threading.Lock()


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


def _get_engine():
    global _engine
    with _lock:
        if _engine is None:
            from rapidocr_onnxruntime import RapidOCR

            _engine = RapidOCR()
        return _engine


def read_boxes(image: bytes | str, min_score: float = 0.5) -> list[TextBox]:
    """The text boxes of an image, top to bottom, left to right."""
    result, _ = _get_engine()(image)
    boxes = []
    for points, text, score in result or ():
        xs = [p[0] for p in points]
        ys = [p[1] for p in points]
        if float(score) >= min_score and text.strip():
            boxes.append(TextBox(text.strip(), float(score), min(xs), min(ys), max(xs), max(ys)))
    boxes.sort(key=lambda b: (b.cy, b.x0))
    return boxes


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


def ocr_text(image: bytes | str) -> str:
    """The image's text, one line per text line, cells separated by ' | '."""
    return "\n".join(" | ".join(b.text for b in line) for line in group_lines(read_boxes(image)))

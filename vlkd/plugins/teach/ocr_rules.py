"""Rules that turn OCR text lines into extractive question/answer pairs.

A weak teacher, on purpose and by construction: every answer is text read from the image
(a title, a ``key: value`` field, a table cell, a warning), and the negatives ask for
common automotive fields (part number, torque, pressure, capacity, interval, ...) whose
label and unit appear nowhere in the text. It cannot describe pictures, read warning-light
symbols or reason; OCR mistakes become answers. Use it offline, for documents, as a baseline.
"""

from __future__ import annotations

import hashlib
import re

from vlkd.api import negatives_wanted
from vlkd.ocr import TextBox
from vlkd.ocr.fields import FIELDS, Field

_CJK = re.compile(r"[\u2e80-\u9fff\uf900-\ufaff]")
_CJK_RUNS = re.compile(r"[\u2e80-\u9fff\uf900-\ufaff（）()·/、0-9]+")
_LATIN_RUNS = re.compile(r"[A-Za-z][A-Za-z0-9 .#/&'-]*")
_SEGMENT_SPLIT = re.compile(r"\s*[丨|｜]\s*")
_KEY_VALUE = re.compile(r"^(?P<key>[^:：]{1,24}?)\s*[:：]\s*(?P<value>.+)$")
#: a full-width comma, full stop or colon between digits (OCR reads "86,420" as "86，420")
_WIDE_IN_NUMBER = re.compile(r"(?<=\d)[，．：](?=\d)")
_WIDE_TO_ASCII = {"，": ",", "．": ".", "：": ":"}
_WARNING = re.compile(
    r"^(?P<kw>警告|注意|危险|小心|提示|warning|caution|danger|note|notice)\b\s*[:：!！]?\s*(?P<rest>.*)$",
    re.I,
)


def line_text(line: list[TextBox]) -> str:
    return " ".join(b.text for b in line)


def pick_language(text: str, lang: str) -> str:
    """The part of a bilingual label in ``lang`` ("数量Qty" -> "数量" or "Qty"); the whole when absent."""
    runs = _CJK_RUNS.findall(text) if lang == "zh" else _LATIN_RUNS.findall(text)
    picked = " ".join(r.strip() for r in runs if r.strip()) if lang == "en" else "".join(runs)
    picked = picked.strip(" ()（）/")
    return picked or text.strip()


class Questions:
    """Question wording per language."""

    def __init__(self, lang: str):
        self.lang = lang

    def title(self) -> str:
        return "这张图片的标题是什么?" if self.lang == "zh" else "What is the title of this image?"

    def field(self, key: str) -> str:
        return f"图中的{key}是什么?" if self.lang == "zh" else f"What is the {key} shown in the image?"

    def cell(self, row: str, column: str) -> str:
        return f"{row}的{column}是什么?" if self.lang == "zh" else f"What is the {column} of {row}?"

    def warning(self, keyword: str) -> str:
        if self.lang == "zh":
            return {"注意": "图中的注意事项是什么?", "提示": "图中的提示内容是什么?"}.get(
                keyword, f"图中的{keyword}内容是什么?"
            )
        return f"What does the {keyword.lower()} in the image say?"

    def negative(self, f: Field) -> str:
        return f"图中标注的{f.zh}是多少?" if self.lang == "zh" else f"What {f.en} is given in the image?"


def _tables(lines: list[list[TextBox]]) -> list[tuple[int, int]]:
    """(start, end) line ranges of tables: a header and rows with the same number of aligned cells."""
    out = []
    i = 0
    while i < len(lines):
        n = len(lines[i])
        j = i + 1
        if n >= 2 and not any(_KEY_VALUE.match(b.text) for b in lines[i]):  # "key: value" cells are no header
            while j < len(lines) and len(lines[j]) == n and _aligned(lines[i], lines[j]):
                j += 1
        if j - i >= 2:
            out.append((i, j))
            i = j
        else:
            i += 1
    return out


def _aligned(header: list[TextBox], row: list[TextBox]) -> bool:
    tol = max(24.0, 1.5 * max(b.height for b in header))
    return all(
        abs(h.x0 - r.x0) <= tol or (r.x0 < h.x1 and r.x1 > h.x0) for h, r in zip(header, row, strict=True)
    )


def extract_pairs(
    lines: list[list[TextBox]],
    *,
    lang: str,
    negative_answer: str,
    negative_ratio: float,
    seed: str,
    max_pairs: int = 40,
) -> list[dict[str, object]]:
    """Extractive pairs from OCR lines, plus negatives about absent fields (about ``negative_ratio`` of all)."""
    if lang == "auto":
        lang = "zh" if any(_CJK.search(b.text) for line in lines for b in line) else "en"
    q = Questions(lang)
    pairs: list[dict[str, object]] = []
    seen: set[str] = set()

    def add(question: str, answer: str) -> None:
        answer = _WIDE_IN_NUMBER.sub(lambda m: _WIDE_TO_ASCII[m.group()], answer.strip(" ;；,，"))
        if question not in seen and answer and len(pairs) < max_pairs:
            seen.add(question)
            pairs.append({"question": question, "answer": answer})

    tables = _tables(lines)
    in_table = {k for a, b in tables for k in range(a, b)}
    if lines and 0 not in in_table and len(lines[0]) == 1 and not _KEY_VALUE.match(lines[0][0].text):
        add(q.title(), lines[0][0].text)
    for a, b in tables:
        header = [pick_language(c.text, lang) for c in lines[a]]
        for row in lines[a + 1 : b]:
            cells = [c.text for c in row]
            named = [i for i in (0, 1) if i < len(cells) and _CJK.search(cells[i])] if lang == "zh" else []
            key_col = named[0] if named else 0
            key = pick_language(cells[key_col], lang)
            if key.isdigit():
                key = f"第{key}项" if lang == "zh" else f"item {key}"
            for col, value in enumerate(cells):
                if col != key_col:
                    add(q.cell(key, header[col]), value)
    for k, line in enumerate(lines):
        if k in in_table or (k == 0 and pairs):
            continue
        segments = [seg for box in line for seg in _SEGMENT_SPLIT.split(box.text)]
        for segment in segments:
            warn = _WARNING.match(segment)
            if warn and warn.group("rest"):
                add(q.warning(warn.group("kw")), warn.group("rest"))
                continue
            kv = _KEY_VALUE.match(segment)
            if kv and not re.fullmatch(r"[\d\s.]+", kv.group("key")):
                key = pick_language(kv.group("key"), lang)
                add(q.field(key.rstrip("0123456789 ") or key), kv.group("value"))
    # negatives: fields of which neither label nor unit appears anywhere
    text = "\n".join(line_text(line) for line in lines)
    absent = [f for f in FIELDS if not f.present.search(text)]
    absent.sort(key=lambda f: hashlib.sha256((seed + f.en).encode()).hexdigest())
    for f in absent[: negatives_wanted(len(pairs), negative_ratio, seed)]:
        pairs.append({"question": q.negative(f), "answer": negative_answer, "negative": True})
    return pairs

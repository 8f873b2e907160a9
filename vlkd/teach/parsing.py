"""Turning a teacher's text into question/answer pairs, losing no good row to a bad one.

CSV (the seed's contract) is read with the ``csv`` module, so commas and quotes inside a
quoted answer survive. Also handled: ```csv fences and chatter around them, tripled quotes,
header rows in any language, blank lines, answers whose commas were not quoted, a leading
image-name column. A row that still cannot be read is dropped with a reason; the rest are kept.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from typing import Any

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_-]*)[^\n]*\n(.*?)(?:```|\Z)", re.S)
HEADER_WORDS = {
    "question",
    "questions",
    "answer",
    "answers",
    "q",
    "a",
    "image",
    "image name",
    "image_name",
    "图像名称",
    "问题",
    "答案",
    "问",
    "答",
    "提问",
    "回答",
    "問題",
    "質問",
    "질문",
    "답변",
    "답",
    "pregunta",
    "respuesta",
    "frage",
    "antwort",
    "réponse",
    "reponse",
    "вопрос",
    "ответ",
    "domanda",
    "risposta",
    "pergunta",
    "resposta",
    "vraag",
    "antwoord",
    "soru",
    "cevap",
    "سؤال",
    "إجابة",
    "प्रश्न",
    "उत्तर",
}
_QMARK = ("?", "？")
_IMAGE_NAME = re.compile(r"^[^\s,]+\.(png|jpe?g|webp|bmp|tiff?|gif|pdf)$", re.I)
_QUOTES = "\"'“”‘’「」『』"


@dataclass
class Parsed:
    pairs: list[dict[str, str]] = field(default_factory=list)
    dropped: list[dict[str, Any]] = field(default_factory=list)

    _questions: set[str] = field(default_factory=set, repr=False)

    def drop(self, row: int, reason: str, text: str) -> None:
        self.dropped.append({"row": row, "reason": reason, "text": text[:300]})

    def add(self, row: int, question: str, answer: str, text: str) -> None:
        """Keep a pair, or drop it with the reason: empty question or answer, repeated question."""
        if not question:
            self.drop(row, "empty question", text)
        elif not answer:
            self.drop(row, "empty answer", text)
        elif question in self._questions:
            self.drop(row, "repeated question", text)
        else:
            self._questions.add(question)
            self.pairs.append({"question": question, "answer": answer})


def _unquote(value: str) -> str:
    value = value.strip()
    while len(value) >= 2 and value[0] in _QUOTES and value[-1] in _QUOTES:
        value = value[1:-1].strip()
    return value


_HEADER_END = re.compile(r"[\s:：]+$")


def _is_header(cells: list[str]) -> bool:
    """Two or more non-empty cells, each a header word (the first that is not ends the look)."""
    words = 0
    for cell in cells:
        cell = cell.strip()
        if not cell:
            continue
        if _HEADER_END.sub("", cell.lower()) not in HEADER_WORDS:
            return False
        words += 1
    return words >= 2


def strip_fences(text: str) -> str:
    """The inside of the ``` blocks (all of them), else the whole text."""
    blocks = _FENCE.findall(text)
    if blocks:
        return "\n".join(body for _, body in blocks)
    return text


def _split_row(cells: list[str]) -> tuple[str, str] | str:
    """(question, answer) from one CSV row, or the reason it cannot be read."""
    cells = [_unquote(c) for c in cells]
    while len(cells) > 2 and not cells[-1]:
        cells.pop()
    if len(cells) >= 3 and _IMAGE_NAME.match(cells[0]):
        cells = cells[1:]  # the seed's output.csv layout: image name, question, answer
    if len(cells) == 1:
        cell = cells[0]
        for mark in _QMARK:
            q, sep, a = cell.partition(mark)
            if sep and a.strip(" ,，:：\t"):
                return q.strip() + mark, a.strip(" ,，:：\t")
        return "one field, expected question,answer"
    if len(cells) == 2:
        return cells[0], cells[1]
    # more fields: the question ends at the first field ending with a question mark, else after field 1
    cut = next((i + 1 for i, c in enumerate(cells[:-1]) if c.rstrip().endswith(_QMARK)), 1)
    return ",".join(cells[:cut]).strip(), ",".join(cells[cut:]).strip()


def parse_csv(text: str) -> Parsed:
    out = Parsed()
    # tripled quotes ('"""q"""') need no special case: csv reads them as a quoted field
    body = strip_fences(text)
    fenced = body != text
    try:
        rows = list(csv.reader(io.StringIO(body), skipinitialspace=True))
    except csv.Error as exc:  # e.g. a NUL byte: read line by line instead
        rows = []
        for line in body.splitlines():
            try:
                rows.extend(csv.reader([line], skipinitialspace=True))
            except csv.Error:
                out.drop(len(rows) + 1, f"not CSV: {exc}", line)
    for n, cells in enumerate(rows, 1):
        raw = ",".join(cells)
        if not any(c.strip() for c in cells):
            continue
        if _is_header(cells):
            continue
        got = _split_row(cells)
        if isinstance(got, str):
            out.drop(n, got, raw)
            continue
        question, answer = got
        if not fenced and not question.endswith(_QMARK) and f'"{cells[0].strip()}' not in body:
            # outside ``` fences, an unquoted line without a question mark is chatter, not a pair
            out.drop(n, "not a question (unquoted, no question mark, outside ``` fences)", raw)
        else:
            out.add(n, question, answer, raw)
    return out


PAIRS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "pairs": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"question": {"type": "string"}, "answer": {"type": "string"}},
                "required": ["question", "answer"],
                "additionalProperties": False,
            },
        }
    },
    "required": ["pairs"],
    "additionalProperties": False,
}

_Q_KEYS = ("question", "q", "问题", "问")
_A_KEYS = ("answer", "a", "答案", "答")


def parse_json(text: str | None, data: Any = None) -> Parsed:
    """Pairs from structured output (``data``) or JSON text (fences and chatter tolerated)."""
    out = Parsed()
    if data is None:
        body = strip_fences(text or "").strip()
        try:
            data = json.loads(body)
        except ValueError:
            start = min((i for i in (body.find("{"), body.find("[")) if i >= 0), default=-1)
            end = max(body.rfind("}"), body.rfind("]"))
            try:
                data = json.loads(body[start : end + 1]) if start >= 0 and end > start else None
            except ValueError:
                data = None
            if data is None:
                out.drop(0, "not JSON", body)
                return out
    items = data
    if isinstance(data, dict):
        items = next(
            (
                data[k]
                for k in ("pairs", "qa_pairs", "questions", "items", "data")
                if isinstance(data.get(k), list)
            ),
            None,
        )
        if items is None:
            out.drop(0, "JSON without a 'pairs' list", json.dumps(data, ensure_ascii=False))
            return out
    if not isinstance(items, list):
        out.drop(0, "JSON is not a list of pairs", json.dumps(data, ensure_ascii=False))
        return out
    for n, item in enumerate(items, 1):
        if isinstance(item, list | tuple) and len(item) == 2:
            q, a = item
        elif isinstance(item, dict):
            low = {str(k).lower(): v for k, v in item.items()}
            q = next((low[k] for k in _Q_KEYS if k in low), None)
            a = next((low[k] for k in _A_KEYS if k in low), None)
        else:
            q = a = None
        if q is None or a is None or isinstance(q, dict | list) or isinstance(a, dict | list):
            out.drop(n, "item without question and answer", json.dumps(item, ensure_ascii=False))
            continue
        q, a = str(q).strip(), str(a).strip()
        out.add(n, q, a, json.dumps(item, ensure_ascii=False) if not q or not a else q)
    return out

"""Scoring a JSON Lines file of answers from any model (what ``vlkd score FILE.jsonl`` does).

Each line is an object with ``prediction`` (a string), ``answers`` (a non-empty list of
strings) and optionally ``category``, ``question``, ``negative`` (the reference says "not in
the image") and ``id``; other keys are kept out of the way. A bad line is named by
``file:line`` with what is wrong; nothing is scored until every line is valid.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vlkd.core.errors import VlkdError
from vlkd.metrics.not_present import DEFAULT_NOT_PRESENT
from vlkd.metrics.summary import UNCATEGORIZED, score_item, summarize

SYSTEM = "answers"
#: problems listed before the rest are only counted
SHOWN_PROBLEMS = 20


@dataclass(frozen=True)
class ScoreLine:
    line: int
    prediction: str
    answers: list[str]
    group: str
    by: str = "category"
    id: str | None = None
    negative: bool = False


class ScoreInputError(VlkdError):
    pass


def _problem(raw: Any, by: str) -> str | None:
    if not isinstance(raw, dict):
        return f"expected a JSON object, got {type(raw).__name__}"
    missing = [k for k in ("prediction", "answers") if k not in raw]
    if missing:
        return f"missing {' and '.join(repr(k) for k in missing)} (each line needs prediction and answers)"
    if not isinstance(raw["prediction"], str):
        return 'prediction must be a string (use "" for a model that gave no answer)'
    answers = raw["answers"]
    if isinstance(answers, str):
        return f'answers must be a list of strings: ["{answers}"], not "{answers}"'
    if not isinstance(answers, list) or not answers or not all(isinstance(a, str) for a in answers):
        return 'answers must be a non-empty list of strings, e.g. ["35 N·m"]'
    if "negative" in raw and not isinstance(raw["negative"], bool):
        return "negative must be true or false"
    for key in ("category", "question", by):
        value = raw.get(key)
        if value is not None and not isinstance(value, str | int | float | bool):
            return f"{key} must be a string"
    return None


def read_lines(path: Path, *, by: str = "category") -> list[ScoreLine]:
    """The valid lines of ``path``, or :class:`ScoreInputError` listing every bad one."""
    if not path.is_file():
        raise ScoreInputError(f"{path}: no such file")
    items: list[ScoreLine] = []
    problems: list[str] = []
    first_line: dict[str, int] = {}
    for line_no, text in _numbered_lines(path):
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            problems.append(f"{path}:{line_no}: not JSON ({exc.msg} at column {exc.colno})")
            continue
        problem = _problem(raw, by)
        if problem:
            problems.append(f"{path}:{line_no}: {problem}")
            continue
        group = raw.get(by)
        if isinstance(group, float) and math.isnan(group):
            group = None  # a NaN (pandas' missing value) is no category, not one called "nan"
        item_id = None if raw.get("id") is None else str(raw["id"])
        if item_id is not None:
            if item_id in first_line:
                problems.append(
                    f"{path}:{line_no}: id {item_id!r} again (first on line {first_line[item_id]}); "
                    "each item once, or it counts twice"
                )
                continue
            first_line[item_id] = line_no
        items.append(
            ScoreLine(
                line=line_no,
                prediction=raw["prediction"],
                answers=list(raw["answers"]),
                group=UNCATEGORIZED if group is None or group == "" else str(group),
                by=by,
                id=item_id,
                negative=bool(raw.get("negative", False)),
            )
        )
    if problems:
        more = len(problems) - SHOWN_PROBLEMS
        shown = problems[:SHOWN_PROBLEMS] + ([f"... and {more} more bad lines"] if more > 0 else [])
        raise ScoreInputError("\n".join([*shown, f"{len(problems)} bad lines; fix them and run again"]))
    if not items:
        raise ScoreInputError(f"{path}: no lines to score (one JSON object per line)")
    return items


def _numbered_lines(path: Path) -> Iterator[tuple[int, str]]:
    try:
        with path.open(encoding="utf-8-sig") as fh:  # a BOM (Windows tools write one) is no text
            for line_no, text in enumerate(fh, 1):
                if text.strip():
                    yield line_no, text
    except UnicodeDecodeError as exc:
        raise ScoreInputError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def per_item(item: ScoreLine, scores: dict[str, Any]) -> dict[str, Any]:
    """One output line of ``--per-item``: each metric 0..1, or null where it does not apply."""
    out: dict[str, Any] = {"line": item.line}
    if item.id is not None:
        out["id"] = item.id
    out[item.by] = item.group
    out["exact_match"] = scores["exact_match"]
    out["anls"] = round(scores["anls"], 6)
    out["anls_docvqa"] = round(scores["anls_docvqa"], 6)
    out["relaxed_accuracy"] = scores["relaxed_accuracy"]
    ref, pred = scores["reference_not_present"], scores["predicted_not_present"]
    # the item's part of not-present recall (a not-present question) and precision (a not-present answer)
    out["not_present_recall"] = (1.0 if pred else 0.0) if ref else None
    out["not_present_precision"] = (1.0 if ref else 0.0) if pred else None
    return out


def score_lines(
    items: list[ScoreLine],
    *,
    not_present: str = DEFAULT_NOT_PRESENT,
    samples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    rows: bool = True,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Per-item scores (input order; ``rows=False``: none, only the summary) and the summary (the
    evaluate stage's ``metrics.json`` shape)."""
    scored = [
        score_item(it.prediction, it.answers, negative=it.negative, not_present=not_present) for it in items
    ]
    records = (
        {"system": SYSTEM, "id": str(i), "category": it.group, "scores": s}
        for i, (it, s) in enumerate(zip(items, scored, strict=True))
    )
    summary = summarize(
        records, systems=[SYSTEM], deltas=(), samples=samples, seed=seed, confidence=confidence
    )
    if not rows:
        return [], summary
    return [per_item(it, s) for it, s in zip(items, scored, strict=True)], summary

"""Decisions made in the review page: validated against the pair's current version, then logged.

A decision is one line of the review log (:mod:`.journal`)::

    {"kind": "decision", "action": "edit", "pair_id": ..., "image_id": ...,
     "base": "<version it was made on>", "before": {...}, "after": {...},
     "reviewer": "li", "time": "2026-12-01T09:30:00+0000"}

``before``/``after`` hold only the fields that changed (``review`` is the status field of
the record). ``add`` carries the whole new pair in ``record``. A decision made on a version
that is no longer current is refused (:class:`Conflict`): never silently overwritten.
"""

from __future__ import annotations

import time
from typing import Any

from pydantic import ValidationError

from vlkd.api import ImageRecord, QARecord, StageError, VlkdError
from vlkd.plugins.review.negative import negative_after
from vlkd.plugins.review.sheet import pair_version

ACTIONS = ("approve", "reject", "pending", "edit", "comment", "add")
MAX_TEXT = 20_000


class DecisionError(VlkdError):
    """A decision that cannot be applied; ``status`` is the HTTP status the page gets."""

    status = 400


class NotFound(DecisionError):
    status = 404


class Conflict(DecisionError):
    status = 409


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def clean_text(value: Any, what: str, *, required: bool = True) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise DecisionError(f"{what} must be text")
    text = value.replace("\x00", "").strip()
    if required and not text:
        raise DecisionError(f"{what} is empty; reject the pair instead of emptying it")
    if len(text) > MAX_TEXT:
        raise DecisionError(f"{what} is longer than {MAX_TEXT} characters")
    return text or None


def reviewer_name(value: Any, default: str) -> str:
    text = value if isinstance(value, str) else ""
    text = "".join(ch for ch in text if ch.isprintable()).strip()[:80]
    return text or default


def decide(
    pair: QARecord, action: str, fields: dict[str, Any], *, base: str | None, reviewer: str
) -> dict[str, Any] | None:
    """The log entry for ``action`` on ``pair``, or ``None`` when it changes nothing."""
    if action not in ACTIONS or action == "add":
        raise DecisionError(f"unknown action '{action}'; use one of {', '.join(ACTIONS)}")
    current = pair_version(pair)
    if not isinstance(base, str) or not base:
        raise DecisionError("send the version of the pair you saw ('base'); reload the page")
    if base != current:
        raise Conflict(
            "this pair was changed by someone else after you loaded it; your change was not saved. "
            "The page now shows their version: check it, then redo your change."
        )
    status = pair.review
    after: dict[str, Any] = {}
    if action == "approve":
        after["review"] = "edited" if status == "edited" else "approved"
    elif action == "reject":
        after["review"] = "rejected"
    elif action == "pending":
        after["review"] = "pending"
    elif action == "comment":
        after["comment"] = clean_text(fields.get("comment"), "comment", required=False)
    elif action == "edit":
        for key in ("question", "answer"):
            if key in fields:
                after[key] = clean_text(fields[key], key)
        flag, refused = negative_after(
            pair,
            after.get("answer", pair.answer),
            _flag(fields["negative"]) if "negative" in fields else None,
        )
        if refused:
            raise DecisionError(refused)
        after["negative"] = flag
        if "comment" in fields:
            after["comment"] = clean_text(fields["comment"], "comment", required=False)
        if any(not _same(pair, k, after[k]) for k in ("question", "answer", "negative") if k in after):
            after["review"] = "edited"
    after = {k: v for k, v in after.items() if not _same(pair, k, v)}
    if not after:
        return None
    return {
        "kind": "decision",
        "action": action,
        "pair_id": pair.id,
        "image_id": pair.image_id,
        "base": current,
        "before": {k: getattr(pair, k) for k in after},
        "after": after,
        "reviewer": reviewer,
        "time": now(),
    }


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise DecisionError("negative must be true or false")
    return value


def _new_flag(answer: str, fields: dict[str, Any]) -> bool:
    flag, refused = negative_after(None, answer, _flag(fields["negative"]) if "negative" in fields else None)
    if refused:
        raise DecisionError(refused)
    return flag


def _same(pair: QARecord, key: str, value: Any) -> bool:
    return getattr(pair, key) == value


def add_pair(
    image: ImageRecord, fields: dict[str, Any], existing_questions: set[str], *, reviewer: str
) -> dict[str, Any]:
    """The log entry that adds an expert's pair about ``image``."""
    question = clean_text(fields.get("question"), "question")
    answer = clean_text(fields.get("answer"), "answer")
    assert question is not None and answer is not None
    if question in existing_questions:
        raise Conflict("this image already has a pair with that question; edit that pair instead")
    record = {
        "id": QARecord.make_id(image.id, question),
        "image_id": image.id,
        "question": question,
        "answer": answer,
        "category": image.category,
        "negative": _new_flag(answer, fields),
        "provenance": {"plugin": "review", "model": "expert", "reviewer": reviewer},
        "review": "approved",
        "comment": clean_text(fields.get("comment"), "comment", required=False),
    }
    return {
        "kind": "decision",
        "action": "add",
        "pair_id": record["id"],
        "image_id": image.id,
        "base": None,
        "before": {},
        "after": {k: record[k] for k in ("question", "answer", "negative", "review", "comment")},
        "record": record,
        "reviewer": reviewer,
        "time": now(),
    }


def apply(pair: QARecord | None, entry: dict[str, Any]) -> QARecord:
    """The pair after ``entry`` (a new record; ``pair`` is None for ``add``). A log line whose
    values do not make a pair (edited by hand?) is an error naming the log and the pair."""
    data = entry["record"] if entry["action"] == "add" else {**_dump(pair), **entry["after"]}
    try:
        return QARecord.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise StageError(
            f"review log: {entry['action']} of pair {entry.get('pair_id')} by {entry.get('reviewer')}: "
            f"{'.'.join(str(x) for x in err['loc']) or 'record'}: {err['msg']}; fix or delete that line "
            "of review-imports/imports.jsonl"
        ) from None


def _dump(pair: QARecord | None) -> dict[str, Any]:
    assert pair is not None
    return pair.model_dump(mode="json")


def audit_line(entry: dict[str, Any]) -> dict[str, Any]:
    """The audit trail's line for a decision."""
    return {
        "pair_id": entry["pair_id"],
        "action": entry["action"],
        "before": entry["before"],
        "after": entry["after"],
        "reviewer": entry["reviewer"],
        "time": entry["time"],
        "source": "review page",
    }

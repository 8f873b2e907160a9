"""From parsed rows to ``QARecord``s: negatives recognised, flagged, and kept near a target share."""

from __future__ import annotations

import functools
import hashlib
import math
import re
from typing import Any, NamedTuple

from vlkd.core.records import ImageRecord, Provenance, QARecord

_TRIM = re.compile(r"^[\s\"'“”「」]+|[\s\"'“”「」。.!！]+$")


def _norm(text: str) -> str:
    return _TRIM.sub("", text).lower()


def is_negative(answer: str, negative_answer: str, aliases: tuple[str, ...] = ()) -> bool:
    """``answer`` says "not in the image": ``negative_answer`` or one of the prompt pack's ``aliases``."""
    return _norm(answer) in _negatives(negative_answer, tuple(aliases))


@functools.lru_cache(maxsize=16)
def _negatives(negative_answer: str, aliases: tuple[str, ...]) -> frozenset[str]:
    """The normalised negative spellings (the same few for every answer of a stage)."""
    return frozenset({_norm(negative_answer), *(_norm(x) for x in aliases)})


def negatives_wanted(positives: int, ratio: float, seed: str = "") -> int:
    """Negatives for an image with ``positives`` pairs so that ``ratio`` of all pairs are negative.

    The exact count ``ratio * positives / (1 - ratio)`` is rarely whole: its fraction becomes
    one more negative on that share of the images (chosen by a hash of ``seed``, the image id,
    so a re-run picks the same). A per-image minimum of one would not do: on pages with one
    or two fields it made 48% of all pairs negative for ``negative_ratio: 0.2``.
    """
    if ratio <= 0 or positives <= 0:
        return 0
    exact = ratio * positives / (1 - ratio)
    whole = math.floor(exact + 1e-9)
    draw = int(hashlib.sha256(f"negatives\0{seed}".encode()).hexdigest()[:8], 16) / 2**32
    return whole + (1 if draw < exact - whole - 1e-9 else 0)


class PairsOf(NamedTuple):
    """What an image's pairs take from its record."""

    id: str
    category: str | None


def build_pairs(
    rows: list[dict[str, Any]],
    image: ImageRecord | PairsOf,
    *,
    negative_answer: str,
    negative_ratio: float | None,
    provenance: Provenance,
    negative_aliases: tuple[str, ...] = (),
) -> tuple[list[dict], int]:
    """QARecord dicts for one image, and how many extra negatives were dropped.

    Negative answers are written as ``negative_answer`` (one spelling for the student to learn).
    With ``negative_ratio``, negatives beyond that share (over all images, see
    :func:`negatives_wanted`) are dropped (a stable choice per image).
    """
    positives: list[dict[str, Any]] = []
    negatives: list[dict[str, Any]] = []
    for row in rows:
        neg = bool(row.get("negative")) or is_negative(row["answer"], negative_answer, negative_aliases)
        item = {
            "question": row["question"].strip(),
            "answer": negative_answer if neg else row["answer"].strip(),
            "negative": neg,
        }
        (negatives if neg else positives).append(item)
    dropped = 0
    if negative_ratio is not None and negatives:
        keep = negatives_wanted(len(positives), negative_ratio, image.id)
        if len(negatives) > keep:
            negatives.sort(key=lambda p: hashlib.sha256((image.id + p["question"]).encode()).hexdigest())
            dropped = len(negatives) - keep
            negatives = negatives[:keep]
    # keep the teacher's order
    chosen = {id(p) for p in positives + negatives}
    ordered = [p for p in _in_order(rows, positives, negatives) if id(p) in chosen]
    prov = provenance.model_dump(mode="json", exclude_none=True)
    return [pair_dict(image, p["question"], p["answer"], p["negative"], prov) for p in ordered], dropped


def pair_dict(
    image: ImageRecord | PairsOf, question: str, answer: str, negative: bool, provenance: dict[str, Any]
) -> dict[str, Any]:
    """``QARecord(...).model_dump(mode="json", exclude_none=True)`` of a new pair, the same dict
    (keys in the same order) without a model per pair: at 100,000 images, 300,000 of them
    (tests/teach/test_pairs.py holds it to the model's)."""
    record: dict[str, Any] = {
        "id": QARecord.make_id(image.id, question),
        "image_id": image.id,
        "question": question,
        "answer": answer,
    }
    if image.category is not None:
        record["category"] = image.category
    record["negative"] = negative
    record["provenance"] = dict(provenance)
    record["review"] = "pending"
    record["flags"] = []
    return record


def _in_order(rows: list[dict], positives: list[dict], negatives: list[dict]) -> list[dict]:
    by_q = {p["question"]: p for p in positives + negatives}
    return [by_q[r["question"].strip()] for r in rows if r["question"].strip() in by_q]

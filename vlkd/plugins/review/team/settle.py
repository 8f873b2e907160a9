"""The team's decisions replayed: each reviewer's own copy of a pair, and where the pair stands.

The team log (``RUN_DIR/review-imports/team.jsonl``) holds two kinds of line, each made by
:func:`vlkd.plugins.review.decisions.decide` on the version its author saw:

- ``{"kind": "review", "reviewer": "li", ...}``: a reviewer's decision, applied to *their copy*
  of the pair (the teacher's pair with their own decisions on it): reviewers never overwrite
  each other, and nobody's decision depends on another's;
- ``{"kind": "adjudication", "reviewer": "zhao", "originals": {...}, "teacher": {...}, ...}``:
  a lead's decision, final, with every reviewer's decision and the teacher's pair as they were.

A pair is *settled* when a lead decided it, or when every reviewer it is assigned to decided
it and they agree: the same status and, unless rejected, the same question, answer and
``negative`` after the metrics' normalisation (:func:`vlkd.metrics.normalize.normalize_answer`).
Two decisions that differ go to the lead (``disagree``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vlkd.api import QARecord
from vlkd.plugins.review import decisions

LOG = "team.jsonl"
REVIEW = "review"
ADJUDICATION = "adjudication"

#: where a pair stands
AGREED, SINGLE, ADJUDICATED, DISAGREE, WAITING, OPEN, ADDED = (
    "agreed",
    "single",
    "adjudicated",
    "disagree",
    "waiting",
    "open",
    "added",  # a pair an expert (a lead) added: their decision already
)
SETTLED = (AGREED, SINGLE, ADJUDICATED, ADDED)


#: what the audit keeps of one version of a pair
FIELDS = ("review", "question", "answer", "negative", "comment")


def summary(pair: QARecord) -> dict[str, Any]:
    """What the audit keeps of one version of a pair."""
    return {k: getattr(pair, k) for k in FIELDS}


def same_decision(a: QARecord, b: QARecord) -> bool:
    """Two reviewers' decisions agree: same status, and (unless rejected) the same text after
    normalisation and the same ``negative``."""
    from vlkd.metrics.normalize import normalize_answer

    if a.review != b.review:
        return False
    if a.review == "rejected":
        return True
    return (
        a.negative == b.negative
        and normalize_answer(a.answer) == normalize_answer(b.answer)
        and normalize_answer(a.question) == normalize_answer(b.question)
    )


@dataclass
class Replayed:
    """The team log applied to the base pairs (keyed however the caller keys pairs)."""

    views: dict[str, dict[Any, QARecord]] = field(default_factory=dict)  # reviewer -> key -> copy
    order: dict[Any, list[str]] = field(default_factory=dict)  # key -> reviewers, first decision first
    finals: dict[Any, QARecord] = field(default_factory=dict)  # key -> the lead's final version
    final_entries: dict[Any, dict[str, Any]] = field(default_factory=dict)
    touched: dict[str, set[str]] = field(default_factory=dict)  # reviewer -> images they decided on

    def copy(self, reviewer: str, key: Any, base: QARecord) -> QARecord:
        return self.views.get(reviewer, {}).get(key, base)

    def decided(self, key: Any) -> dict[str, QARecord]:
        """reviewer -> their decided (not pending) copy of the pair, in the order they first decided."""
        out = {}
        for name in self.order.get(key, []):
            copy = self.views.get(name, {}).get(key)
            if copy is not None and copy.review != "pending":
                out[name] = copy
        return out

    def apply(self, entry: dict[str, Any], key: Any, base: QARecord | None) -> None:
        """Apply one line of the team log (``base``: the pair before any team decision)."""
        kind = entry.get("kind")
        name = entry.get("reviewer") or "?"
        if kind == ADJUDICATION:
            current = self.finals.get(key, base)
            self.finals[key] = decisions.apply(None if entry["action"] == "add" else current, entry)
            self.final_entries[key] = entry
        elif kind == REVIEW and base is not None:
            mine = self.views.setdefault(name, {})
            mine[key] = decisions.apply(mine.get(key, base), entry)
            self.touched.setdefault(name, set()).add(entry.get("image_id") or "")
            order = self.order.setdefault(key, [])
            if name not in order:
                order.append(name)

    def final(self, key: Any) -> QARecord | None:
        found = self.finals.get(key)
        return found if found is not None and found.review != "pending" else None

    def standing(
        self, key: Any, assigned: tuple[str, ...], base: QARecord | None = None, *, added: bool = False
    ) -> str:
        """Where the pair stands: one of AGREED, SINGLE, ADJUDICATED, DISAGREE, WAITING, OPEN, ADDED
        (``base``, the pair before team decisions, or ``added`` say whether an expert added it)."""
        if self.final(key) is not None:
            return ADJUDICATED
        decided = list(self.decided(key).values())
        if not decided and (added or (base is not None and base.provenance.plugin == "review")):
            return ADDED
        if len(decided) >= 2 and not all(same_decision(decided[0], d) for d in decided[1:]):
            return DISAGREE
        if not decided:
            return OPEN
        needed = max(1, len(assigned))
        if len(decided) < needed:
            return WAITING
        return SINGLE if len(decided) == 1 else AGREED

    def settled(self, key: Any, assigned: tuple[str, ...], base: QARecord | None = None) -> QARecord | None:
        """The pair as the team settled it, or None while it is not settled."""
        state = self.standing(key, assigned, base)
        if state == ADDED:
            return base
        if state == ADJUDICATED:
            return self.final(key)
        if state in (AGREED, SINGLE):
            return next(iter(self.decided(key).values()))  # the first decision made
        return None


def adjudication_extras(replayed: Replayed, key: Any, base: QARecord) -> dict[str, Any]:
    """What a lead's decision records beside it: every reviewer's decision and the teacher's pair."""
    return {
        "originals": {name: summary(copy) for name, copy in replayed.decided(key).items()},
        "teacher": summary(base),
    }

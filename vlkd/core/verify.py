"""The check plugin API of the ``verify`` stage: one image and its pairs in, doubts out.

A check (a :class:`Verifier`) reads an image and the teacher's pairs about it and raises
doubts with ``found.flag(pair, flag, reason)``; it records what it decided about a pair
(e.g. that an answer is extractive) with ``found.record(pair, key=value)`` and notes about
the image with ``found.note(text)``. It never changes a question or an answer: the driver
(``vlkd.verify.driver``) attaches the flags, journals each image in the stage ledger
(a killed stage resumes per image) and drops flagged pairs only where a check's ``drop``
option names the flag.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field

from vlkd.core.options import PluginOptions
from vlkd.core.plugin import Plugin
from vlkd.core.records import Flag

if TYPE_CHECKING:
    from vlkd.core.context import StageContext
    from vlkd.core.records import ImageRecord, QARecord

#: raised by the driver (for any check) when an image cannot be checked at all
UNVERIFIABLE = "unverifiable"
#: :func:`review_rank`: a doubt was raised (review first), no flag, only reassuring flags (last)
DOUBTED, UNFLAGGED, REASSURED = 0, 1, 2
#: what a check records (``found.record``) as the student's own answer to a pair, and its agreement
STUDENT_ANSWER, AGREEMENT = "student_answer", "agreement"


def is_doubt(flag: Flag) -> bool:
    """Whether ``flag`` doubts its pair (every flag, unless raised with ``doubt=False``)."""
    return (flag.model_extra or {}).get("doubt", True) is not False


def review_rank(flags: list[Flag]) -> int:
    """Where a pair goes in the review queue: :data:`DOUBTED` first, then :data:`UNFLAGGED`, then
    :data:`REASSURED` (only flags that are no doubt: the student already knows it)."""
    if any(is_doubt(f) for f in flags):
        return DOUBTED
    return REASSURED if flags else UNFLAGGED


def student_answer(pair: QARecord) -> tuple[str, float | None] | None:
    """(the student's answer, its agreement with the teacher's) as a check recorded them, or None."""
    for values in ((pair.model_extra or {}).get("checks") or {}).values():
        if isinstance(values, dict) and isinstance(values.get(STUDENT_ANSWER), str):
            agreement = values.get(AGREEMENT)
            return values[STUDENT_ANSWER], agreement if isinstance(agreement, (int, float)) else None
    return None


class VerifierOptions(PluginOptions):
    """Options every check accepts. A check narrows ``drop`` to the flags it raises."""

    drop: list[str] = Field(
        default_factory=list,
        description="drop pairs this check flags with these flags (default: keep every pair, "
        "flags only inform review)",
    )


@dataclass
class Findings:
    """What one check found about one image: flags per pair, decisions per pair, notes."""

    check: str
    flags: list[tuple[str, Flag]] = field(default_factory=list)
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def flag(self, pair: QARecord, flag: str, reason: str, **extra: Any) -> None:
        """Raise ``flag`` on ``pair``; ``doubt=False`` marks a flag that reassures rather than
        doubts (``student_knows``: the student already gives the teacher's answer), which review
        puts last (:func:`review_rank`)."""
        self.flags.append((pair.id, Flag(check=self.check, flag=flag, reason=reason, **extra)))

    def record(self, pair: QARecord, **values: Any) -> None:
        """Keep a decision about a pair (in the pair's ``checks.<check>`` field, for people and reports)."""
        self.records.setdefault(pair.id, {}).update(values)

    def note(self, text: str) -> None:
        self.notes.append(text)


class Verifier(Plugin):
    """Base of ``verify`` checks: implement :meth:`check`; :meth:`start` when the check needs
    every image first (duplicates across images) or a service (a second teacher's calls)."""

    Options: ClassVar[type[VerifierOptions]] = VerifierOptions
    options: VerifierOptions
    #: the flags this check can raise (documented by ``vlkd plugins``; ``drop`` accepts these)
    flags: ClassVar[tuple[str, ...]] = ()

    def start(self, ctx: StageContext, images: list[ImageRecord], pairs: dict[str, list[QARecord]]) -> None:
        """Called once before the per-image loop with every image that has pairs (in order)."""

    def check(self, image: ImageRecord, pairs: list[QARecord], found: Findings) -> None:
        raise NotImplementedError

    def finish(self, ctx: StageContext) -> dict[str, Any]:
        """Called once after the loop; returns facts for the stage's manifest entry."""
        return {}

    def estimate(self, ctx: StageContext, images: list[ImageRecord] | None) -> list[str]:
        """``vlkd run --dry-run``: what the check will do (calls, cost); offline checks say nothing."""
        return []

"""The ``negative`` flag follows the answer.

An expert who changes a "不存在" answer into a part number has answered the question, so the
pair is no longer a not-present question; one who writes "不存在" has made it one. Wherever a
pair is edited (the page, the sheet, ``vlkd review import``, ``review.edits``) the flag is set
from the new answer unless the expert set the flag too; a flag set against the answer is
refused with the reason, never kept silently.
"""

from __future__ import annotations

from vlkd.api import QARecord
from vlkd.metrics.not_present import DEFAULT_NOT_PRESENT, is_not_present


def says_not_present(answer: str, pair: QARecord | None) -> bool:
    """``answer`` says the information is not in the image (the pair's own negative answer, or
    one of the usual spellings of "不存在")."""
    word = pair.answer if pair is not None and pair.negative else DEFAULT_NOT_PRESENT
    return is_not_present(answer, word)


def negative_after(pair: QARecord | None, answer: str, negative: bool | None) -> tuple[bool, str | None]:
    """The flag after an edit that leaves ``answer`` and asks for ``negative`` (``None``: not
    given), and why the edit must be refused (``None`` when it may be applied).

    A flag left as it was (or, for a new pair, not set) follows the answer when the answer
    changed; a flag the expert changed must agree with the answer.
    """
    before = pair.negative if pair is not None else False
    if pair is not None and answer.strip() == pair.answer.strip():
        return (before if negative is None else negative), None
    says = says_not_present(answer, pair)
    if negative is None or negative == before:
        return says, None
    if negative == says:
        return negative, None
    if negative:
        return negative, (
            f"negative is true but the answer '{answer}' does not say the information is missing: "
            f"set negative to false, or the answer to '{DEFAULT_NOT_PRESENT}'"
        )
    return negative, (
        f"negative is false but the answer '{answer}' says the information is not in the image: "
        f"set negative to true, or write the answer"
    )

"""What each figure of the report rests on, so that it does not oversell.

A gain measured on references the experts wrote is not one measured on the teacher's own
answers that nobody reviewed (auto-approval); a student that gives one answer to most questions
of a category scores there by luck (its answer happens to be some references), not by reading the
image. Per category: how many references experts wrote or corrected and how many are the
teacher's, and a warning where the student answers one thing to most questions.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import TYPE_CHECKING

from vlkd.metrics.normalize import normalize_answer
from vlkd.plugins.report.collect import ReportData

if TYPE_CHECKING:
    from vlkd.api import Prediction

#: a student whose commonest answer covers more than this share of a group's questions is flagged
ONE_ANSWER_SHARE = 0.5
#: groups smaller than this are not flagged (three questions with one answer may be right)
MIN_ITEMS = 4


def one_answer(predictions: list[Prediction]) -> tuple[str, int] | None:
    """(the answer, how many times) when one answer covers most questions and more of them than
    the references give it; else None."""
    if len(predictions) < MIN_ITEMS:
        return None
    said = Counter(normalize_answer(p.prediction) for p in predictions)
    answer, count = said.most_common(1)[0]
    expected = sum(normalize_answer(p.reference) == answer for p in predictions)
    if count / len(predictions) <= ONE_ANSWER_SHARE or count <= expected:
        return None
    shown = next(p.prediction for p in predictions if normalize_answer(p.prediction) == answer)
    return shown.strip(), count


def basis_lines(data: ReportData, system: str = "tuned") -> list[str]:
    """One line per category (and one for all questions when the student repeats itself)."""
    preds = [p for p in data.predictions if p.system == system]
    if not preds or data.metrics is None:
        return []
    by_expert = {
        p.id for p in data.pairs if p.review == "edited" or (p.provenance and p.provenance.model == "expert")
    }
    review = (data.manifest.stages.get("review") or {}).get("facts") or {}
    auto = bool(review.get("auto_approved"))
    groups: dict[str, list[Prediction]] = defaultdict(list)
    for p in preds:
        groups[p.category or "uncategorized"].append(p)
    results = (data.metrics.results or {}).get(system, {}).get("categories", {})
    lines = []
    for category, items in sorted(groups.items()):
        n = len(items)
        experts = sum(p.id in by_expert for p in items)
        value = (results.get(category, {}).get("exact_match") or {}).get("value")
        score = "–" if value is None else f"{value * 100:.1f}%"
        teacher = n - experts
        rests = (
            f"{experts} of {n} references written or corrected by experts"
            if experts
            else f"all {n} references are the teacher's answers"
        )
        if teacher and experts:
            rests += f", {teacher} the teacher's"
        if teacher and auto:
            rests += " (auto-approved: nobody checked them)"
        line = f"{category.replace('_', ' ')}: {system} {score} exact match; {rests}"
        repeated = one_answer(items)
        if repeated:
            answer, count = repeated
            line += (
                f". The {system} student answers '{answer}' to {count} of {n} questions: its score here "
                "comes from that answer matching some references, not from reading the image"
            )
        lines.append(line + ".")
    overall = one_answer(preds)
    if overall and len(groups) > 1:
        answer, count = overall
        lines.append(
            f"Over all {len(preds)} questions the {system} student answers '{answer}' {count} times."
        )
    return lines

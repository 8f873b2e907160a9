"""The teacher as a reference row: its raw answers scored against the reviewed answers.

The teach stage's ``pairs.jsonl`` holds what the teacher said; the pairs the evaluate stage
reads hold what the experts kept (edited or approved). Scoring one against the other says
how often the teacher was right, on the same test items as the students. Without a review
stage the references *are* the teacher's answers: the row would be 1.0 by construction, so
it is left out, and ``metrics.json`` says why.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vlkd.api import RunDir, read_pairs


def teacher_answers(run_dir: Path, stages: list[str]) -> tuple[dict[str, str] | None, str | None]:
    """``({pair id: teacher answer}, None)``, or ``(None, why not)``."""
    if "teach" not in stages:
        return None, "no teach stage in this recipe: the teacher's own answers are not in the run"
    if "review" not in stages:
        return None, (
            "no review stage: the test answers are the teacher's own, so the teacher row would "
            "score 1.0 by construction and is left out"
        )
    path = RunDir(run_dir).artifact("pairs", stages=["teach"])
    assert path is not None  # the teach stage makes pairs
    if not path.exists():
        return None, f"{path} is missing"
    return {rec.id: rec.answer for rec in read_pairs(path)}, None


def teacher_summary(answers: dict[str, str], references: dict[str, str]) -> dict[str, Any]:
    """How many test items the teacher answered and how many of those the experts changed."""
    answered = [i for i in references if i in answers]
    return {
        "items": len(answered),
        "added_by_reviewers": len(references) - len(answered),
        "edited_by_reviewers": sum(1 for i in answered if answers[i].strip() != references[i].strip()),
    }

"""The items to look at, and their images.

- with an evaluation: the tuned student's best gains and worst regressions over the base one,
  and its "not present" mistakes (``不存在`` where the image shows the answer, or an answer
  where the image does not);
- without one: a few pairs of each category, so a teacher-only run still shows what it made.

Images are embedded twice: a small JPEG thumbnail in the page, and a larger JPEG that opens
when the thumbnail is clicked (a CSS ``:target`` overlay: no script, no external file).
"""

from __future__ import annotations

import base64
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from vlkd.api import ImageRecord, Prediction, QARecord


@dataclass
class Example:
    question: str
    reference: str
    image: str  # the file, as recorded in the run
    category: str | None = None
    answers: dict[str, str] = field(default_factory=dict)  # row -> prediction
    change: float | None = None  # tuned - base ANLS
    note: str = ""
    id: str = ""


def pick_examples(predictions: list[Prediction], k: int = 5) -> dict[str, list[Example]]:
    """``gains``, ``regressions`` (ranked by tuned − base ANLS, exact match breaking ties) and
    ``not_present`` mistakes of the tuned student (those not already among the regressions), ``k`` each."""
    by_system: dict[str, dict[str, Prediction]] = defaultdict(dict)
    for p in predictions:
        by_system[p.system][p.id] = p
    base, tuned, teacher = by_system.get("base", {}), by_system.get("tuned", {}), by_system.get("teacher", {})
    rows: list[tuple[tuple[float, float], Example]] = []
    mistakes: list[Example] = []
    for item_id, t in sorted(tuned.items()):
        answers = {"tuned": t.prediction}
        if item_id in base:
            answers = {"base": base[item_id].prediction, **answers}
        if item_id in teacher:
            answers["teacher"] = teacher[item_id].prediction
        example = Example(
            t.question,
            t.reference,
            t.image,
            t.category,
            answers,
            id=item_id,
        )
        s = t.scores
        if s.get("reference_not_present") != s.get("predicted_not_present"):
            said = (
                "said 'not present', but the image shows it"
                if s.get("predicted_not_present")
                else "gave no answer where it should say 'not present'"
                if not t.prediction.strip()
                else "answered, but the image does not show it"
            )
            mistakes.append(Example(**{**example.__dict__, "note": f"the tuned student {said}"}))
        b = base.get(item_id)
        if b is None:
            continue
        change = (
            s.get("anls", 0) - b.scores.get("anls", 0),
            s.get("exact_match", 0) - b.scores.get("exact_match", 0),
        )
        if change != (0, 0):
            example.change = change[0]
            rows.append((change, example))
    rows.sort(key=lambda r: r[0])
    regressions = [e for c, e in rows if c < (0, 0)][:k]
    gains = [e for c, e in reversed(rows) if c > (0, 0)][:k]
    shown = {e.id for e in gains + regressions}  # a mistake already on the page is not shown twice
    return {
        "gains": gains,
        "regressions": regressions,
        "not_present": [e for e in mistakes if e.id not in shown][:k],
    }


def data_examples(
    pairs: list[QARecord], images: dict[str, ImageRecord], per_category: int = 3
) -> list[Example]:
    """A few pairs of each category, one per image first, with a not-present one among them."""
    by_category: dict[str, list[QARecord]] = defaultdict(list)
    for p in pairs:
        if p.review != "rejected":
            by_category[p.category or "uncategorized"].append(p)
    out = []
    for category, group in sorted(by_category.items()):
        picked: list[QARecord] = []
        seen: set[str] = set()
        all_images = {q.image_id for q in group}
        for p in [q for q in group if q.negative][:1] + group:
            if len(picked) >= per_category:
                break
            if p in picked or (p.image_id in seen and len(seen) < len(all_images)):
                continue
            picked.append(p)
            seen.add(p.image_id)
        for p in picked:
            flags = ", ".join(f"{f.check}: {f.flag}" for f in p.flags)
            image = images.get(p.image_id)
            out.append(
                Example(
                    question=p.question,
                    reference=p.answer,
                    image=image.path if image else "",
                    category=category,
                    note=("flagged: " + flags) if flags else ("not present" if p.negative else ""),
                    id=p.id,
                )
            )
    return out


def image_url(path: str | Path, size: int, quality: int = 80) -> str | None:
    """A JPEG ``data:`` URL of the image scaled to fit ``size`` px; ``None`` when unreadable."""
    from vlkd.images.decode import BadImage
    from vlkd.images.files import thumbnail

    try:
        data, _, _ = thumbnail(path, size, format="JPEG", quality=quality)
    except BadImage:
        return None
    return "data:image/jpeg;base64," + base64.b64encode(data).decode("ascii")

"""What the checks were worth, once experts have reviewed: per flag precision and recall.

- a pair is *reviewed* when an expert approved, edited or rejected it (an automatic approval,
  ``auto_approve``, is no expert's decision; pairs the experts added were no teacher's);
- it is *changed* when the expert edited or rejected it;
- a flag's **precision** is the share of its reviewed pairs that were changed (how often a
  flag was right to send a pair to the experts); its **recall** the share of changed pairs
  it flagged (how many of the teacher's mistakes it found); ``any`` is any flag at all;
- the teacher's **accuracy** is the share of reviewed pairs that survived unchanged.

All of it overall and per category, with the counts behind each share (``None`` where the
count is 0), in the review stage's facts in ``manifest.json`` and in the report.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from vlkd.api import QARecord

CHANGED = ("edited", "rejected")
REVIEWED = ("approved", *CHANGED)


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def expert_reviewed(pairs: Iterable[QARecord], changes: Iterable[dict[str, Any]]) -> list[QARecord]:
    """The teacher's pairs an expert decided on (not auto-approved, not added by the experts)."""
    auto = {c["pair_id"] for c in changes if c.get("action") == "auto_approve"}
    out = []
    for p in pairs:
        if p.provenance.plugin == "review":
            continue
        if p.review not in REVIEWED or (p.id in auto and p.review == "approved"):
            continue
        out.append(p)
    return out


def _block(pairs: list[QARecord]) -> dict[str, Any]:
    changed = [p for p in pairs if p.review in CHANGED]
    by_flag: dict[str, list[QARecord]] = defaultdict(list)
    for p in pairs:
        names = {f.flag for f in p.flags}
        for name in names:
            by_flag[name].append(p)
        if names:
            by_flag["any"].append(p)
    flags = {}
    for name, flagged in sorted(by_flag.items()):
        hits = sum(p.review in CHANGED for p in flagged)
        flags[name] = {
            "flagged": len(flagged),
            "changed": hits,
            "precision": _share(hits, len(flagged)),
            "recall": _share(hits, len(changed)),
        }
    return {
        "reviewed": len(pairs),
        "changed": len(changed),
        "teacher_accuracy": _share(len(pairs) - len(changed), len(pairs)),
        "flags": flags,
    }


def check_value(pairs: Iterable[QARecord], changes: Iterable[dict[str, Any]] = ()) -> dict[str, Any]:
    """Precision and recall of each flag and the teacher's accuracy, overall and per category."""
    reviewed = expert_reviewed(list(pairs), list(changes))
    per_category: dict[str, list[QARecord]] = defaultdict(list)
    for p in reviewed:
        per_category[p.category or "(none)"].append(p)
    return {
        **_block(reviewed),
        "per_category": {c: _block(ps) for c, ps in sorted(per_category.items())},
    }

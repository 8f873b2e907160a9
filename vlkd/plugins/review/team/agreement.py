"""How far the reviewers, and the teacher, can be trusted: agreement figures of a team review.

Per category and overall, over the pairs that two or more reviewers decided:

- ``observed``: the share of reviewer pairs that gave the same status (approved, edited, rejected);
- ``kappa`` (Cohen's, :func:`cohen_kappa`) when the same two reviewers decided
  every such pair, else ``alpha`` (Krippendorff's, nominal, the ``krippendorff`` package, which
  allows any number of reviewers per pair): agreement beyond chance, 1 perfect, 0 chance;
- ``edited_same``: of the pairs that at least one reviewer edited, the share that every
  reviewer edited to the same text (after the metrics' normalisation).

Per reviewer: their decisions, ``observed`` agreement with the other reviewers of the same
pairs, and ``with_result``: agreement with the settled result of the pairs that were decided
twice or adjudicated (a pair only they decided would agree with itself). The teacher:
the share of settled pairs that kept its answer (not rejected, same text after normalisation).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import combinations
from typing import Any

from vlkd.api import QARecord
from vlkd.plugins.review.team.settle import same_decision

LABELS = ("approved", "edited", "rejected")


@dataclass
class Item:
    """One pair as the figures see it."""

    category: str
    decisions: dict[str, QARecord]  # reviewer -> their decided copy
    settled: QARecord | None
    teacher: QARecord
    adjudicated: bool = False


def figures(items: Iterable[Item]) -> dict[str, Any]:
    items = list(items)
    categories = sorted({i.category for i in items})
    return {
        "overall": _block(items),
        "per_category": {c: _block([i for i in items if i.category == c]) for c in categories},
        "per_reviewer": _reviewers(items),
        "teacher": _teacher(items),
        "settled": sum(i.settled is not None for i in items),
        "adjudicated": sum(i.adjudicated for i in items),
        "pairs": len(items),
    }


def _block(items: list[Item]) -> dict[str, Any]:
    multi = [i for i in items if len(i.decisions) >= 2]
    agree = total = 0
    for item in multi:
        for a, b in combinations(item.decisions.values(), 2):
            total += 1
            agree += a.review == b.review
    edited = [i for i in multi if any(d.review == "edited" for d in i.decisions.values())]
    same = [i for i in edited if _all_same_edit(list(i.decisions.values()))]
    block: dict[str, Any] = {
        "pairs": len(multi),
        "observed": agree / total if total else None,
        "edited": len(edited),
        "edited_same": len(same) / len(edited) if edited else None,
    }
    raters = sorted({name for i in multi for name in i.decisions})
    if len(raters) == 2 and all(len(i.decisions) == 2 for i in multi):
        block["kappa"] = cohen_kappa(
            [i.decisions[raters[0]].review for i in multi], [i.decisions[raters[1]].review for i in multi]
        )
    elif multi:
        block["alpha"] = krippendorff_alpha(
            [[i.decisions[r].review if r in i.decisions else None for i in multi] for r in raters]
        )
    return block


def _all_same_edit(decided: list[QARecord]) -> bool:
    return all(d.review == "edited" for d in decided) and all(
        same_decision(decided[0], d) for d in decided[1:]
    )


def _reviewers(items: list[Item]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name in sorted({n for i in items for n in i.decisions}):
        mine = [i for i in items if name in i.decisions]
        agree = total = 0
        for item in mine:
            for other, theirs in item.decisions.items():
                if other != name:
                    total += 1
                    agree += theirs.review == item.decisions[name].review
        judged = [i for i in mine if i.settled is not None and (len(i.decisions) >= 2 or i.adjudicated)]
        matched = sum(same_decision(i.decisions[name], i.settled) for i in judged if i.settled is not None)
        out[name] = {
            "decided": len(mine),
            "compared": total,
            "observed": agree / total if total else None,
            "judged": len(judged),
            "with_result": matched / len(judged) if judged else None,
        }
    return out


def _teacher(items: list[Item]) -> dict[str, Any]:
    from vlkd.metrics.normalize import normalize_answer

    settled = [i for i in items if i.settled is not None]
    kept = 0
    for item in settled:
        s, t = item.settled, item.teacher
        assert s is not None
        kept += (
            s.review != "rejected"
            and s.negative == t.negative
            and normalize_answer(s.answer) == normalize_answer(t.answer)
            and normalize_answer(s.question) == normalize_answer(t.question)
        )
    return {"settled": len(settled), "agreement": kept / len(settled) if settled else None}


def cohen_kappa(a: list[str], b: list[str]) -> float | None:
    """Cohen's kappa of two reviewers' labels (None when chance agreement is certain).

    ``(po - pe) / (1 - pe)``: ``po`` the share of items both labelled alike, ``pe`` the agreement
    their own label frequencies give by chance (the sum over labels of the product of the two
    shares). Written out rather than imported: scikit-learn's ``cohen_kappa_score`` computes the
    same, but installing scikit-learn makes transformers import it (``sklearn.metrics``, with
    scipy and pandas: about 3 s) in every process that loads a model.
    """
    if len(a) != len(b):
        raise ValueError(f"cohen_kappa: {len(a)} labels against {len(b)}")
    n = len(a)
    if n == 0:
        return None
    po = sum(x == y for x, y in zip(a, b, strict=True)) / n
    pe = sum(a.count(label) * b.count(label) for label in set(a) | set(b)) / (n * n)
    if pe >= 1.0:
        return None  # both gave one and the same label throughout: agreement beyond chance undefined
    return (po - pe) / (1.0 - pe)


def krippendorff_alpha(rows: list[list[str | None]]) -> float | None:
    """Krippendorff's alpha (nominal) of reviewers x pairs, None where a reviewer did not decide."""
    import krippendorff
    import numpy as np

    codes = {label: float(n) for n, label in enumerate(LABELS)}
    data = np.array([[codes[v] if v is not None else np.nan for v in row] for row in rows], dtype=float)
    try:
        value = float(krippendorff.alpha(reliability_data=data, level_of_measurement="nominal"))
    except (ValueError, ZeroDivisionError):  # one value only: agreement beyond chance is undefined
        return None
    return None if math.isnan(value) else value


def warm_up() -> None:
    """Import krippendorff (and numpy) in a background thread, which a lead opening the figures
    should not wait for."""
    import threading

    def load() -> None:
        import contextlib

        with contextlib.suppress(ImportError):
            import krippendorff  # noqa: F401

    if missing_libraries() is None:
        threading.Thread(target=load, name="vlkd-review-figures", daemon=True).start()


def missing_libraries() -> str | None:
    import importlib.util

    missing = [m for m in ("krippendorff",) if importlib.util.find_spec(m) is None]
    if missing:
        return f'agreement figures need {", ".join(missing)}: pip install "vlkd[review]"'
    return None

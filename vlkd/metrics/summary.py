"""Per-item scores aggregated per system, overall and per category, with bootstrap intervals.

``score_item`` scores one prediction; ``summarize`` turns the scored predictions of every
system into the ``metrics.json`` structure::

    {"format": 1, "metrics": [{"name", "label"}...], "systems": [...], "categories": [...],
     "results": {system: {"overall": GROUP, "categories": {category: GROUP}}},
     "deltas": {"base->tuned": {"from", "to", "overall": DELTA, "categories": {...}}},
     "bootstrap": {"samples", "seed", "confidence"}}
    GROUP = {"n": items, METRIC: {"value": v, "ci": [low, high] | null, "n": items it applies to}}
    DELTA = {"n": paired items, METRIC: {"value": tuned - base, "ci": [low, high] | null}}

``judge_accuracy`` appears only when an LLM judge graded some answers. A value is ``null``
where a metric does not apply (no quantity answers, no not-present
question and no not-present prediction).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from vlkd.metrics.bootstrap import bootstrap_ci, paired_bootstrap_delta
from vlkd.metrics.not_present import DEFAULT_NOT_PRESENT, NotPresentCounts, is_not_present
from vlkd.metrics.scores import anls, anls_docvqa, exact_match, relaxed_accuracy

UNCATEGORIZED = "uncategorized"
METRICS: tuple[tuple[str, str], ...] = (
    ("exact_match", "Exact match"),
    ("anls", "ANLS (vlkd)"),
    ("anls_docvqa", "ANLS (DocVQA script)"),
    ("relaxed_accuracy", "Relaxed accuracy"),
    ("not_present_precision", "Not-present precision"),
    ("not_present_recall", "Not-present recall"),
    ("not_present_f1", "Not-present F1"),
    ("judge_accuracy", "LLM judge accuracy"),
)
#: metrics that appear only when some item has the score (the judge is optional)
OPTIONAL = {"judge_accuracy"}
# columns of an item's count vector
_EM, _ANLS, _RELAXED, _RELAXED_N, _TP, _FP, _FN, _N, _JUDGE, _JUDGE_N, _ANLS_D = range(11)
_WIDTH = 11


def score_item(
    prediction: str,
    references: str | Sequence[str],
    *,
    negative: bool = False,
    not_present: str = DEFAULT_NOT_PRESENT,
    tau: float = 0.5,
    tolerance: float = 0.05,
) -> dict[str, Any]:
    """All per-item scores of one prediction (what ``predictions.jsonl`` records)."""
    refs = [references] if isinstance(references, str) else list(references)
    ref_negative = negative or any(is_not_present(r, not_present) for r in refs)
    return {
        "exact_match": exact_match(prediction, refs),
        "anls": anls(prediction, refs, tau),
        "anls_docvqa": anls_docvqa(prediction, refs),
        "relaxed_accuracy": relaxed_accuracy(prediction, refs, tolerance),
        "reference_not_present": ref_negative,
        "predicted_not_present": is_not_present(prediction, not_present),
    }


def item_vector(scores: dict[str, Any]) -> list[float]:
    relaxed = scores.get("relaxed_accuracy")
    counts = NotPresentCounts()
    counts.add(bool(scores["reference_not_present"]), bool(scores["predicted_not_present"]))
    judge = scores.get("judge")
    return [
        float(scores["exact_match"]),
        float(scores["anls"]),
        float(relaxed or 0.0),
        0.0 if relaxed is None else 1.0,
        counts.tp,
        counts.fp,
        counts.fn,
        1.0,
        float(judge or 0.0),
        0.0 if judge is None else 1.0,
        float(scores["anls_docvqa"]),
    ]


def statistic(sums: list[float]) -> dict[str, float | None]:
    """The metrics from summed item vectors."""
    n = sums[_N]
    counts = NotPresentCounts(tp=int(sums[_TP]), fp=int(sums[_FP]), fn=int(sums[_FN]))
    return {
        "exact_match": sums[_EM] / n if n else None,
        "anls": sums[_ANLS] / n if n else None,
        "anls_docvqa": sums[_ANLS_D] / n if n else None,
        "relaxed_accuracy": sums[_RELAXED] / sums[_RELAXED_N] if sums[_RELAXED_N] else None,
        "not_present_precision": counts.precision,
        "not_present_recall": counts.recall,
        "not_present_f1": counts.f1,
        "judge_accuracy": sums[_JUDGE] / sums[_JUDGE_N] if sums[_JUDGE_N] else None,
    }


def _applies(sums: list[float]) -> dict[str, int]:
    n = int(sums[_N])
    return {
        "exact_match": n,
        "anls": n,
        "anls_docvqa": n,
        "relaxed_accuracy": int(sums[_RELAXED_N]),
        "not_present_precision": int(sums[_TP] + sums[_FP]),
        "not_present_recall": int(sums[_TP] + sums[_FN]),
        "not_present_f1": int(sums[_TP] + sums[_FP] + sums[_FN]),
        "judge_accuracy": int(sums[_JUDGE_N]),
    }


def _total(vectors: Sequence[Sequence[float]]) -> list[float]:
    if len(vectors) == 0:
        return [0.0] * _WIDTH
    import numpy as np

    return np.asarray(vectors, dtype=np.float64).sum(axis=0).tolist()


def _array(vectors: Sequence[Sequence[float]]) -> Any:
    """The item vectors as one (items x columns) array: converted once, summed and resampled."""
    import numpy as np

    return np.asarray(vectors, dtype=np.float64).reshape(len(vectors), _WIDTH)


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def group_metrics(
    vectors: Sequence[Sequence[float]],
    *,
    samples: int,
    seed: int,
    confidence: float,
    names: Sequence[str] = tuple(n for n, _ in METRICS if n not in OPTIONAL),
) -> dict[str, Any]:
    vectors = _array(vectors)
    sums = _total(vectors)
    values, applies = statistic(sums), _applies(sums)
    cis = bootstrap_ci(vectors, statistic, samples=samples, seed=seed, confidence=confidence)
    out: dict[str, Any] = {"n": len(vectors)}
    for name in names:
        ci = cis.get(name)
        out[name] = {
            "value": _r(values[name]),
            "ci": [_r(ci[0]), _r(ci[1])] if ci else None,
            "n": applies[name],
        }
    return out


def delta_metrics(
    base: Sequence[Sequence[float]],
    tuned: Sequence[Sequence[float]],
    *,
    samples: int,
    seed: int,
    confidence: float,
    names: Sequence[str] = tuple(n for n, _ in METRICS if n not in OPTIONAL),
) -> dict[str, Any]:
    base, tuned = _array(base), _array(tuned)
    sb, st = statistic(_total(base)), statistic(_total(tuned))
    cis = paired_bootstrap_delta(base, tuned, statistic, samples=samples, seed=seed, confidence=confidence)
    out: dict[str, Any] = {"n": len(base)}
    for name in names:
        value = None if sb[name] is None or st[name] is None else st[name] - sb[name]
        ci = cis.get(name)
        out[name] = {"value": _r(value), "ci": [_r(ci[0]), _r(ci[1])] if ci else None}
    return out


def summarize(
    predictions: Iterable[dict[str, Any]],
    *,
    systems: Sequence[str],
    deltas: Sequence[tuple[str, str]] = (("base", "tuned"),),
    samples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """``metrics.json`` from prediction records carrying ``system``, ``id``, ``category``, ``scores``."""
    by_system: dict[str, dict[str, tuple[str, list[float]]]] = {s: {} for s in systems}
    for rec in predictions:
        if rec["system"] in by_system:
            by_system[rec["system"]][rec["id"]] = (
                rec.get("category") or UNCATEGORIZED,
                item_vector(rec["scores"]),
            )
    categories = sorted({cat for items in by_system.values() for cat, _ in items.values()})
    judged = any(v[_JUDGE_N] for items in by_system.values() for _, v in items.values())
    names = [n for n, _ in METRICS if n not in OPTIONAL or (n == "judge_accuracy" and judged)]
    opts = {"samples": samples, "seed": seed, "confidence": confidence, "names": names}
    results: dict[str, Any] = {}
    for system, items in by_system.items():
        matrix = _array([v for _, v in items.values()])  # once per system; categories are masks of it
        of = [c for c, _ in items.values()]
        results[system] = {"overall": group_metrics(matrix, **opts), "categories": {}}
        for cat in categories:
            rows = [i for i, c in enumerate(of) if c == cat]
            if rows:
                results[system]["categories"][cat] = group_metrics(matrix[rows], **opts)
    delta_out: dict[str, Any] = {}
    for a, b in deltas:
        if a not in by_system or b not in by_system:
            continue
        ids = [i for i in by_system[a] if i in by_system[b]]  # paired: items both systems answered
        entry: dict[str, Any] = {
            "from": a,
            "to": b,
            "overall": delta_metrics(
                [by_system[a][i][1] for i in ids], [by_system[b][i][1] for i in ids], **opts
            ),
            "categories": {},
        }
        for cat in categories:
            cat_ids = [i for i in ids if by_system[a][i][0] == cat]
            if cat_ids:
                entry["categories"][cat] = delta_metrics(
                    [by_system[a][i][1] for i in cat_ids], [by_system[b][i][1] for i in cat_ids], **opts
                )
        delta_out[f"{a}->{b}"] = entry
    return {
        "format": 1,
        "metrics": [{"name": n, "label": label} for n, label in METRICS if n in names],
        "systems": list(systems),
        "categories": categories,
        "results": results,
        "deltas": delta_out,
        "bootstrap": {
            "samples": samples,
            "seed": seed,
            "confidence": confidence,
            "method": "percentile",
            "deltas": "paired",
        },
    }

"""Seeded percentile bootstrap over items, and the paired bootstrap of a difference.

Every metric here is a function of per-item additive counts (a sum and a count for means;
TP/FP/FN for not-present F1), so one resample is a sum of count vectors: cheap enough in
pure Python for test sets of thousands of items. A paired bootstrap draws the same items
for both systems, so the interval of ``tuned - base`` reflects per-item agreement.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence

Vector = Sequence[float]
Statistic = Callable[[list[float]], dict[str, float | None]]


def percentile(sorted_values: list[float], q: float) -> float:
    """Linear-interpolated percentile (``q`` in [0, 1]) of already sorted values."""
    if not sorted_values:
        raise ValueError("percentile of no values")
    pos = (len(sorted_values) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def _columns(vectors: Sequence[Vector]) -> list[list[float]]:
    return [list(col) for col in zip(*vectors, strict=True)]


def _sum(columns: list[list[float]], idx: list[int]) -> list[float]:
    # all-zero columns (no quantity answers, no judge) cost nothing
    return [sum(map(col.__getitem__, idx)) if any(col) else 0.0 for col in columns]


def _interval(draws: dict[str, list[float]], confidence: float) -> dict[str, tuple[float, float] | None]:
    alpha = (1 - confidence) / 2
    out: dict[str, tuple[float, float] | None] = {}
    for name, values in draws.items():
        values.sort()
        out[name] = (percentile(values, alpha), percentile(values, 1 - alpha)) if values else None
    return out


def bootstrap_ci(
    vectors: Sequence[Vector],
    statistic: Statistic,
    *,
    samples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> dict[str, tuple[float, float] | None]:
    """Percentile interval of each metric of ``statistic`` over ``samples`` resamples of items.

    A resample where a metric is undefined (``None``: e.g. no not-present question drawn)
    does not count for that metric; a metric never defined gets ``None``.
    """
    if not vectors or samples <= 0:
        return {}
    rng = random.Random(seed)
    n, columns = len(vectors), _columns(vectors)
    draws: dict[str, list[float]] = {}
    for _ in range(samples):
        idx = rng.choices(range(n), k=n)
        for name, value in statistic(_sum(columns, idx)).items():
            bucket = draws.setdefault(name, [])
            if value is not None:
                bucket.append(value)
    return _interval(draws, confidence)


def paired_bootstrap_delta(
    base: Sequence[Vector],
    tuned: Sequence[Vector],
    statistic: Statistic,
    *,
    samples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> dict[str, tuple[float, float] | None]:
    """Interval of ``statistic(tuned) - statistic(base)``, both computed on the same resampled items."""
    if len(base) != len(tuned):
        raise ValueError(f"paired bootstrap needs the same items: {len(base)} base vs {len(tuned)} tuned")
    if not base or samples <= 0:
        return {}
    rng = random.Random(seed)
    n, base_cols, tuned_cols = len(base), _columns(base), _columns(tuned)
    draws: dict[str, list[float]] = {}
    for _ in range(samples):
        idx = rng.choices(range(n), k=n)
        sb, st = statistic(_sum(base_cols, idx)), statistic(_sum(tuned_cols, idx))
        for name, value in st.items():
            bucket = draws.setdefault(name, [])
            if value is not None and sb.get(name) is not None:
                bucket.append(value - sb[name])
    return _interval(draws, confidence)

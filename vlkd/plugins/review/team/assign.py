"""Which reviewers review which image: deterministic, balanced, the overlap on the riskiest images.

``images`` come in risk order (images with more flagged pairs first, then file order, as the
page's queue). The first ``ceil(overlap_share * n)`` images go to ``overlap`` reviewers each,
the rest to one. Each image goes to the reviewers with the fewest images so far; ties are
broken by a hash of (image, reviewer), so that with three or more reviewers every pair of
reviewers shares some images (which agreement between them needs) and the same inputs
always give the same assignment.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence


def assign(
    images: Sequence[str], reviewers: Sequence[str], overlap: int = 1, overlap_share: float = 1.0
) -> dict[str, tuple[str, ...]]:
    """image id -> the reviewers it is assigned to (sorted by name)."""
    names = sorted(set(reviewers))
    if not names:
        return {}
    per_image = min(overlap, len(names))
    doubled = math.ceil(overlap_share * len(images) - 1e-9) if per_image > 1 else 0
    load = dict.fromkeys(names, 0)
    out: dict[str, tuple[str, ...]] = {}
    for i, image in enumerate(images):
        k = per_image if i < doubled else 1
        chosen = sorted(names, key=lambda name: (load[name], _tie(image, name)))[:k]
        for name in chosen:
            load[name] += 1
        out[image] = tuple(sorted(chosen))
    return out


def _tie(image: str, name: str) -> str:
    return hashlib.sha256(f"{image}\x00{name}".encode()).hexdigest()


def risk_order(images: Sequence[tuple[str, int]]) -> list[str]:
    """Image ids, riskiest first: (id, flagged pairs) in file order -> ids by flags, then file order."""
    order = sorted(range(len(images)), key=lambda i: (-images[i][1], i))
    return [images[i][0] for i in order]

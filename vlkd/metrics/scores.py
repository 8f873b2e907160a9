"""Per-item scores: exact match, ANLS and relaxed accuracy, each best over the references.

- **exact match**: 1 when :func:`normalize_answer` of the prediction equals that of a reference.
- **ANLS** (DocVQA, Biten et al. 2019): ``1 - NL`` where ``NL`` is the Levenshtein distance
  divided by the longer string's length, and 0 when ``NL >= tau`` (``tau = 0.5``); strings are
  NFKC-normalised, case folded and whitespace-collapsed first. Two empty strings score 1.
- **relaxed accuracy** (ChartQA, extended with units): defined only when a reference is a
  quantity answer (numbers with optional units, e.g. ``35 N·m``, ``12.5V``, ``30-35 N·m``);
  the prediction scores 1 when it states the same quantities in order, each number within
  ``tolerance`` (5%) of the reference and with the same unit (``35 N·m`` = ``35 Nm`` != ``35 kg``).
  ``None`` when no reference is a quantity answer (the item is left out of that metric).
"""

from __future__ import annotations

from collections.abc import Sequence

from vlkd.metrics.normalize import light_normalize, normalize_answer
from vlkd.metrics.quantities import parse_quantities


def _refs(references: str | Sequence[str]) -> list[str]:
    return [references] if isinstance(references, str) else list(references)


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insertions, deletions, substitutions), two rows of memory."""
    if len(a) < len(b):
        a, b = b, a
    if not b:
        return len(a)
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def exact_match(prediction: str, references: str | Sequence[str]) -> float:
    pred = normalize_answer(prediction)
    return 1.0 if any(pred == normalize_answer(r) for r in _refs(references)) else 0.0


def anls_single(prediction: str, reference: str, tau: float = 0.5) -> float:
    pred, ref = light_normalize(prediction), light_normalize(reference)
    longest = max(len(pred), len(ref))
    if longest == 0:
        return 1.0
    nl = levenshtein(pred, ref) / longest
    return 0.0 if nl >= tau else 1.0 - nl


def anls(prediction: str, references: str | Sequence[str], tau: float = 0.5) -> float:
    """Average Normalised Levenshtein Similarity of one answer: best over the references."""
    refs = _refs(references)
    if not refs:
        raise ValueError("anls needs at least one reference")
    return max(anls_single(prediction, r, tau) for r in refs)


def _close(pred: float, ref: float, tolerance: float) -> bool:
    if ref == 0:
        return pred == 0
    return abs(pred - ref) / abs(ref) <= tolerance


def relaxed_accuracy(
    prediction: str, references: str | Sequence[str], tolerance: float = 0.05
) -> float | None:
    """1.0 / 0.0 when some reference is a quantity answer, else ``None`` (not applicable)."""
    targets = [q for q in (parse_quantities(r, whole=True) for r in _refs(references)) if q]
    if not targets:
        return None
    found = parse_quantities(prediction, whole=False)
    for target in targets:
        if len(found) == len(target) and all(
            p.unit == t.unit and _close(p.value, t.value, tolerance)
            for p, t in zip(found, target, strict=True)
        ):
            return 1.0
    return 0.0

"""Per-item scores: exact match, two ANLS variants and relaxed accuracy, each best over the references.

- **exact match**: 1 when :func:`normalize_answer` of the prediction equals that of a
  reference, or when both are nothing but quantities and state the same numbers with the same
  units (``35NM`` = ``35 N·m``; ``¥120`` = ``120元``; ``$1,200`` = ``$1200``). The minus sign
  and the percent sign count (``-40°C`` != ``40°C``; ``50%`` != ``50``).
- **ANLS** (``anls``, the paper's definition, Biten et al. 2019): ``1 - NL`` where ``NL`` is
  the Levenshtein distance divided by the longer string's length, and 0 when ``NL >= tau``
  (``tau = 0.5``). vlkd's normalisation first: Unicode NFKC (full-width to half-width),
  case folding and whitespace collapsed. Two empty strings score 1.
- **ANLS, DocVQA script** (``anls_docvqa``): the official DocVQA evaluation as leaderboards,
  lmms-eval and VLMEvalKit compute it, so figures compare with theirs: both strings stripped,
  lower-cased and their whitespace runs collapsed (no NFKC, no case folding); ``NL`` divides
  by the longer of the two strings *as given*; the score is ``1 - min NL`` over the
  references, and 0 only when it is below ``0.5`` (so ``NL = 0.5`` scores 0.5, where the
  paper's definition gives 0).
- **relaxed accuracy** (ChartQA, extended with units): defined only when a reference is a
  quantity answer (numbers with optional units or currency, e.g. ``35 N·m``, ``12.5V``,
  ``¥120``, ``30-35 N·m``). A reference of one measured number accepts a prediction within
  ``tolerance`` (5%) with the same unit. Identifiers are never "close enough": part numbers,
  codes, dates, phone numbers and ranges (numbers glued by ``-``, ``/``, ``:``; numbers with
  a leading zero; bare integers of five or more digits; bare years) and answers of several
  numbers are compared number for number, exactly. A negated prediction (``not 35``,
  ``不是35``) does not state the number. ``None`` when no reference is a quantity answer.
"""

from __future__ import annotations

from collections.abc import Sequence

from rapidfuzz.distance.Levenshtein import distance as _distance

from vlkd.metrics.negation import is_negated
from vlkd.metrics.normalize import light_normalize, normalize_answer
from vlkd.metrics.quantities import Quantity, parse_quantities


def _refs(references: str | Sequence[str]) -> list[str]:
    return [references] if isinstance(references, str) else list(references)


#: Edit distances are taken over at most this many characters of each string (its first ones):
#: an answer is a few words, and a hostile line of megabytes must not cost minutes. Longer
#: strings are cut, and ``vlkd score`` says how many were.
MAX_SCORED_CHARS = 10_000


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insertions, deletions, substitutions) over the first :data:`MAX_SCORED_CHARS`.

    rapidfuzz's bit-parallel Levenshtein: two 5,000-character strings in about a millisecond.
    """
    return _distance(a[:MAX_SCORED_CHARS], b[:MAX_SCORED_CHARS])


def _same_quantities(found: list[Quantity], target: list[Quantity], tolerance: float | None) -> bool:
    if len(found) != len(target):
        return False
    relaxed = tolerance is not None and len(target) == 1 and not target[0].identifier_like
    for p, t in zip(found, target, strict=True):
        if p.unit != t.unit:
            return False
        if relaxed and not p.identifier_like:
            if not _close(p.value, t.value, tolerance or 0.0):
                return False
        elif p.exact_key != t.exact_key:
            return False
    return True


def exact_match(prediction: str, references: str | Sequence[str]) -> float:
    pred = normalize_answer(prediction)
    refs = _refs(references)
    if any(pred == normalize_answer(r) for r in refs):
        return 1.0
    found = parse_quantities(prediction, whole=True)
    if found:
        for r in refs:
            target = parse_quantities(r, whole=True)
            if target and _same_quantities(found, target, None):
                return 1.0
    return 0.0


def anls_single(prediction: str, reference: str, tau: float = 0.5) -> float:
    pred = light_normalize(prediction)[:MAX_SCORED_CHARS]
    ref = light_normalize(reference)[:MAX_SCORED_CHARS]
    longest = max(len(pred), len(ref))
    if longest == 0:
        return 1.0
    if abs(len(pred) - len(ref)) / longest >= tau:  # the distance is at least the length difference
        return 0.0
    nl = levenshtein(pred, ref) / longest
    return 0.0 if nl >= tau else 1.0 - nl


def anls(prediction: str, references: str | Sequence[str], tau: float = 0.5) -> float:
    """Average Normalised Levenshtein Similarity of one answer (the paper's): best over the references."""
    refs = _refs(references)
    if not refs:
        raise ValueError("anls needs at least one reference")
    return max(anls_single(prediction, r, tau) for r in refs)


def _docvqa_form(text: str) -> str:
    return " ".join(text.strip().lower().split())


def anls_docvqa(prediction: str, references: str | Sequence[str], threshold: float = 0.5) -> float:
    """ANLS exactly as the official DocVQA script computes it (see the module docstring)."""
    refs = _refs(references)
    if not refs:
        raise ValueError("anls_docvqa needs at least one reference")
    prediction = prediction or ""
    det = _docvqa_form(prediction)
    best = None
    for ref in refs:
        ref = ref or ""
        length = min(max(len(ref.upper()), len(prediction.upper())), MAX_SCORED_CHARS)
        nl = 0.0 if length == 0 else levenshtein(_docvqa_form(ref), det) / length
        best = nl if best is None else min(best, nl)
        if best == 0.0:
            break
    score = 1.0 - (best or 0.0)
    return 0.0 if score < threshold else score


def _close(pred: float, ref: float, tolerance: float) -> bool:
    if ref == 0:
        return pred == 0
    return abs(pred - ref) / abs(ref) <= tolerance


def relaxed_accuracy(
    prediction: str, references: str | Sequence[str], tolerance: float = 0.05
) -> float | None:
    """1.0 / 0.0 when some reference is a quantity answer, else ``None`` (not applicable)."""
    targets = [(q, r) for r in _refs(references) if (q := parse_quantities(r, whole=True))]
    if not targets:
        return None
    found = parse_quantities(prediction, whole=False)
    negated = is_negated(prediction)
    for target, ref in targets:
        if negated == is_negated(ref) and _same_quantities(found, target, tolerance):
            return 1.0
    return 0.0

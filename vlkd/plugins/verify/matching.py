"""Text matching for checks: normalised (case, full/half width, spaces, punctuation) and fuzzy.

OCR drops and adds spaces and misreads a character now and then, so an answer is compared
with the page in a *compact* form: NFKC (full-width to half-width), case folded, every space
and punctuation mark removed. Chinese is matched character by character (it is already
one character per unit); a fuzzy match is the best approximate substring match, scored as
``1 - edits / len(answer)``.
"""

from __future__ import annotations

import unicodedata

from vlkd.metrics.normalize import light_normalize

#: OCR's usual confusions inside codes and numbers (letter read for a digit)
_CODE_FOLD = str.maketrans({"o": "0", "i": "1", "l": "1", "|": "1"})


def compact(text: str) -> str:
    """NFKC, case folded, without spaces and punctuation or symbols (``N·m`` -> ``nm``)."""
    out = []
    for ch in light_normalize(text):
        cat = unicodedata.category(ch)
        if ch.isspace() or ((cat.startswith("P") or cat in ("Sm", "Sk", "So")) and ch not in "°%"):
            continue
        out.append(ch)
    return "".join(out)


def fold_code(text: str) -> str:
    """``compact`` text with OCR's letter/digit confusions folded (for codes and numbers)."""
    return text.translate(_CODE_FOLD)


def best_substring_score(needle: str, haystack: str) -> float:
    """1 - (fewest edits turning ``needle`` into some substring of ``haystack``) / len(needle).

    Sellers' approximate substring matching: O(len(needle) * len(haystack)) in pure Python,
    so callers try exact ``in`` first and keep needles short.
    """
    m = len(needle)
    if m == 0:
        return 0.0
    if needle in haystack:
        return 1.0
    if not haystack:
        return 0.0
    prev = list(range(m + 1))
    best = m
    for ch in haystack:
        cur = [0]
        for j in range(1, m + 1):
            cost = 0 if needle[j - 1] == ch else 1
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost))
        best = min(best, cur[m])
        if best == 0:
            break
        prev = cur
    return 1.0 - best / m


def found_exact(needle: str, haystack: str, *, digits_bounded: bool = False) -> bool:
    """``needle`` occurs in ``haystack``; with ``digits_bounded`` not inside a longer number."""
    if not needle:
        return False
    start = haystack.find(needle)
    while start >= 0:
        end = start + len(needle)
        if not digits_bounded or (
            (start == 0 or not haystack[start - 1].isdigit())
            and (end >= len(haystack) or not haystack[end].isdigit())
        ):
            return True
        start = haystack.find(needle, start + 1)
    return False

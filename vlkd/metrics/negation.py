"""Negated answers: ``not 35``, ``isn't 35 N·m``, ``不是35``, ``没有35``.

A number inside a negated answer is not a claim of that number, so relaxed accuracy gives
``not 35`` nothing for a reference of ``35`` (the number matches only when both answers are
negated or neither is). Exact match and ANLS compare the text itself, so the negation is
already part of what they see.
"""

from __future__ import annotations

import re
import unicodedata

_ENGLISH = re.compile(
    r"\b(?:not|no|never|none|neither|nor|without|isn't|isnt|aren't|wasn't|doesn't|don't|cannot|can't)\b",
    re.IGNORECASE,
)
#: 不 (not), 没/无 (without), 非/并非 (is not), 未 (not yet); 不存在 is the not-present answer,
#: handled by vlkd.metrics.not_present, and it is a negation too
_CHINESE = re.compile(r"不|没|無|无|非|未")


def is_negated(text: str) -> bool:
    text = unicodedata.normalize("NFKC", text or "")
    return bool(_ENGLISH.search(text) or _CHINESE.search(text))

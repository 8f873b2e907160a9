"""Answer normalisation shared by the metrics.

``normalize_answer`` is what exact match compares: Unicode NFKC (full-width letters,
digits and punctuation become half-width, ``℃`` becomes ``°C``), case folded, punctuation
removed as SQuAD does (ASCII and Chinese: ``，。、：；！？「」《》（）·`` ...) except what changes
the meaning of a number: a decimal point or separator between two digits (``3.5``, ``35-40``,
``12/15``), a minus sign before a number (``-40°C`` is not ``40°C``; the Unicode minus ``−``
counts as ``-``) and the percent and per-mille signs (``50%`` is not ``50``). Whitespace is
collapsed, and spaces next to CJK characters dropped (Chinese does not separate words with
spaces).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_CJK = r"\u2e80-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f"
_SPACE_NEAR_CJK = re.compile(rf"(?<=[{_CJK}])\s+|\s+(?=[{_CJK}])")
_SPACES = re.compile(r"\s+")
#: kept between digits: 3.5, 1,200 -> 1200 (the comma goes), 35-40 stays a range
_KEEP_BETWEEN_DIGITS = {".", "-", "/", ":"}
_KEEP_ALWAYS = {"%", "‰"}


def is_punctuation(ch: str) -> bool:
    return unicodedata.category(ch).startswith("P")


class _DropPunctuation(dict):
    """A ``str.translate`` table deleting punctuation, filled one character at a time as met."""

    def __missing__(self, code: int) -> int | None:
        ch = chr(code)
        value = None if is_punctuation(ch) and ch not in _KEEP_ALWAYS else code
        self[code] = value
        return value


_DROP = _DropPunctuation()
#: a decimal point or separator between digits, or a minus sign, is protected from the drop by a
#: private-use stand-in, put back afterwards
_PROTECT = re.compile(r"(?:(?<=\d)[.\-/:]|(?<![^\W_])-)(?=\d)")
_STAND_IN = {".": "\ue000", "-": "\ue001", "/": "\ue002", ":": "\ue003"}
_PUT_BACK = str.maketrans({v: k for k, v in _STAND_IN.items()})


@lru_cache(maxsize=1 << 16)
def light_normalize(text: str) -> str:
    """NFKC, case folded, whitespace collapsed: vlkd's normalisation for ANLS (the official DocVQA
    script lower-cases and strips only; see :func:`vlkd.metrics.scores.anls_docvqa`)."""
    text = unicodedata.normalize("NFKC", text or "").casefold()
    return _SPACES.sub(" ", text).strip()


@lru_cache(maxsize=1 << 16)
def normalize_answer(text: str) -> str:
    """The form exact match compares (see the module docstring)."""
    text = light_normalize(text).replace("\u2212", "-")
    text = _PROTECT.sub(lambda m: _STAND_IN[m.group()], text)
    text = text.translate(_DROP).translate(_PUT_BACK)
    text = _SPACES.sub(" ", text).strip()
    return _SPACE_NEAR_CJK.sub("", text)

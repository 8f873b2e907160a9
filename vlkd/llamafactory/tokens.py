"""How many tokens a LLaMA-Factory sample costs the student: visual tokens and text tokens.

Visual tokens are :func:`vlkd.llamafactory.families.image_tokens`: LLaMA-Factory 0.9.5's
multimodal plugin pre-scales the image into ``[image_min_pixels, image_max_pixels]`` (plus
its template's own steps), the processor resizes it by the family's rule, and each block
costs one token.

Text tokens are exact with a tokenizer (the sample rendered as the family's LLaMA-Factory
template writes it, the default system prompt included, is encoded). Without one they are a
*conservative estimate* meant to over-count byte-level BPEs: each special token of the
family is one token, every digit a token (Qwen splits numbers into digits), every CJK
character a token, any other non-ASCII character two, a run of ASCII letters one token per 3
letters (English averages about 4), every other ASCII symbol and every line break one token.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vlkd.students.family import StudentFamily

_PIECES = re.compile(r"[A-Za-z]+|\d|[\u2e80-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef]|\n+|\s+|.", re.S)


@lru_cache(maxsize=65536)
def estimate_text_tokens(text: str) -> int:
    """A conservative (over-)estimate of BPE tokens in ``text`` (see the module docs)."""
    n = 0
    for piece in _PIECES.findall(text):
        c = piece[0]
        if c.isascii():
            if c.isalpha():
                n += -(-len(piece) // 3)
            elif c == "\n" or not c.isspace():
                n += 1
        elif len(piece) == 1 and "\u2e80" <= c <= "\uffef":
            n += 1
        elif not c.isspace():
            n += 2
    return n


def _specials(family: StudentFamily) -> re.Pattern[str]:
    tokens = sorted({*family.special_tokens, family.turn_end}, key=len, reverse=True)
    return re.compile("|".join(re.escape(t) for t in tokens if t))


def text_tokens(
    family: StudentFamily, messages: Sequence[tuple[str, str]], system: str | None, tokenizer: Any = None
) -> int:
    """Text tokens of a sample (the image markers included, the image pads not)."""
    text = family.render(messages, system)
    if tokenizer is not None:
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])
    specials = _specials(family)
    return len(specials.findall(text)) + sum(estimate_text_tokens(piece) for piece in specials.split(text))


def student_tokenizer(student: Any, run_dir: Any) -> Any:
    """The student's own tokenizer when it is on this machine (tiny, local, or cached), else None
    (the estimate). A student named by hub id is never downloaded for this."""
    import importlib.util

    if importlib.util.find_spec("transformers") is None:
        return None
    path = student.local_path(run_dir)
    if path is None:
        return None
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path)

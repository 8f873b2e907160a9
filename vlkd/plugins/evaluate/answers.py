"""One clean-up of generated answers, shared by both backends so that they agree on the same weights.

A generation cut off by ``max_new_tokens`` can end inside a multi-byte UTF-8 character (a
Chinese character is three bytes; byte-level BPE tokens can split it). transformers'
``decode`` turns the incomplete bytes into a trailing U+FFFD replacement character, while
vLLM's incremental detokenizer holds them back and returns the text without it. Trailing
U+FFFD characters are therefore dropped; one inside the text (a real decoding problem) stays.
"""

from __future__ import annotations

REPLACEMENT = "\ufffd"


def clean_answer(text: str) -> str:
    return (text or "").strip().rstrip(REPLACEMENT).strip()

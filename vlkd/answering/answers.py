"""How generated tokens become an answer, the same for both backends, so that they agree on the
same weights.

The rule is vLLM's (its detokenizer streams text with ``tokenizers``' ``DecodeStream``, which
emits text only once the text decoded so far does not end in U+FFFD, and never flushes what it
held back when the generation stops): **the answer is the text of the longest prefix of the
generated tokens whose text does not end in U+FFFD**, with surrounding whitespace stripped.

So a character cut by ``max_new_tokens`` (a Chinese character is three bytes, and a byte-level
BPE token can end with the first of them) is dropped together with the whole token that began
it: a last token ``刹\\xe8`` costs the ``刹`` too, which dropping trailing U+FFFD characters from
the decoded text would keep. A U+FFFD followed by more text is kept, as vLLM keeps it: a first
token that is the tail of a character (``\\xa4\\xba``) decodes to ``��`` at the start of the
answer from either backend.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

REPLACEMENT = "\ufffd"


def streamed_text(decode: Callable[[list[int]], str], ids: Sequence[int]) -> str:
    """The text of the longest prefix of ``ids`` whose text does not end in U+FFFD.

    ``decode`` turns token ids into text (special tokens skipped), replacing bytes that are not
    UTF-8 by U+FFFD, as ``tokenizer.decode(ids, skip_special_tokens=True)`` does.
    """
    ids = list(ids)
    text = decode(ids)
    while ids and text.endswith(REPLACEMENT):
        ids.pop()
        text = decode(ids) if ids else ""
    return text


def clean_answer(text: str) -> str:
    """A server's answer or a streamed text as scored: surrounding whitespace stripped."""
    return (text or "").strip()

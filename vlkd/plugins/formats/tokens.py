"""How many tokens a LLaMA-Factory ``qwen2_vl`` sample costs: visual tokens and text tokens.

Visual tokens follow LLaMA-Factory 0.9.5's own image path for Qwen2-VL, then the Qwen2-VL
processor's ``smart_resize``:

1. LLaMA-Factory scales the image down to ``image_max_pixels`` / up to ``image_min_pixels``
   (``int()`` of the scaled sides), widens a side under 28 px to 28, and clamps aspect
   ratios over 200 to 180;
2. the processor rounds both sides to multiples of 28 within its own ``[min_pixels,
   max_pixels]``; every 28x28 block is one token, wrapped in ``<|vision_start|>`` and
   ``<|vision_end|>``.

Text tokens are exact with a tokenizer (the sample rendered with the ``qwen2_vl`` chat
template, the default system prompt included, is encoded). Without one they are a
*conservative estimate* meant to over-count Qwen2's byte-level BPE: every digit is a token
(Qwen splits numbers into digits), every CJK character a token, any other non-ASCII
character two, a run of ASCII letters one token per 3 letters (English averages about 4),
every other ASCII symbol and every line break one token.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from vlkd.images.qwen import DEFAULT_MAX_PIXELS, DEFAULT_MIN_PIXELS, smart_resize

IMAGE_TAG = "<image>"
#: LLaMA-Factory's defaults (ModelArguments) and the qwen2_vl template's default system prompt
LF_IMAGE_MAX_PIXELS = 768 * 768
LF_IMAGE_MIN_PIXELS = 32 * 32
DEFAULT_SYSTEM = "You are a helpful assistant."

_PIECES = re.compile(r"[A-Za-z]+|\d|[\u2e80-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef]|\n+|\s+|.", re.S)


def lf_visual_tokens(
    width: int,
    height: int,
    *,
    image_max_pixels: int = LF_IMAGE_MAX_PIXELS,
    image_min_pixels: int = LF_IMAGE_MIN_PIXELS,
    processor_min_pixels: int = DEFAULT_MIN_PIXELS,
    processor_max_pixels: int = DEFAULT_MAX_PIXELS,
) -> int:
    """``<|image_pad|>`` tokens LLaMA-Factory's Qwen2-VL plugin gives an image of this size."""
    w, h = width, height
    if w * h > image_max_pixels:
        f = math.sqrt(image_max_pixels / (w * h))
        w, h = int(w * f), int(h * f)
    if w * h < image_min_pixels:
        f = math.sqrt(image_min_pixels / (w * h))
        w, h = int(w * f), int(h * f)
    if min(w, h) < 28:
        w, h = max(w, 28), max(h, 28)
    if w / h > 200:
        w, h = h * 180, h
    if h / w > 200:
        w, h = w, w * 180
    rh, rw = smart_resize(h, w, min_pixels=processor_min_pixels, max_pixels=processor_max_pixels)
    return (rh // 28) * (rw // 28)


@lru_cache(maxsize=65536)
def estimate_text_tokens(text: str) -> int:
    """A conservative (over-)estimate of Qwen2 BPE tokens in ``text`` (see the module docs)."""
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


def render_qwen2_vl(messages: Sequence[tuple[str, str]], system: str | None) -> str:
    """The sample as LLaMA-Factory's ``qwen2_vl`` template writes it, image pads left out.

    ``messages`` are (role, content) with role ``system``/``user``/``assistant``.
    """
    parts = [f"<|im_start|>system\n{system if system is not None else DEFAULT_SYSTEM}<|im_end|>\n"]
    for role, content in messages:
        content = content.replace(IMAGE_TAG, "<|vision_start|><|vision_end|>")
        if role == "assistant":
            parts.append(f"{content}<|im_end|>\n")
        else:
            parts.append(f"<|im_start|>user\n{content}<|im_end|>\n<|im_start|>assistant\n")
    return "".join(parts)


def text_tokens(messages: Sequence[tuple[str, str]], system: str | None, tokenizer: Any = None) -> int:
    """Text tokens of a sample (vision start/end markers included, image pads not)."""
    if tokenizer is not None:
        return len(tokenizer(render_qwen2_vl(messages, system), add_special_tokens=False)["input_ids"])
    # fixed parts: system block 5, each user turn 8, each assistant turn 2, each image tag 2
    n = 5 + estimate_text_tokens(system if system is not None else DEFAULT_SYSTEM)
    for role, content in messages:
        tags = content.count(IMAGE_TAG)
        n += (
            (2 if role == "assistant" else 8)
            + 2 * tags
            + estimate_text_tokens(content.replace(IMAGE_TAG, ""))
        )
    return n

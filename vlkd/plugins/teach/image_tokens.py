"""What an image costs in input tokens at OpenAI and Anthropic, and when they shrink it first.

The rules are kept per provider and model prefix (the longest matching prefix wins), each with
the day it was last checked against the provider's page; a model the tables do not know gets the
provider's default rule. Tests in ``tests/plugins/teach/test_image_token_rules.py`` hold every
example the pages give.

OpenAI ("Images and vision: calculating costs", platform.openai.com/docs/guides/images-vision):
``detail: low`` is a flat base (85 for GPT-4o); ``high`` and ``auto`` scale the image into
2048×2048, then its short side down to 768, each side rounded to the nearest pixel (2049×513
becomes 2048×513: two rows of tiles), and count base + per-tile tokens for each 512-px tile.
Some models price tiles differently (GPT-4o mini: 2833 + 5667 per tile); the small newer
models count 32-px patches (at most 1536) times a multiplier instead.

Anthropic ("Vision: evaluate image size", platform.claude.com/docs/en/build-with-claude/vision):
an image costs ⌈width/28⌉ × ⌈height/28⌉ visual tokens (28×28-px patches). One with a long edge
over the model's limit, or more visual tokens than its limit, is first resized to the largest
size of the same aspect ratio within both (1568 px and 1568 tokens; Claude Opus 4.7: 2576 px and
4784 tokens); then it is padded to a multiple of 28 px, which the ceilings count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: the day the tables below were last compared with the providers' pages
CHECKED = "2026-12-07"
OPENAI_SOURCE = "https://platform.openai.com/docs/guides/images-vision#calculating-costs"
ANTHROPIC_SOURCE = "https://platform.claude.com/docs/en/build-with-claude/vision#evaluate-image-size"

#: model prefix -> (base tokens, tokens per 512-px tile)
OPENAI_TILES: dict[str, tuple[int, int]] = {
    "gpt-4o": (85, 170),
    "gpt-4o-mini": (2833, 5667),
    "gpt-4.1": (85, 170),
    "gpt-4.5": (85, 170),
    "gpt-5": (70, 140),
    "o1": (75, 150),
    "o3": (75, 150),
}
#: model prefix -> multiplier of 32-px patches (these models have no ``detail: low`` price)
OPENAI_PATCHES: dict[str, float] = {
    "gpt-4.1-mini": 1.62,
    "gpt-4.1-nano": 2.46,
    "gpt-5-mini": 1.62,
    "gpt-5-nano": 2.46,
    "o4-mini": 1.72,
}
MAX_PATCHES = 1536


@dataclass(frozen=True)
class ClaudeLimits:
    """The largest image a Claude model takes as it is."""

    long_edge: int
    visual_tokens: int
    checked: str = CHECKED


#: model prefix -> its limits; "" is every other model
ANTHROPIC_LIMITS: dict[str, ClaudeLimits] = {
    "": ClaudeLimits(long_edge=1568, visual_tokens=1568),
    "claude-opus-4-7": ClaudeLimits(long_edge=2576, visual_tokens=4784),
}
ANTHROPIC_PATCH = 28


def _prefix(model: str, table: dict) -> str | None:
    matches = [name for name in table if name and model.startswith(name)]
    return max(matches, key=len) if matches else None


def openai_image_tokens(
    width: int, height: int, detail: str = "auto", model: str = "gpt-4o"
) -> tuple[int, tuple[int, int] | None]:
    """(input tokens, the size the provider scales the image to, or None when it keeps it)."""
    w, h = max(width, 1), max(height, 1)
    patch_model = _prefix(model, OPENAI_PATCHES)
    tile_model = _prefix(model, OPENAI_TILES)
    if patch_model is not None and (tile_model is None or len(patch_model) >= len(tile_model)):
        patches = math.ceil(w / 32) * math.ceil(h / 32)
        size = None
        if patches > MAX_PATCHES:
            scale = math.sqrt(32 * 32 * MAX_PATCHES / (w * h))
            scale *= min(
                math.floor(w * scale / 32) / (w * scale / 32), math.floor(h * scale / 32) / (h * scale / 32)
            )
            size = (int(w * scale), int(h * scale))
            patches = math.ceil(size[0] / 32) * math.ceil(size[1] / 32)
        return math.ceil(min(patches, MAX_PATCHES) * OPENAI_PATCHES[patch_model]), size
    base, tile = OPENAI_TILES[tile_model or "gpt-4o"]
    if detail == "low":
        scale = 512 / max(w, h)
        return base, (int(w * scale), int(h * scale)) if scale < 1 else None
    sw, sh = w, h
    if max(sw, sh) > 2048:  # into 2048x2048, each side to the nearest pixel
        sw, sh = _scaled(sw, sh, 2048 / max(sw, sh))
    if min(sw, sh) > 768:  # then the short side down to 768
        sw, sh = _scaled(sw, sh, 768 / min(sw, sh))
    tiles = math.ceil(sw / 512) * math.ceil(sh / 512)
    return base + tile * tiles, (sw, sh) if (sw, sh) != (w, h) else None


def _scaled(w: int, h: int, scale: float) -> tuple[int, int]:
    return max(1, round(w * scale)), max(1, round(h * scale))


def claude_limits(model: str) -> ClaudeLimits:
    return ANTHROPIC_LIMITS[_prefix(model, ANTHROPIC_LIMITS) or ""]


def claude_visual_tokens(width: int, height: int) -> int:
    return math.ceil(width / ANTHROPIC_PATCH) * math.ceil(height / ANTHROPIC_PATCH)


def anthropic_image_tokens(
    width: int, height: int, model: str = "claude-sonnet-4-5"
) -> tuple[int, tuple[int, int] | None]:
    """(visual tokens, the size Claude resizes the image to, or None when it keeps it)."""
    w, h = max(width, 1), max(height, 1)
    limits = claude_limits(model)

    def fits(long: int) -> tuple[int, int] | None:
        size = (
            (long, max(1, math.floor(long * h / w))) if w >= h else (max(1, math.floor(long * w / h)), long)
        )
        return size if claude_visual_tokens(*size) <= limits.visual_tokens else None

    if max(w, h) <= limits.long_edge and claude_visual_tokens(w, h) <= limits.visual_tokens:
        return claude_visual_tokens(w, h), None
    lo, hi = 1, min(max(w, h), limits.long_edge)  # the largest long edge whose size fits
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid - 1)
    size = fits(lo) or (1, 1)
    return claude_visual_tokens(*size), size

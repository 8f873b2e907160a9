"""What an image costs in input tokens at OpenAI and Anthropic, and when they shrink it first.

OpenAI (``detail``): ``low`` is a flat base (85 for GPT-4o); ``high`` and ``auto`` scale the
image into 2048×2048, then its short side down to 768, and count base + per-tile tokens for
each 512-px tile. Some models price tiles differently (GPT-4o mini: 2833 + 5667 per tile), and
the small newer models count 32-px patches (at most 1536) times a multiplier instead.

Anthropic: an image with a long edge over 1568 px, or over about 1,600 tokens, is scaled down
(aspect kept) until it fits; it then costs about width × height / 750 tokens.

The tables name models by prefix; the longest matching prefix wins. Sources: the providers'
vision guides (OpenAI "Images and vision: calculating costs", Anthropic "Vision: evaluate image
size"), as of 2025.
"""

from __future__ import annotations

import math

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
ANTHROPIC_LONG_EDGE = 1568
ANTHROPIC_MAX_TOKENS = 1600


def _prefix(model: str, table: dict) -> str | None:
    matches = [name for name in table if model.startswith(name)]
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
    sw, sh = float(w), float(h)
    if max(sw, sh) > 2048:
        scale = 2048 / max(sw, sh)
        sw, sh = sw * scale, sh * scale
    if min(sw, sh) > 768:
        scale = 768 / min(sw, sh)
        sw, sh = sw * scale, sh * scale
    tiles = math.ceil(int(sw) / 512) * math.ceil(int(sh) / 512)
    size = (int(sw), int(sh)) if (int(sw), int(sh)) != (w, h) else None
    return base + tile * tiles, size


def anthropic_image_tokens(width: int, height: int) -> tuple[int, tuple[int, int] | None]:
    """(input tokens, the size Claude scales the image to, or None when it keeps it)."""
    w, h = max(width, 1), max(height, 1)
    scale = min(1.0, ANTHROPIC_LONG_EDGE / max(w, h), math.sqrt(ANTHROPIC_MAX_TOKENS * 750 / (w * h)))
    size = (int(w * scale), int(h * scale)) if scale < 1.0 else None
    sw, sh = size or (w, h)
    return math.ceil(sw * sh / 750), size

"""Qwen2-VL's image size rule, so vlkd can predict what the student's processor will do.

The Qwen2-VL image processor resizes every image so that both sides are multiples of
``patch_size * merge_size`` (14 * 2 = 28) and the pixel count lies in
``[min_pixels, max_pixels]``; it rejects aspect ratios above 200. Every 28x28 block then
costs one visual token. ``tests/plugins/preprocess/test_qwen_smart_resize.py`` checks these
numbers against transformers' own ``Qwen2VLImageProcessor``.
"""

from __future__ import annotations

import math

FACTOR = 28
#: the processor's defaults (``size = {"shortest_edge": 56*56, "longest_edge": 28*28*1280}``)
DEFAULT_MIN_PIXELS = 56 * 56
DEFAULT_MAX_PIXELS = 28 * 28 * 1280
MAX_ASPECT_RATIO = 200


class AspectRatioError(ValueError):
    """The image is too long and thin for Qwen2-VL."""


def smart_resize(
    height: int,
    width: int,
    *,
    factor: int = FACTOR,
    min_pixels: int = DEFAULT_MIN_PIXELS,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> tuple[int, int]:
    """``(height, width)`` the Qwen2-VL processor resizes an image of ``height x width`` to."""
    if height <= 0 or width <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    ratio = max(height, width) / min(height, width)
    if ratio > MAX_ASPECT_RATIO:
        raise AspectRatioError(f"aspect ratio {ratio:.1f} is over Qwen2-VL's limit of {MAX_ASPECT_RATIO}")
    # Python's round() (half to even) on purpose: the processor uses it too
    new_h = round(height / factor) * factor
    new_w = round(width / factor) * factor
    if new_h * new_w > max_pixels:
        scale = math.sqrt(height * width / max_pixels)
        new_h = max(factor, math.floor(height / scale / factor) * factor)
        new_w = max(factor, math.floor(width / scale / factor) * factor)
    elif new_h * new_w < min_pixels:
        scale = math.sqrt(min_pixels / (height * width))
        new_h = math.ceil(height * scale / factor) * factor
        new_w = math.ceil(width * scale / factor) * factor
    return new_h, new_w


def visual_tokens(height: int, width: int, *, factor: int = FACTOR) -> int:
    """Visual tokens of an image already at a ``smart_resize`` size (one per factor x factor block)."""
    return (height // factor) * (width // factor)

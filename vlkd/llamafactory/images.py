"""LLaMA-Factory's own image pre-scaling (``BasePlugin._preprocess_image`` in ``data/mm_plugin.py``).

Before the student's processor sees an image, LLaMA-Factory scales it down to
``image_max_pixels`` or up to ``image_min_pixels``, keeping the aspect ratio and taking
``int()`` of the scaled sides. Some templates' plugins add their own steps on top
(:mod:`vlkd.llamafactory.families`).
"""

from __future__ import annotations

import math

#: LLaMA-Factory's defaults (``ModelArguments``), used where a dataset is checked without a student
IMAGE_MAX_PIXELS = 768 * 768
IMAGE_MIN_PIXELS = 32 * 32


def prescale(width: int, height: int, image_min_pixels: int, image_max_pixels: int) -> tuple[int, int]:
    """``(width, height)`` after LLaMA-Factory's base rule."""
    w, h = width, height
    if w * h > image_max_pixels:
        f = math.sqrt(image_max_pixels / (w * h))
        w, h = int(w * f), int(h * f)
    if w * h < image_min_pixels:
        f = math.sqrt(image_min_pixels / (w * h))
        w, h = int(w * f), int(h * f)
    return w, h

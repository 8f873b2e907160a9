"""Synthetic dashboards with one lit warning light: a task that can only be solved by looking.

Each image is a cluttered 224x224 instrument cluster (gauges, needles, tick marks, grey
segments) with exactly one of four warning lights lit, drawn at a random place and size
(radius 30-46 px, so the light covers a few of the student's 28x28 visual blocks). The four
lights differ in colour and shape; the question is always the same, so no text gives the
answer away and a model that answers better than chance (25%) must have read the pixels.

The demo ships such images (``benchmarks/make_demo_data.py``), and the learning tests of every
student family (``tests/students/test_learning.py``) train on them, with blank images as the
control that must stay at chance. Only Pillow is needed.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image, ImageDraw

SIZE = 224
QUESTION = "仪表盘上亮着的是哪个指示灯?"


@dataclass(frozen=True)
class Light:
    answer: str  # what an expert writes: the light's name
    colour: tuple[int, int, int]
    shape: str  # how it is drawn (see _draw_light)


LIGHTS: tuple[Light, ...] = (
    Light("发动机故障灯", (245, 165, 0), "engine"),
    Light("机油压力警告灯", (230, 35, 30), "oil_can"),
    Light("远光灯", (40, 95, 235), "high_beam"),
    Light("转向灯", (40, 190, 60), "arrows"),
)
ANSWERS: tuple[str, ...] = tuple(light.answer for light in LIGHTS)


def dashboard(light: Light, seed: int, size: int = SIZE) -> Image.Image:
    """One cluster, its clutter and the light's place and size drawn from ``seed``."""
    from PIL import Image, ImageDraw

    rng = random.Random(seed)
    base = rng.randint(18, 42)
    image = Image.new("RGB", (size, size), (base, base + rng.randint(0, 6), base + rng.randint(0, 10)))
    draw = ImageDraw.Draw(image)
    _clutter(draw, rng, size)
    radius = rng.randint(30, 46)
    cx, cy = rng.randint(radius + 2, size - radius - 2), rng.randint(radius + 2, size - radius - 2)
    draw.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], fill=(12, 12, 14))
    _draw_light(draw, light, cx, cy, radius * 0.95)
    return image


def blank(size: int = SIZE) -> Image.Image:
    """The control image: the same size, nothing to see."""
    from PIL import Image

    return Image.new("RGB", (size, size), (30, 30, 34))


def _clutter(draw: ImageDraw.ImageDraw, rng: random.Random, size: int) -> None:
    """Grey and white instrument parts: none has a light's colour, all vary per image."""
    for _ in range(rng.randint(1, 3)):  # gauges: a dial, ticks and a needle
        r = rng.randint(30, 70)
        x, y = rng.randint(0, size), rng.randint(0, size)
        grey = rng.randint(90, 200)
        draw.ellipse([x - r, y - r, x + r, y + r], outline=(grey, grey, grey), width=rng.randint(2, 4))
        for k in range(rng.randint(6, 12)):
            a = math.radians(225 - k * 27)
            draw.line(
                [
                    x + 0.8 * r * math.cos(a),
                    y - 0.8 * r * math.sin(a),
                    x + r * math.cos(a),
                    y - r * math.sin(a),
                ],
                fill=(grey, grey, grey),
                width=2,
            )
        a = math.radians(rng.uniform(-45, 225))
        draw.line([x, y, x + 0.9 * r * math.cos(a), y - 0.9 * r * math.sin(a)], fill=(235, 235, 235), width=3)
    for _ in range(rng.randint(3, 8)):  # digital segments and trim
        x, y = rng.randint(0, size), rng.randint(0, size)
        w, h = rng.randint(4, 40), rng.randint(3, 14)
        g = rng.randint(60, 170)
        draw.rectangle([x, y, x + w, y + h], fill=(g, g, g))


def _draw_light(draw: ImageDraw.ImageDraw, light: Light, cx: int, cy: int, r: float) -> None:
    c = light.colour
    if light.shape == "engine":  # an engine block: body, head, and the two side stubs
        draw.rectangle([cx - 0.7 * r, cy - 0.45 * r, cx + 0.6 * r, cy + 0.55 * r], fill=c)
        draw.rectangle([cx - 0.35 * r, cy - 0.8 * r, cx + 0.25 * r, cy - 0.45 * r], fill=c)
        draw.rectangle([cx - r, cy - 0.15 * r, cx - 0.7 * r, cy + 0.3 * r], fill=c)
        draw.polygon([(cx + 0.6 * r, cy - 0.2 * r), (cx + r, cy - 0.5 * r), (cx + r, cy + 0.55 * r)], fill=c)
    elif light.shape == "oil_can":  # an oil can: body, spout, and a drop
        draw.ellipse([cx - 0.9 * r, cy - 0.35 * r, cx + 0.3 * r, cy + 0.55 * r], fill=c)
        draw.polygon(
            [(cx + 0.2 * r, cy - 0.1 * r), (cx + r, cy - 0.45 * r), (cx + 0.3 * r, cy + 0.3 * r)], fill=c
        )
        draw.rectangle([cx - 0.5 * r, cy - 0.65 * r, cx - 0.2 * r, cy - 0.3 * r], fill=c)
        draw.ellipse([cx + 0.7 * r, cy + 0.2 * r, cx + 0.95 * r, cy + 0.55 * r], fill=c)
    elif light.shape == "high_beam":  # a lamp (half disc) with straight beams to its left
        draw.chord([cx - 0.2 * r, cy - 0.7 * r, cx + r, cy + 0.7 * r], 270, 90, fill=c)
        for k in range(-2, 3):
            y = cy + k * 0.3 * r
            draw.line([cx - r, y, cx - 0.3 * r, y], fill=c, width=max(3, int(r / 7)))
    elif light.shape == "arrows":  # the turn signal: two triangles pointing apart
        draw.polygon([(cx - r, cy), (cx - 0.15 * r, cy - 0.7 * r), (cx - 0.15 * r, cy + 0.7 * r)], fill=c)
        draw.polygon([(cx + r, cy), (cx + 0.15 * r, cy - 0.7 * r), (cx + 0.15 * r, cy + 0.7 * r)], fill=c)
    else:
        raise ValueError(f"unknown light shape {light.shape!r}")


def balanced(n: int, seed: int = 0) -> list[Light]:
    """``n`` lights, each kind equally often (to within one), in a seeded order."""
    lights = [LIGHTS[i % len(LIGHTS)] for i in range(n)]
    random.Random(seed).shuffle(lights)
    return lights

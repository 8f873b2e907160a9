"""The report's two charts as inline SVG: no library, no external resource, readable on a phone.

- :func:`bar_chart`: per category, one bar per row (base, tuned, teacher when present), 0-100%;
- :func:`loss_chart`: the training loss by step (and the val loss when logged).

Both scale with their container (``viewBox``, ``width: 100%``); text stays at a size a phone
can read because the drawing is only as wide as it needs to be.
"""

from __future__ import annotations

import html
from typing import Any

COLORS = {"base": "#9aa5b1", "tuned": "#1f6feb", "teacher": "#d4a72c"}
LABELS = {"base": "Base", "tuned": "Tuned", "teacher": "Teacher"}


def bar_chart(groups: list[tuple[str, dict[str, float | None]]], systems: list[str], title: str) -> str:
    """Horizontal bars: a block per group (category), a bar per system, value labels at the bar end."""
    bar, gap, label_w, width = 17, 14, 140, 480
    plot_w = width - label_w - 60
    height = 34 + len(groups) * (len(systems) * bar + gap)
    out = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{html.escape(title)}" '
        f'xmlns="http://www.w3.org/2000/svg" font-family="system-ui,sans-serif" font-size="15">'
    ]
    x = label_w
    for i, system in enumerate(systems):  # legend
        lx = x + i * 90
        out.append(f'<rect x="{lx}" y="4" width="12" height="12" fill="{COLORS.get(system, "#666")}"/>')
        out.append(f'<text x="{lx + 17}" y="14.5">{LABELS.get(system, system)}</text>')
    for tick in (0, 50, 100):
        tx = label_w + plot_w * tick / 100
        out.append(f'<line x1="{tx}" y1="26" x2="{tx}" y2="{height - 4}" stroke="#e3e6ea"/>')
    y = 30
    for name, values in groups:
        block = len(systems) * bar
        out.append(
            f'<text x="{label_w - 8}" y="{y + block / 2 + 5}" text-anchor="end">'
            f"{html.escape(_short(name.replace('_', ' ')))}</text>"
        )
        for system in systems:
            value = values.get(system)
            w = 0 if value is None else max(1.0, plot_w * value)
            out.append(
                f'<rect x="{label_w}" y="{y + 1}" width="{w:.1f}" height="{bar - 3}" '
                f'fill="{COLORS.get(system, "#666")}"><title>{LABELS.get(system, system)}: '
                f"{_pct(value)}</title></rect>"
            )
            out.append(
                f'<text x="{label_w + w + 4:.1f}" y="{y + bar - 4}" font-size="13">{_pct(value)}</text>'
            )
            y += bar
        y += gap
    out.append("</svg>")
    return "".join(out)


def loss_chart(train: list[tuple[float, float]], evals: list[tuple[float, float]]) -> str:
    """The loss by step; the y axis spans the losses seen (its labels say where it starts)."""
    width, height, left, bottom, top, right = 480, 240, 46, 36, 32, 14
    points = train + evals
    max_step = max(s for s, _ in points) or 1.0
    min_step = min(s for s, _ in points)
    high, low = max(v for _, v in points), min(v for _, v in points)
    pad = (high - low) * 0.08 or abs(high) * 0.05 or 1.0
    high, low = high + pad, max(0.0, low - pad)
    span = (max_step - min_step) or 1.0

    def xy(step: float, loss: float) -> str:
        x = left + (width - left - right) * (step - min_step) / span
        y = top + (height - top - bottom) * (high - loss) / ((high - low) or 1.0)
        return f"{x:.1f},{y:.1f}"

    out = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="training loss by step" '
        f'xmlns="http://www.w3.org/2000/svg" font-family="system-ui,sans-serif" font-size="14">'
    ]
    for frac in (0, 0.5, 1):
        y = top + (height - top - bottom) * (1 - frac)
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="#e3e6ea"/>')
        out.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{low + (high - low) * frac:.3g}</text>'
        )
    for step in (min_step, (min_step + max_step) / 2, max_step):
        x = left + (width - left - right) * (step - min_step) / span
        out.append(f'<text x="{x:.1f}" y="{height - 14}" text-anchor="middle">{step:.0f}</text>')
    out.append(f'<text x="{width - right}" y="{height - 2}" text-anchor="end">step</text>')
    if train:
        out.append(
            f'<polyline fill="none" stroke="{COLORS["tuned"]}" stroke-width="2" '
            f'points="{" ".join(xy(s, v) for s, v in train)}"/>'
        )
    if evals:
        out.append(
            f'<polyline fill="none" stroke="#cf222e" stroke-width="2" stroke-dasharray="5 3" '
            f'points="{" ".join(xy(s, v) for s, v in evals)}"/>'
        )
        for s, v in evals:
            x, y = xy(s, v).split(",")
            out.append(f'<circle cx="{x}" cy="{y}" r="3" fill="#cf222e"/>')
    legend = [("train loss", COLORS["tuned"])] if train else []
    legend += [("val loss", "#cf222e")] if evals else []
    for i, (name, color) in enumerate(legend):  # above the plot, never over the line
        lx = left + i * 95
        out.append(f'<rect x="{lx}" y="9" width="12" height="3" fill="{color}"/>')
        out.append(f'<text x="{lx + 16}" y="15">{name}</text>')
    out.append("</svg>")
    return "".join(out)


def loss_points(rows: list[dict[str, Any]]) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """(step, loss) of training and of evaluation lines of a ``trainer_log.jsonl``."""
    train, evals = [], []
    for i, r in enumerate(rows):
        step = r.get("current_steps", r.get("step", i + 1))
        if not isinstance(step, int | float):
            step = i + 1
        if isinstance(r.get("loss"), int | float):
            train.append((float(step), float(r["loss"])))
        if isinstance(r.get("eval_loss"), int | float):
            evals.append((float(step), float(r["eval_loss"])))
    return train, evals


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.0f}%"


def _short(name: str, limit: int = 17) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"

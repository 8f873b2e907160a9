"""The training loss curve as a PNG (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def loss_points(rows: list[dict[str, Any]]) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """(step, loss) of training and of evaluation lines of a ``trainer_log.jsonl``."""
    train, evals = [], []
    for i, r in enumerate(rows):
        step = r.get("current_steps", r.get("step", i + 1))
        if isinstance(r.get("loss"), int | float):
            train.append((float(step), float(r["loss"])))
        if isinstance(r.get("eval_loss"), int | float):
            evals.append((float(step), float(r["eval_loss"])))
    return train, evals


def plot_loss(rows: list[dict[str, Any]], out: Path) -> str | None:
    """Write the PNG; return a note instead when there is nothing to plot or no matplotlib."""
    train, evals = loss_points(rows)
    if not train and not evals:
        return "the trainer log has no loss values: no loss curve"
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return 'matplotlib is not installed: no loss curve (pip install "vlkd[train]")'
    fig, ax = plt.subplots(figsize=(6.4, 3.2), dpi=100)
    if train:
        ax.plot(*zip(*train, strict=True), label="train loss", color="#1f77b4")
    if evals:
        ax.plot(*zip(*evals, strict=True), label="val loss", color="#d62728", marker="o")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png")
    plt.close(fig)
    return None

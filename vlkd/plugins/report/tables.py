"""The report's tables as plain rows of strings, rendered by both the Markdown and HTML writers.

Numbers are shown as percentages with one decimal (deltas in percentage points), straight
from ``metrics.json``; ``–`` where a metric does not apply.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

DASH = "–"
SYSTEM_LABELS = {"base": "Base", "tuned": "Tuned", "teacher": "Teacher"}
#: the seed's table: one headline metric per task category
HEADLINE_METRIC = "exact_match"


@dataclass
class Table:
    id: str
    title: str
    header: list[str]
    rows: list[list[str]]
    caption: str = ""


def pct(value: float | None) -> str:
    return DASH if value is None else f"{value * 100:.1f}%"


def pp(value: float | None) -> str:
    return DASH if value is None else f"{value * 100:+.1f} pp"


def ci(pair: list[float | None] | None, signed: bool = False) -> str:
    if not pair or pair[0] is None or pair[1] is None:
        return DASH
    fmt = "{:+.1f}" if signed else "{:.1f}"
    return f"[{fmt.format(pair[0] * 100)}, {fmt.format(pair[1] * 100)}]"


def _groups(metrics: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, key) for each category, then overall."""
    return [(c, c) for c in metrics.get("categories", [])] + [("Overall", "")]


def _cell(metrics: dict[str, Any], system: str, group: str, metric: str) -> dict[str, Any]:
    result = metrics["results"].get(system)
    if result is None:
        return {}
    part = result["overall"] if not group else result["categories"].get(group, {})
    return part.get(metric) or {}


def _delta(metrics: dict[str, Any], group: str, metric: str) -> dict[str, Any]:
    d = metrics.get("deltas", {}).get("base->tuned")
    if not d:
        return {}
    part = d["overall"] if not group else d["categories"].get(group, {})
    return part.get(metric) or {}


def results_table(
    metrics: dict[str, Any],
    metric_names: list[str] | None = None,
    *,
    table_id: str = "results",
    title: str = "Results by category and metric",
) -> Table:
    labels = {m["name"]: m["label"] for m in metrics["metrics"]}
    names = metric_names or list(labels)
    teacher = "teacher" in metrics["results"]
    header = ["Category", "Metric", "Base", "Tuned", "Δ (tuned − base)", "95% CI of Δ"]
    header += ["Teacher"] if teacher else []
    header += ["n"]
    rows = []
    for label, group in _groups(metrics):
        for name in names:
            base, tuned = _cell(metrics, "base", group, name), _cell(metrics, "tuned", group, name)
            if not base and not tuned:
                continue
            delta = _delta(metrics, group, name)
            row = [
                label,
                labels.get(name, name),
                pct(base.get("value")),
                pct(tuned.get("value")),
                pp(delta.get("value")),
                ci(delta.get("ci"), signed=True),
            ]
            if teacher:
                row.append(pct(_cell(metrics, "teacher", group, name).get("value")))
            row.append(str(_shared_n(metrics, group, name)))
            rows.append(row)
    conf = round(metrics.get("bootstrap", {}).get("confidence", 0.95) * 100)
    caption = (
        f"Δ in percentage points; {conf}% paired-bootstrap interval "
        f"({metrics.get('bootstrap', {}).get('samples', 0)} resamples, seed "
        f"{metrics.get('bootstrap', {}).get('seed', 0)}); n = items the metric is about (all, quantity "
        f"answers, or not-present questions)."
    )
    return Table(table_id, title, header, rows, caption)


def _shared_n(metrics: dict[str, Any], group: str, name: str) -> int | str:
    """Items a row of the table is about, the same for every system: all items, the quantity
    answers (relaxed accuracy), or the not-present questions (precision/recall/F1)."""
    if name.startswith("not_present_"):
        name = "not_present_recall"
    for system in ("tuned", "base", "teacher"):
        cell = _cell(metrics, system, group, name)
        if cell:
            return cell.get("n", "")
    return ""


def headline_table(metrics: dict[str, Any]) -> Table:
    table = results_table(
        metrics,
        [HEADLINE_METRIC],
        table_id="headline",
        title="Base vs tuned student (the seed's table, measured)",
    )
    table.caption = "Exact match after normalisation on the held-out split. " + table.caption
    return table


def system_ci_table(metrics: dict[str, Any]) -> Table:
    labels = {m["name"]: m["label"] for m in metrics["metrics"]}
    rows = []
    for system in metrics.get("systems", []):
        for name, label in labels.items():
            cell = metrics["results"][system]["overall"].get(name) or {}
            rows.append(
                [
                    SYSTEM_LABELS.get(system, system),
                    label,
                    pct(cell.get("value")),
                    ci(cell.get("ci")),
                    str(cell.get("n", "")),
                ]
            )
    return Table(
        "systems", "Each row overall, with its own interval", ["Row", "Metric", "Value", "95% CI", "n"], rows
    )


def dataset_table(dataset: dict[str, Any]) -> Table:
    rows = [
        [
            cat,
            str(c["images"]),
            str(c["pairs"]),
            str(c["negatives"]),
            str(c["train"]),
            str(c["val"]),
            str(c["test"]),
        ]
        for cat, c in dataset["categories"].items()
    ]
    splits = dataset.get("splits", {})
    rows.append(
        [
            "All",
            str(dataset["images_with_pairs"]),
            str(dataset["pairs"]),
            str(dataset["negatives"]),
            str(splits.get("train", 0)),
            str(splits.get("val", 0)),
            str(splits.get("test", 0)),
        ]
    )
    review = ", ".join(f"{k}: {v}" for k, v in sorted(dataset.get("review", {}).items()))
    return Table(
        "dataset",
        "Images and pairs by category and split",
        ["Category", "Images", "Pairs", "Negatives (不存在)", "Train", "Val", "Test"],
        rows,
        f"{dataset['images']} images in the run; review status: {review or DASH}.",
    )


def stages_table(manifest: dict[str, Any]) -> Table:
    rows = []
    for name, entry in manifest.get("stages", {}).items():
        if entry.get("status") == "running":  # the report stage itself, while it writes this
            continue
        usage = entry.get("usage") or {}
        counts = entry.get("counts") or {}
        rows.append(
            [
                name,
                entry.get("status", ""),
                _seconds(entry.get("wall_time_s")),
                str(counts.get("ok", "")) if counts else "",
                str(usage.get("requests", "")) if usage else "",
                _tokens(usage),
                f"${usage['cost_usd']:.4f}" if "cost_usd" in usage else "",
            ]
        )
    return Table(
        "stages",
        "Stages: time, teacher requests, tokens and cost",
        ["Stage", "Status", "Wall time", "Items ok", "Requests", "Tokens in / out", "Cost"],
        rows,
    )


def _seconds(value: float | None) -> str:
    if value is None:
        return ""
    if value < 60:
        return f"{value:.1f} s"
    return f"{value / 60:.1f} min"


def _tokens(usage: dict[str, Any]) -> str:
    if not usage:
        return ""
    return f"{usage.get('input_tokens', 0):,} / {usage.get('output_tokens', 0):,}"

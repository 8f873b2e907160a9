"""The report's tables as plain rows of strings, rendered by both the Markdown and HTML writers.

Numbers are shown as percentages with one decimal (gains in percentage points), straight
from ``metrics.json``; ``–`` where a metric does not apply.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from vlkd.api import ReportTable

if TYPE_CHECKING:
    from vlkd.api import Manifest, Metrics

DASH = "–"
SYSTEM_LABELS = {"base": "Base", "tuned": "Tuned", "teacher": "Teacher"}
#: one headline metric per category, the one the seed's table reports
HEADLINE_METRIC = "exact_match"


Table = ReportTable  # one table type: the report's own and those plugins add (vlkd_report_sections)

_NUMBER_CELL = re.compile(r"^[+\-]?[\d.,]+ ?(%|pp|s|min)?$|^–$")


def numeric_columns(t: Table) -> set[int]:
    """The table's numeric columns; for a table that does not say (a plugin's), every column after
    the first whose cells are all numbers, percentages or dashes."""
    if t.numeric:
        return t.numeric
    return {
        i
        for i in range(1, len(t.header))
        if t.rows and all(i < len(r) and (not r[i] or _NUMBER_CELL.match(r[i])) for r in t.rows)
    }


def plain(name: str) -> str:
    """A category as words: ``part_recognition`` -> ``part recognition`` (it can wrap on a phone)."""
    return name.replace("_", " ")


def pct(value: float | None) -> str:
    return DASH if value is None else f"{value * 100:.1f}%"


def pp(value: float | None) -> str:
    return DASH if value is None else f"{value * 100:+.1f} pp"


def ci(pair: list[float | None] | None, signed: bool = False) -> str:
    if not pair or pair[0] is None or pair[1] is None:
        return DASH
    fmt = "{:+.1f}" if signed else "{:.1f}"
    return f"[{fmt.format(pair[0] * 100)}, {fmt.format(pair[1] * 100)}]"


def cell(metrics: Metrics, system: str, group: str, metric: str) -> dict[str, Any]:
    """``{value, ci, n}`` of a metric for a system, overall (``group=""``) or in a category."""
    result = metrics.results.get(system)
    if result is None:
        return {}
    part = result["overall"] if not group else result["categories"].get(group, {})
    return part.get(metric) or {}


def delta(metrics: Metrics, group: str, metric: str) -> dict[str, Any]:
    d = metrics.deltas.get("base->tuned")
    if not d:
        return {}
    part = d["overall"] if not group else d["categories"].get(group, {})
    return part.get(metric) or {}


def conf_label(metrics: Metrics) -> str:
    return f"{round(metrics.bootstrap.get('confidence', 0.95) * 100)}%"


def systems_shown(metrics: Metrics) -> list[str]:
    return [s for s in ("base", "tuned", "teacher") if s in metrics.results]


def category_table(metrics: Metrics) -> Table:
    """Per category, then overall: base, tuned, gain with its interval, items (exact match)."""
    students = [s for s in ("base", "tuned") if s in metrics.results]
    paired = students == ["base", "tuned"]
    header = ["Category", *(SYSTEM_LABELS[s] for s in students)]
    header += ["Gain", f"{conf_label(metrics)} interval"] if paired else []
    header += ["n"]
    rows = []
    for label, group in [(plain(c), c) for c in metrics.categories] + [("Overall", "")]:
        row = [label] + [pct(cell(metrics, s, group, HEADLINE_METRIC).get("value")) for s in students]
        if paired:
            d = delta(metrics, group, HEADLINE_METRIC)
            row += [pp(d.get("value")), ci(d.get("ci"), signed=True)]
        n = next((cell(metrics, s, group, "exact_match").get("n") for s in students), None)
        row.append(str(n if n is not None else ""))
        rows.append(row)
    return Table(
        "headline",
        "Exact match by category",
        header,
        rows,
        "Exact match after normalisation (case, width, punctuation; numbers with units compared as "
        "quantities). Gain in percentage points, with a paired bootstrap interval "
        f"({metrics.bootstrap.get('samples', 0)} resamples); n = test questions.",
        numeric=set(range(1, len(header))),
        strong={len(rows) - 1},
    )


def metrics_table(metrics: Metrics) -> Table:
    """Every metric overall: each row's value, the gain with its interval, and the items it is about."""
    systems = systems_shown(metrics)
    paired = "base" in systems and "tuned" in systems
    header = ["Metric", *(SYSTEM_LABELS[s] for s in systems)]
    header += ["Gain", f"{conf_label(metrics)} interval"] if paired else []
    header += ["n"]
    rows = []
    for m in metrics.metrics:
        name = m["name"]
        if m.get("missing"):
            rows.append([m["label"], *(["missing"] * (len(header) - 2)), ""])
            continue
        row = [m["label"]] + [pct(cell(metrics, s, "", name).get("value")) for s in systems]
        if paired:
            d = delta(metrics, "", name)
            row += [pp(d.get("value")), ci(d.get("ci"), signed=True)]
        row.append(str(_shared_n(metrics, name)))
        rows.append(row)
    return Table(
        "metrics",
        "Every metric, all categories together",
        header,
        rows,
        "n = the questions a metric is about: all of them, those with a number for an answer "
        "(relaxed accuracy), or those where the answer or the prediction is 'not present'.",
        numeric=set(range(1, len(header))),
    )


def _shared_n(metrics: Metrics, name: str) -> int | str:
    if name.startswith("not_present_"):
        name = "not_present_recall"
    for system in ("tuned", "base", "teacher"):
        c = cell(metrics, system, "", name)
        if c:
            return c.get("n", "")
    return ""


def dataset_table(dataset: dict[str, Any]) -> Table:
    flagged = bool(dataset.get("flagged_pairs"))

    def row(name: str, c: dict[str, Any]) -> list[str]:
        share = f" ({c['negatives'] / c['pairs'] * 100:.0f}%)" if c["pairs"] else ""
        out = [name, str(c["images"]), str(c["pairs"]), f"{c['negatives']}{share}"]
        out += [str(c.get("flagged", 0))] if flagged else []
        return [*out, str(c.get("train", 0)), str(c.get("val", 0)), str(c.get("test", 0))]

    rows = [row(plain(cat), c) for cat, c in dataset["categories"].items()]
    splits = dataset.get("splits", {})
    rows.append(
        row(
            "All",
            {
                "images": dataset["images_with_pairs"],
                "pairs": dataset["pairs"],
                "negatives": dataset["negatives"],
                "flagged": dataset.get("flagged_pairs", 0),
                **splits,
            },
        )
    )
    header = ["Category", "Images", "Pairs", "Not present (share)"]
    header += ["Flagged"] if flagged else []
    header += ["Train", "Val", "Test"]
    review = ", ".join(f"{v} {k}" for k, v in sorted(dataset.get("review", {}).items()))
    return Table(
        "dataset",
        "Images and question/answer pairs",
        header,
        rows,
        f"'Not present': questions whose answer is that the image does not show it. "
        f"Review: {review or DASH}.",
        numeric=set(range(1, len(header))),
        strong={len(rows) - 1},
    )


def flags_table(dataset: dict[str, Any]) -> Table | None:
    if not dataset.get("flags"):
        return None
    rows = [[f["check"], f["flag"], str(f["pairs"])] for f in dataset["flags"]]
    return Table(
        "flags",
        "Verify flags",
        ["Check", "Flag", "Pairs"],
        rows,
        "Flags that the verify stage's checks put on pairs (a pair may have several).",
        numeric={2},
    )


def stages_table(manifest: Manifest) -> Table:
    rows = []
    for name, entry in manifest.stages.items():
        if entry.get("status") == "running":  # the report stage itself, while it writes this
            continue
        counts = entry.get("counts") or {}
        problems = sum(v for k, v in counts.items() if k in ("failed", "skipped") and isinstance(v, int))
        rows.append(
            [
                name,
                entry.get("status", ""),
                seconds(entry.get("wall_time_s")),
                str(counts.get("ok", "")) if counts else "",
                str(problems) if problems else "",
            ]
        )
    return Table(
        "stages",
        "Stages",
        ["Stage", "Status", "Time", "Items done", "Skipped or failed"],
        rows,
        numeric={2, 3, 4},
    )


def seconds(value: float | None) -> str:
    if value is None:
        return ""
    if value < 60:
        return f"{value:.1f} s"
    return f"{value / 60:.1f} min"

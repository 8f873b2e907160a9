"""The report as a list of sections, independent of the output format.

A section is a title plus blocks: paragraphs, bullet lists, tables, an image (the loss
curve) and example cards. ``render_md`` and ``render_html`` write the same document.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vlkd.plugins.report.collect import ReportData
from vlkd.plugins.report.tables import (
    Table,
    dataset_table,
    headline_table,
    results_table,
    stages_table,
    system_ci_table,
)


@dataclass
class Section:
    title: str
    blocks: list[Any] = field(default_factory=list)


@dataclass
class Paragraph:
    text: str


@dataclass
class Bullets:
    items: list[str]


@dataclass
class Figure:
    path: str  # file name next to the report
    alt: str


@dataclass
class Examples:
    kind: str  # "regressions" | "gains"
    items: list[dict[str, Any]]


def build_document(
    data: ReportData, examples: dict[str, list[dict[str, Any]]], loss_png: str | None, notes: list[str]
) -> list[Section]:
    m = data.metrics
    model = m.get("model") or {}
    overview = [
        f"Recipe **{data.name}**, run directory `{data.run_dir}`.",
        f"Evaluated on the **{m.get('split', '?')}** split: {m.get('items', '?')} question/answer pairs, "
        f"backend `{m.get('backend', '?')}`.",
    ]
    references = m.get("references") or {}
    if references:
        overview.append(
            "References (the answers scored against): "
            + ", ".join(f"{v} {k}" for k, v in sorted(references.items()))
            + "."
        )
    if model:
        overview.append(
            f"Student `{model.get('base_model')}`, adapter `{model.get('adapter') or 'none'}`, "
            f"images within {model.get('image_min_pixels')}–{model.get('image_max_pixels')} pixels."
        )
    sections = [Section("Overview", [Bullets(overview)])]
    if "base" in m["results"] or "tuned" in m["results"]:
        sections.append(Section("Base vs tuned", [headline_table(m), results_table(m)]))
    sections.append(Section("Every row with its interval", [system_ci_table(m)]))
    teacher = _teacher_section(data)
    if teacher.blocks:
        sections.append(teacher)
    curve = Section("Training loss")
    if loss_png:
        curve.blocks.append(Figure(loss_png, "training loss by step"))
        if data.loss_source:
            curve.blocks.append(Paragraph(f"From `{data.loss_source}`."))
    else:
        curve.blocks.append(Paragraph("No loss curve (see notes)."))
    sections.append(curve)
    sections.append(Section("Dataset", [dataset_table(data.dataset)]))
    checks = _checks_section(data)
    if checks.blocks:
        sections.append(checks)
    if examples["regressions"] or examples["gains"]:
        sections.append(
            Section(
                "Worst regressions (tuned worse than base)",
                [Examples("regressions", examples["regressions"])],
            )
        )
        sections.append(
            Section("Best gains (tuned better than base)", [Examples("gains", examples["gains"])])
        )
    elif data.predictions:
        sections.append(
            Section(
                "Regressions and gains",
                [
                    Paragraph(
                        "None: the base and tuned students scored the same (ANLS and exact match) on every item."
                    )
                ],
            )
        )
    sections.append(Section("Run", [stages_table(data.manifest)]))
    if notes:
        sections.append(Section("Notes", [Bullets(notes)]))
    return sections


def _checks_section(data: ReportData) -> Section:
    from vlkd.plugins.verify.report_section import TITLE, verify_tables

    tables, lines = verify_tables(data.manifest)
    return Section(TITLE, [*([Bullets(lines)] if lines else []), *tables])


def _teacher_section(data: ReportData) -> Section:
    section = Section("Teacher: cost, tokens, time")
    teach = data.manifest.get("stages", {}).get("teach")
    lines = []
    if teach:
        usage = teach.get("usage") or {}
        lines.append(
            f"{usage.get('requests', 0)} requests ({usage.get('cached', 0)} from the cache), "
            f"{usage.get('input_tokens', 0):,} input and {usage.get('output_tokens', 0):,} output tokens, "
            f"${usage.get('cost_usd', 0.0):.4f}, {teach.get('wall_time_s', 0):.1f} s wall time."
        )
    summary = data.metrics.get("teacher")
    if summary:
        lines.append(
            f"Teacher reference row: the teacher's raw answers on {summary['items']} test items scored "
            f"against the reviewed answers; reviewers edited {summary['edited_by_reviewers']} of them "
            f"and added {summary['added_by_reviewers']}."
        )
    if lines:
        section.blocks.append(Bullets(lines))
    return section


__all__ = ["Bullets", "Examples", "Figure", "Paragraph", "Section", "Table", "build_document"]

"""``report: {plugin: html}``: ``report.md`` and a self-contained ``report.html`` from the run's files.

The same :func:`build_report` backs ``vlkd report RUN_DIR``: it reads files only, so a
report can be regenerated (after editing a template, on a laptop) without the model, and
for any run: one that stopped after ``teach`` gets a report of its data. The files land in
the report stage's own directory: ``runs/NAME/report/report.html``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field

from vlkd.api import PluginOptions, StagePlugin, image_path


class HtmlReportOptions(PluginOptions):
    title: str | None = Field(None, description="report title [default: 'vlkd report: <recipe name>']")
    examples: int = Field(
        5, ge=0, description="best gains, worst regressions and not-present mistakes shown, each"
    )
    thumbnail_px: int = Field(160, ge=16, description="longest side of the inlined image thumbnails")
    full_px: int = Field(1600, ge=64, description="longest side of an image opened from its thumbnail")
    ladder: list[str] = Field(
        default_factory=list,
        description="other runs of the distillation ladder (e.g. [runs/demo]: SFT on the teacher's text), "
        "compared per category with this one on the same test items, each with its paired interval "
        "against SFT and its cost",
    )


@dataclass
class ReportFiles:
    markdown: Path
    html: Path
    charts: list[Path]
    notes: list[str]
    evaluated: bool


def build_report(
    run_dir: Path,
    out_dir: Path,
    *,
    metrics_path: Path | None = None,
    title: str | None = None,
    examples: int = 5,
    thumbnail_px: int = 160,
    full_px: int = 1600,
    ladder: list[str] | None = None,
) -> ReportFiles:
    """``ladder``: other runs to compare rung by rung; None: those the run's recipe names."""
    from vlkd.plugins.report.collect import collect
    from vlkd.plugins.report.document import Chart, build_document
    from vlkd.plugins.report.examples import data_examples, image_url, pick_examples
    from vlkd.plugins.report.ladder import collect_ladder, recipe_ladder
    from vlkd.plugins.report.render_html import render_html
    from vlkd.plugins.report.render_md import render_markdown

    data = collect(run_dir, metrics_path)
    out_dir.mkdir(parents=True, exist_ok=True)
    picks = pick_examples(data.predictions, examples) if data.metrics is not None else {}
    data_picks = data_examples(data.pairs, data.images, max(1, examples // 2)) if data.metrics is None else []
    rungs = collect_ladder(data, recipe_ladder(data.manifest) if ladder is None else ladder)
    sections = build_document(data, picks, data_picks, rungs)
    title = title or f"vlkd report: {data.name}"

    def locate(path: str) -> Path:  # an example's image: a record's path or a prediction's
        return image_path(data.run_dir, path)

    charts = []
    for section in sections:
        for block in section.blocks:
            if isinstance(block, Chart):
                _write(out_dir / block.file, block.svg + "\n")
                charts.append(out_dir / block.file)
    md_path, html_path = out_dir / "report.md", out_dir / "report.html"
    _write(md_path, render_markdown(title, sections, lambda p: os.path.relpath(locate(p), out_dir)))
    _write(
        html_path,
        render_html(
            title,
            sections,
            lambda p: image_url(locate(p), thumbnail_px),
            lambda p: image_url(locate(p), full_px, quality=88),
            lambda p: Path(p).name,
        ),
    )
    notes = (data.metrics.notes if data.metrics is not None else []) + data.notes
    return ReportFiles(md_path, html_path, charts, notes, data.metrics is not None)


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


class HtmlReport(StagePlugin):
    """report.md and a self-contained report.html: the gain, per-category table and chart, loss, examples, cost, data."""

    Options = HtmlReportOptions
    options: HtmlReportOptions

    def run(self, ctx) -> None:
        opts = self.options
        files = build_report(
            ctx.run_dir,
            ctx.dir,
            metrics_path=ctx.input("metrics") if ctx.has_input("metrics") else None,
            title=opts.title,
            examples=opts.examples,
            thumbnail_px=opts.thumbnail_px,
            full_px=opts.full_px,
            ladder=opts.ladder,
        )
        for note in files.notes[len(_metrics_notes(ctx)) :]:  # the evaluate stage printed its own
            ctx.info(note)
        ctx.facts.update({"report": str(files.html.relative_to(ctx.run_dir)), "evaluated": files.evaluated})
        ctx.info(f"wrote {files.html}")


def _metrics_notes(ctx) -> list[str]:
    if not ctx.has_input("metrics"):
        return []
    return list(ctx.load("metrics").notes)

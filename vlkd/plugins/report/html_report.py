"""``report: {plugin: html}``: ``report.md`` and a self-contained ``report.html`` from the run's files.

The same :func:`build_report` backs ``vlkd report RUN_DIR``: it reads files only, so a
report can be regenerated (after editing a template, on a laptop) without the model.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field

from vlkd.core.options import PluginOptions
from vlkd.core.plugin import StagePlugin


class HtmlReportOptions(PluginOptions):
    title: str | None = Field(None, description="report title [default: 'vlkd report: <recipe name>']")
    examples: int = Field(5, ge=0, description="worst regressions and best gains shown, each")
    thumbnail_px: int = Field(160, ge=16, description="longest side of the inlined image thumbnails")


@dataclass
class ReportFiles:
    markdown: Path
    html: Path
    metrics: Path
    loss_png: Path | None
    notes: list[str]


def build_report(
    run_dir: Path,
    out_dir: Path,
    *,
    metrics_path: Path | None = None,
    title: str | None = None,
    examples: int = 5,
    thumbnail_px: int = 160,
) -> ReportFiles:
    from vlkd.plugins.report.collect import collect
    from vlkd.plugins.report.document import build_document
    from vlkd.plugins.report.examples import pick_examples, thumbnail
    from vlkd.plugins.report.loss_plot import plot_loss
    from vlkd.plugins.report.render_html import render_html
    from vlkd.plugins.report.render_md import render_markdown

    data = collect(run_dir, metrics_path)
    out_dir.mkdir(parents=True, exist_ok=True)
    metrics_copy = out_dir / "metrics.json"
    if data.metrics_path.resolve() != metrics_copy.resolve():
        shutil.copyfile(data.metrics_path, metrics_copy)
    notes = list(data.metrics.get("notes") or []) + data.notes
    loss_png: Path | None = out_dir / "loss.png"
    if data.loss:
        note = plot_loss(data.loss, loss_png)
        if note:
            notes.append(note)
            loss_png = None
    else:
        loss_png = None
    picked = pick_examples(data.predictions, examples)
    title = title or f"vlkd report: {data.name}"
    sections = build_document(data, picked, loss_png.name if loss_png else None, notes)
    md_path, html_path = out_dir / "report.md", out_dir / "report.html"
    _write(md_path, render_markdown(title, sections))
    _write(html_path, render_html(title, sections, out_dir, lambda p: thumbnail(p, thumbnail_px)))
    return ReportFiles(md_path, html_path, metrics_copy, loss_png, notes)


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


class HtmlReport(StagePlugin):
    """report.md and a self-contained report.html: base vs tuned table with CIs, loss curve, cost, examples."""

    Options = HtmlReportOptions
    options: HtmlReportOptions

    def run(self, ctx) -> None:
        opts = self.options
        files = build_report(
            ctx.run_dir,
            ctx.output("report"),
            metrics_path=ctx.input("metrics"),
            title=opts.title,
            examples=opts.examples,
            thumbnail_px=opts.thumbnail_px,
        )
        already_said = set(json.loads(files.metrics.read_text(encoding="utf-8")).get("notes") or [])
        for note in files.notes:
            if note not in already_said:  # the evaluate stage printed its own notes
                ctx.info(note)
        ctx.facts.update({"report": str(files.html), "markdown": str(files.markdown)})
        ctx.info(f"report: {files.html}")

"""``vlkd report RUN_DIR``: (re)write a run's report from its files; no model is loaded."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vlkd.api import hookimpl


@hookimpl
def vlkd_register_commands(app: typer.Typer) -> None:
    @app.command()
    def report(
        run_dir: Annotated[
            Path, typer.Argument(help="The run directory (runs/<recipe name>).", show_default=False)
        ],
        out: Annotated[
            Path | None, typer.Option("--out", "-o", help="Output folder [default: RUN_DIR/report]")
        ] = None,
        metrics: Annotated[
            Path | None, typer.Option(help="metrics.json to report [default: the evaluate stage's]")
        ] = None,
        title: Annotated[str | None, typer.Option(help="Report title.")] = None,
        examples: Annotated[
            int,
            typer.Option(min=0, help="Best gains, worst regressions and not-present mistakes shown, each."),
        ] = 5,
        ladder: Annotated[
            list[str] | None,
            typer.Option(
                "--ladder",
                help="Another run of the distillation ladder to compare with, rung by rung (repeatable) "
                "[default: the recipe's report.ladder]",
            ),
        ] = None,
    ) -> None:
        """Write report.md and a self-contained report.html for any run, evaluated or not (reads files only)."""
        from vlkd.core.console import make_console
        from vlkd.core.errors import VlkdError
        from vlkd.plugins.report.html_report import build_report

        if not run_dir.is_dir():
            raise VlkdError(f"{run_dir}: no such run directory")
        files = build_report(
            run_dir,
            out or run_dir / "report",
            metrics_path=metrics,
            title=title,
            examples=examples,
            ladder=list(ladder) if ladder else None,  # none given: the recipe's report.ladder
        )
        from vlkd.core.rundir import note_written_at

        note_written_at(files.html)  # the run's own report folder: vlkd's, for a later --fresh
        console = make_console(stderr=True)
        for note in files.notes:
            console.print(f"[yellow]note:[/yellow] {note}")
        console.print(f"wrote {files.html} (and report.md beside it)")

"""``vlkd teach batches RUN_DIR`` and ``vlkd teach cancel RUN_DIR``: a run's provider batches."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vlkd.api import hookimpl

RunDirArg = Annotated[
    Path, typer.Argument(help="The run directory (runs/<recipe name>).", show_default=False)
]


def _print(rows: list, title: str) -> None:
    from rich.table import Table

    from vlkd.core.console import make_console
    from vlkd.core.progress import literal

    table = Table(title=title, title_justify="left")
    for col in ("batch", "requests", "recorded", "provider now", "counts"):
        table.add_column(col)
    for row in rows:
        counts = ", ".join(f"{k} {v}" for k, v in (row.counts or {}).items() if v)
        table.add_row(
            literal(row.chunk.batch or row.chunk.chunk),
            str(len(row.chunk.keys)),
            literal(row.recorded),
            literal(row.live or row.note or ""),
            literal(counts),
        )
    make_console(stderr=False).print(table)


@hookimpl
def vlkd_register_commands(app: typer.Typer) -> None:
    teach = typer.Typer(help="The teach stage's provider batches (teach.mode: batch).", no_args_is_help=True)

    @teach.command("batches")
    def batches(
        run_dir: RunDirArg,
        offline: Annotated[
            bool, typer.Option("--offline", help="Only what the run recorded; ask no provider.")
        ] = False,
    ) -> None:
        """List the run's batches: what was recorded, and what the provider says now."""
        from vlkd.teach.batch_admin import list_batches

        rows = list_batches(run_dir, live=not offline)
        _print(rows, f"batches of {run_dir}")

    @teach.command("cancel")
    def cancel(run_dir: RunDirArg) -> None:
        """Cancel the run's open batches; the next `vlkd run` collects what they finished."""
        from vlkd.teach.batch_admin import cancel_batches

        rows = cancel_batches(run_dir)
        if not rows:
            typer.echo("no open batches")
            return
        done = any(row.chunk.batch for row in rows)
        _print(rows, f"{'cancelled' if done else 'nothing cancelled'} in {run_dir}")

    app.add_typer(teach, name="teach")

"""``vlkd review import RUN_DIR FILE``: bring the experts' reviewed sheet into a run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vlkd.api import hookimpl

review_app = typer.Typer(help="Expert review of the teacher's pairs.", no_args_is_help=True)


@review_app.command("import")
def import_(
    run_dir: Annotated[
        Path, typer.Argument(help="The run directory (runs/<recipe name>).", show_default=False)
    ],
    file: Annotated[Path, typer.Argument(help="The reviewed .csv or .xlsx sheet.", show_default=False)],
) -> None:
    """Validate a reviewed sheet against the run and store it; the next run applies it.

    Every row is checked first (row-numbered errors); when any row is invalid nothing is
    applied. On success the review stage and every stage after it re-run on the next
    `vlkd run`.
    """
    from rich.console import Console

    from vlkd.plugins.review.imports import import_review_file

    summary = import_review_file(run_dir, file)
    recipe = summary.get("recipe") or "RECIPE"
    Console(stderr=True, highlight=False).print(
        f"[green]imported[/green] {file}: {summary['changes']} change(s) ({summary['edited']} edited, "
        f"{summary['added']} added, {summary['changes'] - summary['edited'] - summary['added']} status/other); "
        f"stored as {summary['file']}.\nApply it (review and the stages after it re-run): "
        f"vlkd run {recipe} --run-dir {Path(run_dir)}",
        soft_wrap=True,
    )


@hookimpl
def vlkd_register_commands(app: typer.Typer) -> None:
    app.add_typer(review_app, name="review")

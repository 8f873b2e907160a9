"""``vlkd review serve RUN_DIR``: the review page; ``vlkd review import RUN_DIR FILE``: a reviewed sheet."""

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
    import shlex

    from vlkd.core.console import make_console
    from vlkd.core.progress import literal
    from vlkd.plugins.review.imports import import_review_file

    summary = import_review_file(run_dir, file)
    recipe = summary.get("recipe") or "RECIPE"
    if not summary["changes"]:
        make_console(stderr=True).print(
            f"{literal(str(file))}: nothing to apply: every row matches the run's pairs (imported already?)",
            soft_wrap=True,
        )
        return
    make_console(stderr=True).print(
        f"[green]imported[/green] {literal(str(file))}: {summary['changes']} change(s) ({summary['edited']} edited, "
        f"{summary['added']} added, {summary['changes'] - summary['edited'] - summary['added']} status/other); "
        f"stored as {literal(summary['file'])}.\nApply it (review and the stages after it re-run): "
        + literal(f"vlkd run {shlex.quote(str(recipe))} --run-dir {shlex.quote(str(Path(run_dir)))}"),
        soft_wrap=True,
    )


@review_app.command("serve")
def serve(
    run_dir: Annotated[
        Path, typer.Argument(help="The run directory (runs/<recipe name>).", show_default=False)
    ],
    host: Annotated[
        str, typer.Option(help="Address to listen on; any other than 127.0.0.1 requires a token.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (0: any free port).")] = 8765,
    reviewer: Annotated[
        str | None, typer.Option(help="Name recorded with each decision [default: your user name].")
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(help="Access token [default: generated when --host is not 127.0.0.1]."),
    ] = None,
    open_: Annotated[bool, typer.Option("--open", help="Open the page in a browser.")] = False,
    reviewers: Annotated[
        Path | None,
        typer.Option(
            help="reviewers.yaml: a team (names, roles, overlap, blind); each gets a key of their own."
        ),
    ] = None,
) -> None:
    """Review the teacher's pairs in the browser; each decision is saved as it is made.

    The next `vlkd run` applies the decisions (review and the stages after it re-run).
    Shortcuts: j/k next/previous image, a approve, r reject, e edit, ? all of them.
    """
    from vlkd.core.console import make_console
    from vlkd.plugins.review.team.admin import apply_reviewers_file, restored_on_failure
    from vlkd.plugins.review.web.server import ReviewServer

    with restored_on_failure(run_dir):  # keys nobody saw are not kept
        new_keys = apply_reviewers_file(run_dir, reviewers) if reviewers is not None else []
        server = ReviewServer(run_dir, host=host, port=port, reviewer=reviewer, token=token)
    if server.team is not None:
        from vlkd.plugins.review.team.cli_text import team_lines

        make_console(stderr=True).print(
            team_lines(server.team.team, server.base_url, new_keys), soft_wrap=True, markup=False
        )
    progress = server.store.progress()
    make_console(stderr=True).print(
        f"review page for {server.store.run_dir} ({progress['reviewed']} of {progress['total']} pairs "
        f"reviewed): {server.url}\n"
        + (f"{progress['last_run']}\n" if progress.get("last_run") else "")
        + ("each reviewer opens their own link" if server.team else f"reviewer: {server.reviewer}")
        + "; each decision is saved as it is made; "
        "Ctrl-C stops the server; the next vlkd run applies the decisions.",
        soft_wrap=True,
        markup=False,
    )
    if open_:
        import webbrowser

        webbrowser.open(server.url)
    import contextlib

    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: every decision is saved already
        server.serve_forever()


from vlkd.commands import review_team  # noqa: E402, F401 - the team commands join review_app


@hookimpl
def vlkd_register_commands(app: typer.Typer) -> None:
    app.add_typer(review_app, name="review")

"""The ``vlkd`` command line.

Imports stay inside the commands: ``vlkd --help`` loads neither pydantic nor any plugin.
Every user error is a ``VlkdError``: printed without a traceback, exit status 2.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    name="vlkd",
    help="Distil a vision-language teacher into a LoRA-tuned student, from a recipe YAML.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion for bash, zsh, fish
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: rich's help renderer costs ~0.2 s at start-up
    context_settings={"help_option_names": ["-h", "--help"]},
)

RecipeArg = Annotated[Path, typer.Argument(help="The recipe YAML file.", show_default=False)]
SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        "-s",
        metavar="KEY=VALUE",
        help="Override a recipe key, typed as YAML (repeatable): --set teach.model=gpt-4o-mini",
    ),
]


def _console(stderr: bool = True):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, emoji=False)


def _show_version(value: bool) -> None:
    if value:
        from vlkd import __version__

        typer.echo(f"vlkd {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", "-V", callback=_show_version, is_eager=True, help="Print vlkd's version and exit."
        ),
    ] = False,
) -> None:
    """Distil a vision-language teacher into a LoRA-tuned student, from a recipe YAML."""


@app.command()
def run(
    recipe: RecipeArg,
    set_: SetOpt = None,
    run_dir: Annotated[
        Path | None, typer.Option("--run-dir", help="Run directory [default: runs/<recipe name>]")
    ] = None,
    from_stage: Annotated[
        str | None, typer.Option("--from", help="Run from this stage on (re-runs it).")
    ] = None,
    to_stage: Annotated[str | None, typer.Option("--to", help="Stop after this stage.")] = None,
    fresh: Annotated[
        bool, typer.Option("--fresh", help="Start the run directory over (the response cache is kept).")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would run, calls and cost estimates; spend nothing.")
    ] = False,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Do not read the teacher response cache.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only warnings and errors.")] = False,
    forget_sets: Annotated[
        bool,
        typer.Option(
            "--forget-sets", help="Drop the --set overrides the run directory remembers from earlier runs."
        ),
    ] = False,
) -> None:
    """Run a recipe; a re-run skips finished stages and resumes unfinished ones.

    The run directory remembers the --set overrides that shaped it: a re-run with the same
    recipe and --run-dir applies them again; a --set of the same key replaces one.
    """
    from vlkd.core import overrides
    from vlkd.core.engine import Engine
    from vlkd.core.progress import Reporter
    from vlkd.core.recipe import load_recipe

    given = list(set_ or [])
    loaded = load_recipe(recipe, given)
    notes: list[str] = []
    if not fresh:
        stored = overrides.remembered(run_dir or Path("runs") / loaded.name, recipe, loaded.name)
        merged = overrides.merge(stored, given, forget=forget_sets)
        notes = merged.notes
        if merged.apply != given:
            loaded = load_recipe(recipe, merged.apply)
    if quiet:  # the libraries' own progress bars and advice too (subprocesses inherit this)
        import os

        os.environ.setdefault("TQDM_DISABLE", "1")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    reporter = Reporter(quiet=quiet)
    for note in notes:
        reporter.info(literal(note))
    engine = Engine(
        loaded,
        run_dir,
        fresh=fresh,
        from_stage=from_stage,
        to_stage=to_stage,
        dry_run=dry_run,
        no_cache=no_cache,
        reporter=reporter,
    )
    engine.run()
    if not dry_run:
        reporter.info(f"run directory: {literal(str(engine.run_dir.path))}")


@app.command()
def validate(recipe: RecipeArg, set_: SetOpt = None) -> None:
    """Check a recipe (and everything it extends) without running anything."""
    from vlkd.core.recipe import load_recipe

    loaded = load_recipe(recipe, set_ or [])
    stages = ", ".join(f"{n} ({'+'.join(s.info.name for s in c.steps)})" for n, c in loaded.stages.items())
    _console(stderr=False).print(
        f"[green]ok[/green] {recipe}: recipe '{loaded.name}': {stages or 'no stages'}"
    )


@app.command()
def plugins(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List the installed plugins: kind, name, distribution, version, availability."""
    import json

    from vlkd.core.registry import load_registry

    registry = load_registry()
    rows = []
    for info in registry.all():
        missing = info.missing_modules()
        rows.append(
            {
                "kind": info.kind.name,
                "name": info.name,
                "distribution": info.distribution,
                "version": info.version,
                "available": not missing,
                "install": info.install_hint() if missing else None,
                "description": info.description,
            }
        )
    if as_json:
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    from rich.table import Table

    console = _console(stderr=False)
    wide = console.width >= 110  # the description column only where it fits
    table = Table()
    for column in ("stage", "plugin", "distribution", "version", "status"):
        table.add_column(column, no_wrap=True)
    if wide:
        table.add_column("description", overflow="ellipsis", no_wrap=True, max_width=console.width - 80)
    for r in rows:
        status = "[green]ready[/green]" if r["available"] else f"[yellow]{r['install']}[/yellow]"
        cells = [r["kind"], r["name"], r["distribution"], r["version"], status]
        table.add_row(*cells, *([r["description"]] if wide else []))
    console.print(table)


@app.command()
def schema(
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file.")] = None,
) -> None:
    """Print the JSON Schema of recipes, covering every installed plugin's options."""
    import json

    from vlkd.core.registry import load_registry
    from vlkd.core.schema import recipe_json_schema

    text = json.dumps(recipe_json_schema(load_registry()), indent=2, ensure_ascii=False) + "\n"
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
        _console().print(f"wrote {output}")


@app.command()
def init(
    name: Annotated[str, typer.Argument(help="Recipe name (also the file name).")] = "my-recipe",
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented starter recipe NAME.yaml in the current directory."""
    from vlkd.core.errors import VlkdError
    from vlkd.core.starter import starter_recipe

    path = Path(f"{name}.yaml")
    if path.exists() and not force:
        raise VlkdError(f"{path} exists; pass --force to overwrite it")
    path.write_text(starter_recipe(name), encoding="utf-8")
    _console().print(f"wrote {path}; check it with: vlkd validate {path}")


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app, turn user errors into a message and exit status 2."""
    try:
        from vlkd.commands import register_commands

        register_commands(app)
        app(args=argv, standalone_mode=False, prog_name="vlkd")
    except KeyboardInterrupt:
        _console().print("[yellow]interrupted[/yellow]")
        sys.exit(130)
    except Exception as exc:
        from vlkd.core.errors import VlkdError, usage_error_message

        usage = usage_error_message(exc)
        if usage is not None:
            code, text = usage
            if text:
                sys.stderr.write(text + "\n")
            sys.exit(code)
        if isinstance(exc, VlkdError):
            _console().print("[red]error:[/red] " + literal(str(exc)), soft_wrap=True)
            sys.exit(exc.exit_code)
        raise


def literal(text: str) -> str:
    from vlkd.core.progress import literal as _literal

    return _literal(text)

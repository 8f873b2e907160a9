"""The ``vlkd`` command line.

Imports stay inside the commands: ``vlkd --help`` loads neither pydantic nor any plugin.
Every user error is a ``VlkdError``: printed without a traceback, exit status 2.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from vlkd.core.cpus import limit_threads

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
    from vlkd.core.console import make_console

    return make_console(stderr)


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
    no_wait: Annotated[
        bool,
        typer.Option(
            "--no-wait", help="teach mode: batch: submit the batches and return; the next run collects."
        ),
    ] = False,
    no_retry_failed: Annotated[
        bool,
        typer.Option("--no-retry-failed", help="Leave the items that failed in finished stages failed."),
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only warnings and errors.")] = False,
    forget_sets: Annotated[
        bool,
        typer.Option(
            "--forget-sets", help="Drop the --set overrides the run directory remembers from earlier runs."
        ),
    ] = False,
    executor: Annotated[
        str | None,
        typer.Option(
            "--executor",
            help="Where the stages' items run: local (this machine) or ray [default: the recipe's]",
        ),
    ] = None,
    address: Annotated[
        str | None,
        typer.Option("--address", help="--executor ray: the cluster (auto, HOST:PORT, ray://HOST:10001)"),
    ] = None,
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
            from vlkd.core.errors import RecipeError

            try:
                loaded = load_recipe(recipe, merged.apply)
            except RecipeError as exc:
                raise RecipeError(
                    [
                        f"the run directory remembers {overrides.command(stored)} from an earlier run, "
                        "and with them the recipe is not valid (pass --forget-sets to drop them, or "
                        "--set the key again):",
                        *exc.problems,
                    ]
                ) from None
    # --quiet quiets the libraries' advice too (their bars are off for every command: main)
    if quiet:
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    reporter = Reporter(quiet=quiet)
    for note in [*notes, *(loaded.student.notes if loaded.student else ())]:
        reporter.info(literal(note))
    from vlkd.core.executor import chosen_executor

    engine = Engine(
        loaded,
        run_dir,
        executor=chosen_executor(loaded.executor, executor, address),
        fresh=fresh,
        from_stage=from_stage,
        to_stage=to_stage,
        dry_run=dry_run,
        no_cache=no_cache,
        no_wait=no_wait,
        retry_failed=not no_retry_failed,
        reporter=reporter,
    )
    engine.run()
    if not dry_run:
        reporter.info(f"run directory: {literal(str(engine.run_dir.path))}")


@app.command()
def validate(
    recipe: RecipeArg,
    set_: SetOpt = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Fail when a plugin's extra is not installed here (for CI).")
    ] = False,
    resolved: Annotated[
        bool,
        typer.Option(
            "--resolved",
            help="Print the recipe as it resolves (extends, ${env:..}, --set; secrets redacted).",
        ),
    ] = False,
) -> None:
    """Check a recipe (and everything it extends) without running anything.

    A plugin whose extra is not installed here (a GPU recipe on a laptop) is checked all the
    same and named with its install command; --strict makes that an error. --resolved prints
    what the recipe really says, every default filled in, as YAML on stdout.
    """
    from vlkd.core.recipe import load_recipe

    loaded = load_recipe(recipe, set_ or [], strict=strict)
    if resolved:
        import yaml

        typer.echo(yaml.safe_dump(loaded.resolved(), sort_keys=False, allow_unicode=True), nl=False)
        return
    stages = ", ".join(f"{n} ({'+'.join(s.info.name for s in c.steps)})" for n, c in loaded.stages.items())
    _console(stderr=False).print(
        f"[green]ok[/green] {literal(str(recipe))}: recipe '{loaded.name}': {stages or 'no stages'}"
    )
    for note in loaded.student.notes if loaded.student else ():
        _console().print(f"[cyan]note:[/cyan] {literal(note)}", soft_wrap=True)
    if loaded.missing:
        _console().print(
            "[yellow]not installed here[/yellow] (needed to run it): " + literal("; ".join(loaded.missing)),
            soft_wrap=True,
        )


@app.command()
def plugins(
    name: Annotated[
        str | None,
        typer.Argument(
            help="Show this plugin's options (STAGE:NAME when two stages have one).", show_default=False
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List the installed plugins, or one plugin's options: type, default, description."""
    import json

    from vlkd.core.registry import load_registry

    if name is not None:
        _plugin_options(load_registry(), name, as_json)
        return
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

    from vlkd.core.console import cell, keep_whole

    console = _console(stderr=False)
    wide = console.width >= 110  # the description column only where it fits
    table = Table()
    for column in ("stage", "plugin", "distribution", "version", "status"):
        table.add_column(column, no_wrap=True)
    if wide:
        table.add_column("description", overflow="ellipsis", no_wrap=True, max_width=console.width - 80)
    for r in rows:
        status = cell("ready", "green") if r["available"] else cell(r["install"], "yellow")
        cells = [cell(r[k]) for k in ("kind", "name", "distribution", "version")]
        table.add_row(*cells, status, *([cell(r["description"])] if wide else []))
    console.print(keep_whole(table, (0, 1, 4)))


def _plugin_options(registry, name: str, as_json: bool) -> None:
    import json

    from rich.table import Table

    from vlkd.core.errors import PluginError, did_you_mean
    from vlkd.core.plugin_help import option_rows

    kind, _, plain = name.rpartition(":")
    found = [i for i in registry.all() if i.name == plain and (not kind or i.kind.name == kind)]
    if not found:
        names = sorted({i.name for i in registry.all()})
        raise PluginError(
            f"no plugin named '{plain}'{did_you_mean(plain, names)}"
            + (f" in stage '{kind}'" if kind else "")
            + "; vlkd plugins lists them"
        )
    if as_json:
        out = [{"kind": i.kind.name, "name": i.name, "options": option_rows(i)} for i in found]
        typer.echo(json.dumps(out, indent=2, ensure_ascii=False))
        return
    console = _console(stderr=False)
    for info in found:
        missing = info.missing_modules()
        status = f"not installed here: {info.install_hint()}" if missing else "ready"
        console.print(
            f"[bold]{info.kind.name}: {literal(info.name)}[/bold] ({literal(info.distribution)} "
            f"{literal(info.version)}, {literal(status)})"
        )
        if info.description:
            console.print(literal(info.description))
        table = Table(show_lines=False)
        for column in ("option", "type", "default", "description"):
            table.add_column(column, overflow="fold")
        for row in option_rows(info):
            table.add_row(*(literal(row[c]) for c in ("option", "type", "default", "description")))
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
    """Write a commented starter recipe NAME.yaml (and recipe.schema.json for editors) here."""
    import json

    from vlkd.core.errors import VlkdError
    from vlkd.core.recipe import MAX_NAME, NAME_PATTERN
    from vlkd.core.registry import load_registry
    from vlkd.core.schema import recipe_json_schema
    from vlkd.core.starter import SCHEMA_FILE, STARTER_INPUTS, starter_recipe

    if not NAME_PATTERN.match(name) or len(name) > MAX_NAME:
        raise VlkdError(
            f"'{name}': a recipe name is letters, digits, '.', '_' or '-', at most {MAX_NAME} characters "
            "(it names the file and the run directory)"
        )
    path = Path(f"{name}.yaml")
    if path.exists() and not force:
        raise VlkdError(f"{path} exists; pass --force to overwrite it")
    path.write_text(starter_recipe(name), encoding="utf-8")
    schema_path = path.with_name(SCHEMA_FILE)
    schema_path.write_text(
        json.dumps(recipe_json_schema(load_registry()), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    inputs = Path(STARTER_INPUTS)  # the starter reads it: it must validate as written
    made = not inputs.exists()
    inputs.mkdir(exist_ok=True)
    _console().print(
        literal(
            f"wrote {path} and {schema_path} (for editors)"
            + (f", and an empty {inputs}/ folder" if made else "")
            + f"; put your images and PDFs in {inputs}/, check the recipe with: vlkd validate {path}"
        )
    )


def quiet_library_bars() -> None:
    """Turn off the libraries' own progress bars (transformers' "Loading weights" and "Writing
    model shards", datasets' per-map bars, the hub's downloads): on a terminal they cut into
    vlkd's live display, in a log they are noise; vlkd shows its own progress for each stage.

    Set before any of them is imported (the hub reads its variable at import) and inherited by
    the trainers' and evaluators' subprocesses. A value the user set is kept.
    """
    for name in ("TQDM_DISABLE", "HF_HUB_DISABLE_PROGRESS_BARS", "HF_DATASETS_DISABLE_PROGRESS_BARS"):
        os.environ.setdefault(name, "1")


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app, turn user errors into a message and exit status 2."""
    try:
        quiet_library_bars()
        limit_threads()  # before torch, numpy's BLAS or onnxruntime load; subprocesses inherit it
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
        if isinstance(exc, OSError) and exc.filename and not os.environ.get("VLKD_DEBUG"):
            # a file the command was told to read or write: the environment, not a bug in vlkd
            _console().print(
                f"[red]error:[/red] {literal(str(exc.filename))}: {literal(exc.strerror or str(exc))} "
                "(VLKD_DEBUG=1 shows the traceback)",
                soft_wrap=True,
            )
            sys.exit(2)
        raise


def literal(text: str) -> str:
    from vlkd.core.progress import literal as _literal

    return _literal(text)

"""``vlkd student families`` and ``vlkd student tiny FAMILY OUT_DIR``: the student families, and
tiny random students built offline (for smoke tests, CI and vLLM on a CPU)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vlkd.api import hookimpl


def _families():
    from vlkd.core.registry import load_registry

    return load_registry().family_infos()


def families_command(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List the student families: name, transformers class, LLaMA-Factory template, block size, trainers."""
    import json

    from vlkd.llamafactory.families import template

    rows = []
    for info in _families():
        summary = info.family.summary()
        row = {k: summary.pop(k) for k in ("name", "model_class")}
        rows.append(
            {
                **row,
                "llamafactory_template": template(info.family),
                **summary,
                "distribution": info.distribution,
            }
        )
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    from rich.table import Table

    from vlkd.core.console import cell, keep_whole, make_console

    table = Table()
    for column in (
        "family",
        "transformers class",
        "LLaMA-Factory template",
        "block (px)",
        "trainers",
        "from",
    ):
        table.add_column(column, overflow="fold")
    for r in rows:
        table.add_row(
            *map(
                cell,
                (
                    r["name"],
                    r["model_class"],
                    r["llamafactory_template"] or "-",
                    str(r["block"]) if r["block"] else f"- ({r.get('tokens_per_image')} tokens/image)",
                    ", ".join(r["trainers"]),
                    r["distribution"],
                ),
            )
        )
    make_console(stderr=False).print(keep_whole(table, (0, 2)))


def tiny_command(
    family: Annotated[str, typer.Argument(help="The family (vlkd student families).", show_default=False)],
    out_dir: Annotated[
        Path, typer.Argument(help="Directory to write the checkpoint into.", show_default=False)
    ],
) -> None:
    """Build a tiny randomly initialised student of FAMILY (a few MB) into OUT_DIR, offline."""
    import importlib.util

    from vlkd.core.errors import VlkdError, did_you_mean

    found = {info.name: info.family for info in _families()}
    if family not in found:
        raise VlkdError(
            f"unknown student family '{family}'{did_you_mean(family, found)}; families: {', '.join(found)}"
        )
    missing = [m for m in ("torch", "transformers", "tokenizers") if importlib.util.find_spec(m) is None]
    if missing:
        raise VlkdError(f'building a tiny student needs {", ".join(missing)}: pip install "vlkd[train]"')
    typer.echo(str(found[family].build_tiny(out_dir)))


@hookimpl
def vlkd_register_commands(app: typer.Typer) -> None:
    student = typer.Typer(help="Student families and tiny offline students.", no_args_is_help=True)
    student.command("families")(families_command)
    student.command("tiny")(tiny_command)

    app.add_typer(student, name="student")

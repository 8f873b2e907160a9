"""``vlkd student ...``: build students that need no download (the tiny offline Qwen2-VL)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vlkd.api import hookimpl


@hookimpl
def vlkd_register_commands(app: typer.Typer) -> None:
    student = typer.Typer(help="Build students that need no download.", no_args_is_help=True)

    @student.command("tiny-qwen2-vl")
    def tiny_qwen2_vl(
        out_dir: Annotated[
            Path, typer.Argument(help="Directory to write the checkpoint into.", show_default=False)
        ],
    ) -> None:
        """Build a tiny randomly initialised Qwen2-VL (about 1 MB) for smoke tests, offline."""
        import importlib.util

        from vlkd.core.errors import VlkdError
        from vlkd.students.tiny_qwen2_vl import build_tiny_qwen2_vl

        missing = [m for m in ("torch", "transformers", "tokenizers") if importlib.util.find_spec(m) is None]
        if missing:
            raise VlkdError(
                f'building the tiny student needs {", ".join(missing)}: pip install "vlkd[train]"'
            )
        path = build_tiny_qwen2_vl(out_dir)
        typer.echo(str(path))

    app.add_typer(student, name="student")

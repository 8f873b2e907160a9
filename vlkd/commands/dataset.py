"""``vlkd check-dataset PATH``: the pre-flight check of a LLaMA-Factory dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vlkd.api import hookimpl


def check_dataset_command(
    path: Annotated[
        Path,
        typer.Argument(
            help="A dataset directory (with dataset_info.json) or a .json/.jsonl sharegpt file.",
            show_default=False,
        ),
    ],
    fix: Annotated[
        bool, typer.Option("--fix", help="Repair what can be repaired (originals kept as *.orig).")
    ] = False,
    cutoff_len: Annotated[int, typer.Option("--cutoff-len", help="The trainer's cutoff_len.")] = 2048,
    image_max_pixels: Annotated[
        int, typer.Option("--image-max-pixels", help="The trainer's image_max_pixels.")
    ] = 768 * 768,
    image_min_pixels: Annotated[
        int, typer.Option("--image-min-pixels", help="The trainer's image_min_pixels.")
    ] = 32 * 32,
    tokenizer: Annotated[
        Path | None,
        typer.Option(
            "--tokenizer",
            help="A model/tokenizer directory for exact text token counts [default: an estimate].",
        ),
    ] = None,
    media_dir: Annotated[
        Path | None,
        typer.Option(
            "--media-dir",
            help="LLaMA-Factory's media_dir [default: vlkd_dataset.json's, else the dataset directory].",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Find what makes LLaMA-Factory stop or silently drop samples; exit 1 when problems remain."""
    import json

    from vlkd.plugins.formats.preflight import check_dataset

    tok = None
    if tokenizer is not None:
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(str(tokenizer))
    report = check_dataset(
        path,
        cutoff_len=cutoff_len,
        image_min_pixels=image_min_pixels,
        image_max_pixels=image_max_pixels,
        tokenizer=tok,
        fix=fix,
        media_dir=media_dir,
    )
    typer.echo(
        json.dumps(report.to_json(), indent=2, ensure_ascii=False) if as_json else report.text(limit=None)
    )
    if not report.ok:
        raise SystemExit(1)  # problems left: a script or CI step must not go on to training


@hookimpl
def vlkd_register_commands(app: typer.Typer) -> None:
    app.command("check-dataset")(check_dataset_command)

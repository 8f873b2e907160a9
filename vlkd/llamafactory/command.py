"""``vlkd check-dataset PATH``: the pre-flight check of a LLaMA-Factory dataset.

The limits are the student's: by default the ``student`` that the format stage recorded in
``vlkd_dataset.json``; else ``--recipe`` (its ``student:`` section) or ``--student MODEL``
(``--family`` where it cannot be detected). ``--cutoff-len`` and the pixel options override.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

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
    recipe: Annotated[
        Path | None, typer.Option("--recipe", help="Take the student from this recipe's student: section.")
    ] = None,
    student: Annotated[
        str | None,
        typer.Option("--student", help="The student: hub id, local directory or tiny:FAMILY."),
    ] = None,
    family: Annotated[
        str | None, typer.Option("--family", help="The student family (vlkd student families).")
    ] = None,
    cutoff_len: Annotated[
        int | None, typer.Option("--cutoff-len", help="Override the student's cutoff_len.")
    ] = None,
    image_max_pixels: Annotated[
        int | None, typer.Option("--image-max-pixels", help="Override the student's image_max_pixels.")
    ] = None,
    image_min_pixels: Annotated[
        int | None, typer.Option("--image-min-pixels", help="Override the student's image_min_pixels.")
    ] = None,
    tokenizer: Annotated[
        Path | None,
        typer.Option(
            "--tokenizer",
            help="A model/tokenizer directory for exact text token counts [default: the student's "
            "when it is on this machine, else an estimate].",
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
    from dataclasses import replace

    from vlkd.core.errors import VlkdError
    from vlkd.llamafactory.preflight import check_for_student

    if not path.exists():
        raise VlkdError(f"{path}: no such file or directory")
    chosen = _student(path, recipe, student, family)
    chosen = replace(
        chosen,
        cutoff_len=cutoff_len or chosen.cutoff_len,
        image_min_pixels=image_min_pixels or chosen.image_min_pixels,
        image_max_pixels=image_max_pixels or chosen.image_max_pixels,
    )
    tok = _tokenizer(tokenizer, chosen, path)
    report = check_for_student(path, chosen, path, tokenizer=tok, fix=fix, media_dir=media_dir)
    if fix:
        from vlkd.core.rundir import note_written_at

        note_written_at(path)  # repaired in a run's format folder: vlkd's, for a later --fresh
    typer.echo(
        json.dumps(report.to_json(), indent=2, ensure_ascii=False) if as_json else report.text(limit=None)
    )
    if not report.ok:
        raise SystemExit(1)  # problems left: a script or CI step must not go on to training


def _student(path: Path, recipe: Path | None, model: str | None, family: str | None) -> Any:
    from vlkd.core.artifacts import DatasetCard
    from vlkd.core.errors import VlkdError
    from vlkd.core.student import make_student

    if recipe is not None:
        from vlkd.core.recipe import load_recipe

        loaded = load_recipe(recipe)
        if loaded.student is None:
            raise VlkdError(f"{recipe}: the recipe has no 'student:' section")
        return loaded.student
    section: dict[str, Any] | None = None
    if model is not None:
        section = {"model": model, **({"family": family} if family else {})}
    else:
        recorded = DatasetCard.read(path).student if path.is_dir() and DatasetCard.exists(path) else None
        if recorded and recorded.get("model"):
            section = {k: v for k, v in recorded.items() if v is not None}
            if family:
                section["family"] = family
        elif family:
            section = {"model": f"tiny:{family}"}  # only the family's rules are needed
    if section is None:
        raise VlkdError(
            f"{path}: which student? Pass --recipe RECIPE, --student MODEL or --family FAMILY "
            "(vlkd student families lists them); a dataset written by the format stage records it"
        )
    from vlkd.core.student import StudentProblem

    try:
        return make_student(section)
    except StudentProblem as exc:
        raise VlkdError(f"student: {exc}") from None
    except ValueError as exc:
        raise VlkdError(f"student: {exc}") from None


def _tokenizer(tokenizer: Path | None, student: Any, path: Path) -> Any:
    run_dir = _run_dir_of(path)
    if tokenizer is None and student.tiny:
        built = student.tiny_dir(run_dir) if run_dir is not None else None
        if built is None or not (built / "config.json").is_file():
            return None  # not built just for counting: the estimate over-counts safely
        tokenizer = built  # the run's own tiny student, as the format stage counted with it
    if tokenizer is not None:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(str(tokenizer))
    from vlkd.llamafactory.tokens import student_tokenizer

    return student_tokenizer(student, run_dir or path)


def _run_dir_of(path: Path) -> Path | None:
    """The run directory holding ``path`` (a format stage's dataset: ``runs/NAME/format/dataset``)."""
    from vlkd.core.rundir import RunDir

    for folder in [path if path.is_dir() else path.parent, *path.resolve().parents][:4]:
        if RunDir(folder).manifest_path.is_file():
            return folder
    return None


@hookimpl
def vlkd_register_commands(app: typer.Typer) -> None:
    app.command("check-dataset")(check_dataset_command)

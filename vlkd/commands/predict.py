"""``vlkd predict RUN_DIR IMAGE "question" [--base]``: ask the run's tuned (or base) student one question.

The student is loaded as the evaluate stage loads it (the train stage's ``vlkd_model.json``,
the adapter applied, the training's image bounds and system prompt, greedy decoding), so
the answer is the one the evaluation would have scored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from vlkd.api import hookimpl


def trained_model_dir(run_dir: Path) -> Path:
    """The train stage's model folder of a run, or a one-line error saying what to do."""
    from vlkd.core.errors import VlkdError
    from vlkd.core.stages import ARTIFACT_PATHS

    if not run_dir.is_dir():
        raise VlkdError(f"{run_dir}: no such run directory")
    model_dir = run_dir / "train" / ARTIFACT_PATHS["model"]
    if not (model_dir / "vlkd_model.json").exists():
        raise VlkdError(
            f"{run_dir}: no trained student (train/model/vlkd_model.json is missing); "
            "run a recipe with a train stage first (vlkd run RECIPE --to train)"
        )
    return model_dir


#: LLaMA-Factory's default cutoff_len, for a model card that does not name one
DEFAULT_CUTOFF = 2048
#: more characters than a token of any tokenizer here holds
MAX_CHARS_PER_TOKEN = 16


def checked_image(image: Path, info: Any) -> None:
    """A one-line error for an image the student cannot take (not an image, a PDF, an aspect
    ratio its processor refuses), before the student is loaded."""
    from vlkd.core.errors import VlkdError
    from vlkd.images.decode import BadImage, open_image

    try:
        opened, _ = open_image(image, load=False)
    except BadImage as exc:
        raise VlkdError(str(exc)) from None
    try:
        info.family.resize(opened.width, opened.height, info.min_pixels, info.max_pixels)
    except ValueError as exc:
        raise VlkdError(f"{image}: {opened.width}x{opened.height}: {exc}") from None


def _recipe_section(run_dir: Path, stage: str) -> dict[str, Any]:
    import json

    try:
        manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return (manifest.get("recipe", {}).get("resolved") or {}).get(stage) or {}


@hookimpl
def vlkd_register_commands(app: typer.Typer) -> None:
    @app.command()
    def predict(
        run_dir: Annotated[
            Path, typer.Argument(help="The run directory (runs/<recipe name>).", show_default=False)
        ],
        image: Annotated[Path, typer.Argument(help="The document image.", show_default=False)],
        question: Annotated[str, typer.Argument(help="The question, as in the dataset.", show_default=False)],
        base: Annotated[bool, typer.Option("--base", help="Ask the base student (no adapter).")] = False,
        max_new_tokens: Annotated[
            int | None, typer.Option(min=1, help="Longest answer [default: the evaluate stage's, else 64].")
        ] = None,
        device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:1, mps")] = "auto",
    ) -> None:
        """Answer one question about an image with the run's tuned student (or --base)."""
        import importlib.util

        from vlkd.core.errors import SkipItem, VlkdError

        missing = [m for m in ("torch", "transformers", "peft") if importlib.util.find_spec(m) is None]
        if missing:
            raise VlkdError(f'vlkd predict needs {", ".join(missing)}: pip install "vlkd[train]"')
        from vlkd.answering.items import EvalItem, load_model_info
        from vlkd.answering.local_backend import LocalStudent
        from vlkd.core.artifacts import ModelCard

        if not question.strip():
            raise VlkdError("the question is empty: ask the student something about the image")
        model_dir = trained_model_dir(run_dir)
        info = load_model_info(model_dir)
        if not image.is_file():
            raise VlkdError(f"{image}: no such image file")
        checked_image(image, info)
        evaluate = _recipe_section(run_dir, "evaluate")
        system_prompt = evaluate.get("system_prompt") or _recipe_section(run_dir, "format").get("system")
        student = LocalStudent(
            info,
            max_new_tokens=max_new_tokens or int(evaluate.get("max_new_tokens") or 64),
            system_prompt=system_prompt,
            device=device,
        )
        cutoff = ModelCard.read(model_dir).cutoff_len or DEFAULT_CUTOFF
        # the cheap bound first (a token holds a few characters at most), then the exact one
        if len(question) > MAX_CHARS_PER_TOKEN * cutoff or student.prompt_tokens(question) > cutoff:
            raise VlkdError(
                f"the question is too long ({len(question):,} characters): the student was trained "
                f"on prompts of at most {cutoff:,} tokens (cutoff_len), image included; ask a shorter one"
            )
        item = EvalItem("cli", "cli", str(image), question, "", None, False)
        try:
            (answer,) = student.generate("base" if base else "tuned", [item])
        except SkipItem as exc:
            raise VlkdError(f"{image}: {exc.reason}") from None
        typer.echo(answer)

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
        from vlkd.plugins.evaluate.items import EvalItem, load_model_info
        from vlkd.plugins.evaluate.local_backend import LocalStudent

        info = load_model_info(trained_model_dir(run_dir))
        if not image.is_file():
            raise VlkdError(f"{image}: no such image file")
        evaluate = _recipe_section(run_dir, "evaluate")
        system_prompt = evaluate.get("system_prompt") or _recipe_section(run_dir, "format").get("system")
        student = LocalStudent(
            info,
            max_new_tokens=max_new_tokens or int(evaluate.get("max_new_tokens") or 64),
            system_prompt=system_prompt,
            device=device,
        )
        item = EvalItem("cli", "cli", str(image), question, "", None, False)
        try:
            (answer,) = student.generate("base" if base else "tuned", [item])
        except SkipItem as exc:
            raise VlkdError(f"{image}: {exc.reason}") from None
        typer.echo(answer)

"""``vlkd export RUN_DIR [OUT] [--merged] [--push-to-hub OWNER/NAME]``: the run's tuned student
as files to take elsewhere, or pushed to the Hugging Face Hub.

Without ``--merged``: the LoRA adapter with the processor files, and ``vlkd_model.json``
naming the base model it applies to (what vLLM's ``--lora-modules`` takes). With
``--merged``: full weights with the adapter merged in (PEFT's ``merge_and_unload``, or
``llamafactory-cli export`` for a student trained by LLaMA-Factory, as that trainer's own
merge does), loadable with ``AutoModelForImageTextToText.from_pretrained(OUT)``.

``--push-to-hub OWNER/NAME`` uploads the same files with a model card (``README.md``: the base,
the data, the evaluation) to a private repository (``--public`` for a public one), with the
token in ``HF_TOKEN`` (``--token-env``); the token is checked before anything is exported.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Annotated

import typer

from vlkd.api import hookimpl


def export_adapter(info, out: Path) -> None:
    shutil.copytree(info.adapter, out, dirs_exist_ok=True)
    (out / "vlkd_model.json").write_text(
        json.dumps({"base_model": info.base_model, "adapter": ".", "trainer": info.trainer}, indent=2) + "\n",
        encoding="utf-8",
    )


def merge_with_peft(info, out: Path) -> None:
    from transformers import AutoModelForImageTextToText

    from vlkd.adapters import load_adapter

    model = AutoModelForImageTextToText.from_pretrained(info.base_model)
    merged = load_adapter(model, info.adapter).merge_and_unload()
    merged.save_pretrained(out)
    # the family loads its processor and sets the training's pixel limits its own way (Qwen's
    # take min/max_pixels, Gemma 3's resizes to a fixed square)
    info.family.load_processor(info.base_model, info.min_pixels, info.max_pixels).save_pretrained(out)


def merge_with_llamafactory(info, out: Path, executable: str, work_dir: Path) -> None:
    import subprocess

    import yaml

    from vlkd.core.errors import VlkdError
    from vlkd.llamafactory.families import template as llamafactory_template

    if shutil.which(executable) is None:
        raise VlkdError(
            f"'{executable}' not found: pip install \"vlkd[llamafactory]\", or --llamafactory-cli PATH, "
            "or --with-peft to merge with PEFT"
        )
    config = {
        "model_name_or_path": info.base_model,
        "adapter_name_or_path": str(info.adapter),
        "template": info.template or llamafactory_template(info.family),
        "finetuning_type": "lora",
        "trust_remote_code": True,
        "export_dir": str(out),
        "export_device": "cpu",
    }
    path = work_dir / "export.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    done = subprocess.run([executable, "export", str(path)], capture_output=True, text=True)
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-12:])
        raise VlkdError(f"llamafactory-cli export failed (exit {done.returncode}):\n{tail}\n  config: {path}")


def _check_hub(repo_id: str, token_env: str) -> str:
    """The Hub write token, after checking the repository name, the package and the token."""
    import importlib.util
    import re

    from vlkd.core.errors import VlkdError
    from vlkd.plugins.formats.hub import check_write_token, hub_token

    if not re.match(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$", repo_id):
        raise VlkdError(
            f"--push-to-hub {repo_id}: a Hub repository is OWNER/NAME (letters, digits, '-', '_', '.')"
        )
    if importlib.util.find_spec("huggingface_hub") is None:
        raise VlkdError('--push-to-hub needs huggingface_hub: pip install "vlkd[hub]"')
    token = hub_token(token_env, "--push-to-hub")
    check_write_token(token, token_env)
    return token


def _write(info, out: Path, merged: bool, with_peft: bool, llamafactory_cli: str, run_dir: Path) -> None:
    import importlib.util
    import tempfile

    from vlkd.core.errors import VlkdError

    run = run_dir.resolve()
    if out.resolve() == run or run in out.resolve().parents:
        raise VlkdError(
            f"{out}: inside the run directory {run_dir} (its own adapter would be copied into "
            "itself); export to a folder outside the run"
        )
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise VlkdError(f"{out}: exists and is not an empty folder; choose a new one")
    if merged and not (info.trainer == "llamafactory" and not with_peft):
        missing = [m for m in ("torch", "transformers", "peft") if importlib.util.find_spec(m) is None]
        if missing:
            raise VlkdError(f'merging needs {", ".join(missing)}: pip install "vlkd[train]"')
    made = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    try:
        if not merged:
            export_adapter(info, out)
        elif info.trainer == "llamafactory" and not with_peft:
            with tempfile.TemporaryDirectory(prefix="vlkd-export-") as tmp:
                merge_with_llamafactory(info, out, llamafactory_cli, Path(tmp))
        else:
            merge_with_peft(info, out)
    except BaseException:
        # the folder was new or empty: what is in it now is this export's, half written
        if made:
            shutil.rmtree(out, ignore_errors=True)
        else:
            for child in out.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)
        raise


@hookimpl
def vlkd_register_commands(app: typer.Typer) -> None:
    @app.command()
    def export(
        run_dir: Annotated[
            Path, typer.Argument(help="The run directory (runs/<recipe name>).", show_default=False)
        ],
        out: Annotated[
            Path | None,
            typer.Argument(
                help="Folder to write (new or empty); optional with --push-to-hub.", show_default=False
            ),
        ] = None,
        merged: Annotated[
            bool, typer.Option("--merged", help="Full weights with the adapter merged in.")
        ] = False,
        with_peft: Annotated[
            bool, typer.Option("--with-peft", help="Merge with PEFT even for a LLaMA-Factory student.")
        ] = False,
        llamafactory_cli: Annotated[
            str, typer.Option(help="The llamafactory-cli to run.")
        ] = "llamafactory-cli",
        push_to_hub: Annotated[
            str | None,
            typer.Option("--push-to-hub", metavar="OWNER/NAME", help="Upload to this Hub model repository."),
        ] = None,
        public: Annotated[
            bool, typer.Option("--public", help="Make a new Hub repository public [default: private].")
        ] = False,
        token_env: Annotated[
            str, typer.Option(help="Environment variable holding the Hub write token.")
        ] = "HF_TOKEN",
    ) -> None:
        """Write the tuned student: its adapter, or (--merged) full merged weights; --push-to-hub uploads it."""
        import contextlib
        import tempfile

        from vlkd.answering.items import load_model_info
        from vlkd.commands.predict import trained_model_dir
        from vlkd.core.errors import VlkdError

        if out is None and push_to_hub is None:
            raise VlkdError("name a folder to write (vlkd export RUN OUT), or --push-to-hub OWNER/NAME")
        token = _check_hub(push_to_hub, token_env) if push_to_hub else None  # before any work
        info = load_model_info(trained_model_dir(run_dir))
        if info.adapter is None:
            raise VlkdError(
                f"{run_dir}: the train stage wrote no adapter; there is no tuned student to export"
            )
        with contextlib.ExitStack() as stack:
            folder = out or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="vlkd-push-")))
            _write(info, folder, merged, with_peft, llamafactory_cli, run_dir)
            what = "merged weights" if merged else "adapter"
            if out is not None:
                typer.echo(f"wrote the tuned student's {what} to {out}", err=True)
            if push_to_hub and token:
                from vlkd.commands.model_card import model_card
                from vlkd.plugins.formats.hub import push_folder

                (folder / "README.md").write_text(
                    model_card(run_dir, info, push_to_hub, merged=merged), encoding="utf-8"
                )
                url = push_folder(
                    folder,
                    push_to_hub,
                    token=token,
                    private=not public,
                    message=f"vlkd export: the tuned student's {what}",
                )
                typer.echo(
                    f"pushed the tuned student's {what} to {url} ({'public' if public else 'private'})",
                    err=True,
                )

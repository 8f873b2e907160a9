"""Resolve the ``student:`` option to something ``from_pretrained`` loads, and check it first."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from vlkd.core.errors import StageError
from vlkd.plugins.train.options import TINY_STUDENT

PROCESSOR_FILES = ("preprocessor_config.json", "processor_config.json")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def resolve_student(student: str, run_dir: Path, base_dir: Path | None = None) -> str:
    """Return a local directory or a hub id for ``student``.

    ``tiny-qwen2-vl`` is built into ``<run_dir>/students/tiny-qwen2-vl``. A local directory
    must hold a config and an image processor (a text-only checkpoint cannot be a
    vision-language student). Anything shaped ``org/name`` that is not a directory is a
    hub id, left for ``from_pretrained`` to download.
    """
    if student == TINY_STUDENT:
        from vlkd.students.tiny_qwen2_vl import build_tiny_qwen2_vl

        return str(build_tiny_qwen2_vl(run_dir / "students" / TINY_STUDENT))
    path = Path(os.path.expanduser(student))
    if not path.is_absolute() and base_dir is not None and (base_dir / path).exists():
        path = base_dir / path
    if path.is_dir():
        check_student_dir(path)
        return str(path.resolve())
    if path.exists():
        raise StageError(
            f"student: {path} is a file; name a checkpoint directory, a hub id, or '{TINY_STUDENT}'"
        )
    if _HUB_ID.match(student) and not student.startswith((".", "/", "~")):
        return student
    raise StageError(
        f"student: no such directory {path}, and '{student}' is not a hub id (org/name); "
        f"use e.g. Qwen/Qwen2-VL-2B-Instruct or '{TINY_STUDENT}'"
    )


def check_student_dir(path: Path) -> None:
    if not (path / "config.json").is_file():
        raise StageError(f"student: {path} has no config.json; it is not a Hugging Face checkpoint directory")
    if not any((path / name).is_file() for name in PROCESSOR_FILES):
        raise StageError(
            f"student: {path} has no processor ({' or '.join(PROCESSOR_FILES)}); a vision-language student "
            "needs its image processor and tokenizer. Save them next to the weights: "
            "AutoProcessor.from_pretrained(<base model>).save_pretrained(" + repr(str(path)) + ")"
        )


def local_config(student: str) -> dict | None:
    """The student's ``config.json`` when it is available without a download, else None."""
    path = Path(student)
    if path.is_dir():
        return json.loads((path / "config.json").read_text(encoding="utf-8"))
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - comes with transformers
        return None
    cached = try_to_load_from_cache(student, "config.json")
    if isinstance(cached, str):
        return json.loads(Path(cached).read_text(encoding="utf-8"))
    return None

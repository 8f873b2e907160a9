"""Review files imported into a run, and the state they build on top of the teacher's pairs.

``vlkd review import RUN_DIR FILE`` validates FILE against the run's current review state
and keeps a copy in ``RUN_DIR/review-imports/`` (outside the review stage's directory,
which is emptied whenever the stage re-runs). The review stage applies every stored
import in order, then the recipe's ``edits:`` file, on every run.

The engine learns of an import through the manifest: the command marks the review stage
``stale``, so the next ``vlkd run`` resumes it (same fingerprint, not done) and re-runs
every stage after it. An ``edits:`` file in the recipe is covered by the plugin's
``fingerprint()`` instead (the hash of the file).
"""

from __future__ import annotations

import hashlib
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vlkd.core.errors import StageError, VlkdError
from vlkd.core.jsonl import JsonlAppender, read_jsonl
from vlkd.core.stages import ARTIFACT_PATHS, KINDS_BY_NAME
from vlkd.plugins.review.edits import ImageIndex, ReviewState
from vlkd.plugins.review.sheet import read_sheet

IMPORTS_DIR = "review-imports"
INDEX = "imports.jsonl"
STAGE = "review"


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def stored_imports(run_dir: Path) -> list[Path]:
    base = run_dir / IMPORTS_DIR
    return [base / entry["file"] for entry in read_jsonl(base / INDEX)]


def load_state(
    run_dir: Path, pairs_file: Path, images_file: Path | None, warn: Callable[[str], None] | None = None
) -> ReviewState:
    """The review state: the input pairs with every stored import applied."""
    pairs = {p["id"]: p for p in read_jsonl(pairs_file)}
    images = list(read_jsonl(images_file)) if images_file is not None else []
    state = ReviewState(pairs, ImageIndex(images, run_dir))
    for path in stored_imports(run_dir):
        if not path.is_file():
            raise StageError(
                f"{path}: an imported review file is missing; restore it, or delete its line "
                f"from {run_dir / IMPORTS_DIR / INDEX} to drop that import"
            )
        state.apply(read_sheet(path), str(path), lenient=True, warn=warn)
    return state


def stage_inputs(run_dir: Path, manifest: dict[str, Any]) -> tuple[Path, Path | None]:
    """(pairs, images) the review stage of this run reads, from the manifest's stage order."""
    stages = list(manifest.get("stages", {}))
    if STAGE not in stages:
        raise VlkdError(
            f"{run_dir}: the run's recipe has no review stage; add 'review: {{plugin: spreadsheet}}'"
        )
    found: dict[str, str] = {}
    for name in stages[: stages.index(STAGE)]:
        for artifact in KINDS_BY_NAME[name].produces:
            found[artifact] = name
    if "pairs" not in found:
        raise VlkdError(f"{run_dir}: no stage before review makes pairs")
    pairs = run_dir / found["pairs"] / ARTIFACT_PATHS["pairs"]
    if not pairs.is_file():
        raise VlkdError(
            f"{pairs} does not exist yet; run the recipe up to the review stage first "
            f"(vlkd run RECIPE --to review)"
        )
    images = run_dir / found["images"] / ARTIFACT_PATHS["images"] if "images" in found else None
    return pairs, images if images is not None and images.is_file() else None


def import_review_file(run_dir: Path, file: Path) -> dict[str, Any]:
    """Validate ``file`` against the run, store it, mark the review stage stale; return a summary."""
    from vlkd.core.rundir import RunDir

    rd = RunDir(run_dir)
    manifest = rd.read_manifest()
    if manifest is None:
        raise VlkdError(f"{rd.path}: not a vlkd run directory (no manifest.json)")
    pairs_file, images_file = stage_inputs(rd.path, manifest)
    with rd.locked():
        state = load_state(rd.path, pairs_file, images_file)
        changes = state.apply(read_sheet(file), str(file))
        base = rd.path / IMPORTS_DIR
        base.mkdir(parents=True, exist_ok=True)
        number = len(stored_imports(rd.path)) + 1
        stored = base / f"{number:04d}-{file.name}"
        shutil.copy2(file, stored)
        summary = {
            "file": stored.name,
            "original": str(file.resolve()),
            "sha256": file_sha256(stored),
            "imported": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "changes": len(changes),
            "edited": sum(
                c.action == "edit" and ("question" in c.after or "answer" in c.after) for c in changes
            ),
            "added": sum(c.action == "add" for c in changes),
        }
        with JsonlAppender(base / INDEX) as index:
            index.append(summary)
        with JsonlAppender(base / "audit.jsonl") as audit:
            audit.append_many({**c.to_json(), "imported": summary["imported"]} for c in changes)
        rd.mark_stale(STAGE, f"review file imported: {stored.name}")
    summary["recipe"] = manifest.get("recipe", {}).get("path")
    return summary

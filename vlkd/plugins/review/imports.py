"""Review files imported into a run, and the state they build on top of the teacher's pairs.

``vlkd review import RUN_DIR FILE`` validates FILE against the run's current review state
and keeps a copy in ``RUN_DIR/review-imports/`` (outside the review stage's directory),
with a line in the review log beside the page's decisions (:mod:`.journal`). The review
stage replays that log in order on every run, then the recipe's ``edits:`` file.

The engine learns of an import through the manifest: the command marks the review stage
``stale``, so the next ``vlkd run`` resumes it (same fingerprint, not done) and re-runs
every stage after it. Decisions made in the review page and a sheet edited in place are
noticed by the plugin's ``changed_outside`` (the log grew, the sheet's hash changed); an
``edits:`` file in the recipe is covered by the plugin's ``fingerprint()`` instead.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vlkd.api import RunDir, StageError, VlkdError, read_images, read_pairs
from vlkd.plugins.review import journal
from vlkd.plugins.review.edits import Change, ImageIndex, ReviewState
from vlkd.plugins.review.journal import IMPORTS_DIR, LOG
from vlkd.plugins.review.sheet import file_sha256, read_sheet

INDEX = LOG
STAGE = "review"

__all__ = ["IMPORTS_DIR", "file_sha256", "import_review_file", "load_state", "stage_inputs", "stored_imports"]


def stored_imports(run_dir: Path) -> list[Path]:
    """The copies of every imported sheet, in import order."""
    entries, _ = journal.read_log(run_dir)
    base = run_dir / IMPORTS_DIR
    return [base / e["file"] for e in entries if journal.entry_kind(e) == "sheet"]


def load_state(
    run_dir: Path,
    pairs_file: Path,
    images_file: Path | None,
    warn: Callable[[str], None] | None = None,
    *,
    log: list[dict[str, Any]] | None = None,
) -> ReviewState:
    """The review state: the input pairs with the review log (sheets and decisions) replayed."""
    pairs = {p.id: p for p in read_pairs(pairs_file)}
    images = read_images(images_file) if images_file is not None else []
    state = ReviewState(pairs, ImageIndex(images, run_dir))
    for entry in journal.read_log(run_dir)[0] if log is None else log:
        if journal.entry_kind(entry) == "decision":
            state.replay(entry, warn)
            continue
        path = run_dir / IMPORTS_DIR / entry["file"]
        if not path.is_file():
            raise StageError(
                f"{path}: an imported review file is missing; restore it, or delete its line "
                f"from {journal.log_path(run_dir)} to drop that import"
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
    rd = RunDir(run_dir)
    pairs = rd.artifact("pairs", before=STAGE, stages=stages)
    if pairs is None:
        raise VlkdError(f"{run_dir}: no stage before review makes pairs")
    if not pairs.is_file():
        raise VlkdError(
            f"{pairs} does not exist yet; run the recipe up to the review stage first "
            f"(vlkd run RECIPE --to review)"
        )
    images = rd.artifact("images", before=STAGE, stages=stages)
    return pairs, images if images is not None and images.is_file() else None


def import_review_file(run_dir: Path, file: Path) -> dict[str, Any]:
    """Validate ``file`` against the run, store it, mark the review stage stale; return a summary.

    A file that changes nothing (the same sheet imported again) is not stored: ``changes`` is 0.
    """
    from vlkd.api import RunDir

    rd = RunDir(run_dir)
    manifest = rd.read_manifest()
    if manifest is None:
        raise VlkdError(f"{rd.path}: not a vlkd run directory (no manifest.json)")
    pairs_file, images_file = stage_inputs(rd.path, manifest)
    with rd.locked():
        summary = store_import(rd.path, file, pairs_file, images_file)
        if summary["changes"]:
            rd.mark_stale(STAGE, f"review file imported: {summary['file']}")
    summary["recipe"] = manifest.get("recipe", {}).get("path")
    return summary


def store_import(run_dir: Path, file: Path, pairs_file: Path, images_file: Path | None) -> dict[str, Any]:
    """Validate ``file`` against the current review state and log it (for callers holding the run)."""
    with journal.locked(run_dir):
        state = load_state(run_dir, pairs_file, images_file)
        changes = state.apply(read_sheet(file), str(file))
        summary: dict[str, Any] = {
            "kind": "sheet",
            "file": None,
            "original": str(file.resolve()),
            "imported": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "changes": len(changes),
            "edited": sum(
                c.action == "edit" and ("question" in c.after or "answer" in c.after) for c in changes
            ),
            "added": sum(c.action == "add" for c in changes),
        }
        if not changes:
            return summary
        base = run_dir / IMPORTS_DIR
        stored = base / f"{len(stored_imports(run_dir)) + 1:04d}-{file.name}"
        shutil.copy2(file, stored)
        summary.update(file=stored.name, sha256=file_sha256(stored))
        journal.append(run_dir, summary, (_audit(c, summary["imported"]) for c in changes))
    return summary


def _audit(change: Change, when: str) -> dict[str, Any]:
    return {**change.to_json(), "time": when}

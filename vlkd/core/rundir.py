"""The run directory: one folder per stage, a response cache, and ``manifest.json``.

```
runs/<recipe name>/
  manifest.json      resolved recipe (secrets redacted), its hash, versions, per-stage state
  run.lock           held while a run is in progress
  cache/             content-addressed teacher responses (kept by --fresh: never pay twice)
  <stage>/           each stage's outputs (JSONL records, images, datasets, adapters)
```
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import platform
import shutil
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from vlkd import __version__
from vlkd.core.errors import StageError, VlkdError
from vlkd.core.jsonl import write_json_atomic

MANIFEST = "manifest.json"
CACHE_DIR = "cache"
LOCK_FILE = "run.lock"
#: the experts' review decisions and sheets (written by the review plugins, outside the review
#: stage's folder): like the teacher cache, human work that ``--fresh`` must never delete
DECISIONS_DIR = "review-imports"
#: what ``--fresh`` keeps: paid teacher answers and the experts' decisions
KEPT_BY_FRESH = (CACHE_DIR, DECISIONS_DIR, LOCK_FILE)
#: top-level entries vlkd itself makes outside a run's own recording (``made`` in the manifest):
#: stage folders, the offline students, stored review sheets, atomic-write leftovers
_VLKD_NAMES = frozenset({MANIFEST, LOCK_FILE, CACHE_DIR, "students", DECISIONS_DIR, f".{MANIFEST}.tmp"})
_GLOB_CHARS = frozenset("*?[")


#: errors of the disk itself, wherever the file is: never one item's fault
_DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS})


def storage_fault(exc: BaseException, run_dir: Path) -> bool:
    """Whether ``exc`` is the environment's fault in writing the run: a full or read-only disk,
    or any ``OSError`` about a file inside the run directory (a read-only ``cache/``, a file
    where a folder should be). Such an error stops the stage with its cause (to be retried by
    the next run) instead of failing each item in turn."""
    if not isinstance(exc, OSError):
        return False
    if exc.errno in _DISK_ERRNOS:
        return True
    name = exc.filename if isinstance(exc.filename, str) else None
    if name is None:
        return False
    where = Path(name).resolve()
    return where == run_dir or run_dir in where.parents


class RunDir:
    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path).resolve()
        self.manifest_path = self.path / MANIFEST
        self.cache_dir = self.path / CACHE_DIR
        self._lock_fd: int | None = None
        #: top-level names present when this run took the directory (to record what it made)
        self._at_start: set[str] | None = None

    def stage_dir(self, stage: str) -> Path:
        return self.path / stage

    def artifact(
        self,
        name: str,
        *,
        before: str | None = None,
        stages: Iterable[str] | None = None,
        written: bool = False,
    ) -> Path | None:
        """The file of artifact ``name`` (``images``, ``pairs``, ``dataset``, ...) that the latest
        stage producing it holds, or ``None`` when no stage produces it.

        ``stages`` are the run's stages (a recipe's; default: the manifest's, else every kind),
        taken in pipeline order; ``before`` keeps only the stages before that one; ``written``
        keeps only stages whose file exists (a report of a run that stopped part way).
        """
        stage = self.producer(name, before=before, stages=stages, written=written)
        return None if stage is None else self._artifact_path(stage, name)

    def producer(
        self,
        name: str,
        *,
        before: str | None = None,
        stages: Iterable[str] | None = None,
        written: bool = False,
    ) -> str | None:
        """The stage whose file :meth:`artifact` returns."""
        from vlkd.core.stages import KINDS_BY_NAME, STAGE_NAMES

        if stages is None:
            stages = (self.read_manifest() or {}).get("stages") or STAGE_NAMES
        present = set(stages)
        order = [s for s in STAGE_NAMES if s in present]
        if before is not None:
            order = [s for s in order if STAGE_NAMES.index(s) < STAGE_NAMES.index(before)]
        for stage in reversed(order):
            produced = name in KINDS_BY_NAME[stage].produces
            if produced and (not written or self._artifact_path(stage, name).exists()):
                return stage
        return None

    def _artifact_path(self, stage: str, name: str) -> Path:
        from vlkd.core.catalog import ARTIFACT_PATHS

        return self.stage_dir(stage) / ARTIFACT_PATHS[name]

    def read_manifest(self) -> dict[str, Any] | None:
        if not self.manifest_path.exists():
            return None
        try:
            return json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise VlkdError(
                f"{self.manifest_path}: unreadable manifest ({exc}); "
                f"use --fresh to start this run directory over"
            ) from None

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        manifest["updated"] = manifest_time()
        if self._at_start is not None:  # what this run made at the top level is vlkd's to delete
            now = self._entries()
            made = set(manifest.get("made", ())) | (now - self._at_start)
            manifest["made"] = sorted(made & now - _VLKD_NAMES)
        write_json_atomic(self.manifest_path, manifest)

    def _entries(self) -> set[str]:
        try:
            return set(os.listdir(self.path))
        except FileNotFoundError:
            return set()

    def foreign_entries(self, manifest: dict[str, Any] | None) -> list[str]:
        """Top-level entries vlkd did not make (a run's own files are only what it recorded)."""
        from vlkd.core.stages import STAGE_NAMES

        ours: set[str] = {*_VLKD_NAMES, *STAGE_NAMES, *(manifest or {}).get("made", ())}
        if manifest is None:
            ours = {CACHE_DIR, LOCK_FILE}
        return sorted(self._entries() - ours)

    def check_owner(self, recipe_name: str, fresh: bool, *, delete: bool = True) -> dict[str, Any] | None:
        """The existing manifest if this run directory belongs to ``recipe_name``.

        A folder that is not a vlkd run directory is refused, ``fresh`` or not: vlkd deletes
        only what it made. A run directory of another recipe is refused unless ``fresh``;
        with ``fresh`` what vlkd made is removed (the response cache and the experts' decisions
        kept; nothing when not
        ``delete``: a dry run), and a run directory holding anything else is refused, left as it is.
        """
        self._at_start = self._entries()
        try:
            manifest = self.read_manifest()
        except VlkdError:
            if not fresh:
                raise
            manifest = {}  # unreadable: --fresh may still remove what vlkd names
        if manifest is None:
            self.check_is_ours()
            return None
        foreign = self.foreign_entries(manifest)
        owner = manifest.get("recipe", {}).get("name")
        if foreign and (fresh or owner != recipe_name):
            raise StageError(
                f"{self.path} holds files vlkd did not write ({_some(foreign)}); "
                f"{'--fresh' if fresh else 'vlkd'} deletes only what it made: move them out "
                f"of the run directory, or choose another --run-dir"
            )
        changed = self.changed_since_written(manifest) if fresh else []
        if changed:
            raise StageError(
                f"{self.path}: {_some(changed)} changed after vlkd wrote "
                f"{'it' if len(changed) == 1 else 'them'} (an expert's edits? your notes?); --fresh "
                f"deletes only what vlkd made: bring a review sheet back with `vlkd review import "
                f"{self.path} FILE` or move the files out of the run directory, then run again"
            )
        if fresh:
            if delete:
                self.clear(keep=KEPT_BY_FRESH)
                self._at_start = self._entries()
            return None
        if owner != recipe_name:
            raise StageError(
                f"{self.path} holds a run of recipe '{owner}', not '{recipe_name}'; "
                f"choose another --run-dir, or pass --fresh to start it over"
            )
        self._adopt_copied_files(manifest)
        return manifest

    def changed_since_written(self, manifest: dict[str, Any] | None) -> list[str]:
        """Files inside finished stages' folders changed after vlkd last wrote there.

        A stage's folder is vlkd's as a whole, but a person may edit a file in it (the review
        sheet, in place) or leave one there; a file whose change time is later than the stage's
        ``finished`` (or a later ``written``: :meth:`note_written`) is theirs. Stages that did
        not finish are not looked into: their files are vlkd's work in progress. A directory
        copied without its file times (``cp -r``) cannot be judged this way: the manifest's own
        file, newer than the time written in it, says so, and then nothing is reported (a resumed
        copy adopts its files: :meth:`check_owner`).
        """
        found: list[str] = []
        if self._times_untrusted(manifest):
            return found
        for stage, entry in ((manifest or {}).get("stages") or {}).items():
            if not isinstance(entry, dict) or entry.get("status") != "done":
                continue
            bound = _epoch(entry.get("written") or entry.get("finished"))
            folder = self.stage_dir(stage)
            if bound is None or not folder.is_dir():
                continue
            for root, _dirs, files in os.walk(folder):
                for name in files:
                    path = os.path.join(root, name)
                    try:
                        changed = os.lstat(path).st_mtime
                    except OSError:
                        continue
                    if changed > bound + _CLOCK_SLACK_S:
                        found.append(os.path.relpath(path, self.path))
        return sorted(found)

    def _times_untrusted(self, manifest: dict[str, Any] | None) -> bool:
        """The manifest's file is newer than the time written in it: the directory was copied
        (or moved across file systems) without its file times."""
        updated = _epoch((manifest or {}).get("updated"))
        try:
            return updated is None or self.manifest_path.stat().st_mtime > updated + 1 + _CLOCK_SLACK_S
        except OSError:
            return True

    def _adopt_copied_files(self, manifest: dict[str, Any]) -> None:
        """A copy resumed: its files are vlkd's as they are now (the next manifest write records it)."""
        if not self._times_untrusted(manifest):
            return
        now = manifest_time()
        for entry in (manifest.get("stages") or {}).values():
            if isinstance(entry, dict) and entry.get("status") == "done":
                entry["written"] = now

    def note_written(self, stage: str) -> None:
        """Record that vlkd wrote into a finished ``stage``'s folder outside a run (``vlkd
        report``, ``vlkd check-dataset --fix``), so that :meth:`changed_since_written` knows
        those files are vlkd's. Nothing to do while a run holds the directory or with no manifest."""
        try:
            with self.locked():
                manifest = self.read_manifest()
                entry = (manifest or {}).get("stages", {}).get(stage)
                if manifest is None or not isinstance(entry, dict):
                    return
                entry["written"] = manifest_time()
                self.write_manifest(manifest)
        except (StageError, VlkdError, OSError):
            pass  # a run holds it (it writes its own times) or the manifest is unreadable

    def check_is_ours(self) -> None:
        """Refuse (untouched) a folder that holds files and no vlkd manifest."""
        if self.manifest_path.exists():
            return
        foreign = self.foreign_entries(None)
        if foreign:
            raise StageError(
                f"{self.path} is not a vlkd run directory (it holds {_some(foreign)}); vlkd writes "
                f"only into a new or empty folder or a run directory of its own: choose another --run-dir"
            )

    def check_apart(self, inputs: list[Path]) -> None:
        """Refuse a run directory that is an input folder, inside one, or holds one."""
        for given in inputs:
            path = _glob_base(given).resolve()
            if path == self.path or path in self.path.parents:
                raise StageError(
                    f"the run directory {self.path} is {'the' if path == self.path else 'inside the'} "
                    f"input folder {path}: vlkd would read its own outputs and --fresh would delete "
                    f"your inputs; choose a --run-dir outside it"
                )
            if self.path in path.parents:
                raise StageError(
                    f"the input {given} is inside the run directory {self.path}, where vlkd "
                    f"deletes and rewrites files; move it out, or choose another --run-dir"
                )

    def clear(self, keep: tuple[str, ...] = ()) -> None:
        if not self.path.exists():
            return
        for child in self.path.iterdir():
            if child.name in keep:
                continue
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()

    def mark_stale(self, stage: str, reason: str) -> bool:
        """Make the next run redo ``stage`` (resuming it) and every stage after it.

        For commands that change a stage's inputs outside a run (``vlkd review import``);
        call it while holding :meth:`locked`. Returns whether a finished stage was marked.
        """
        manifest = self.read_manifest()
        entry = (manifest or {}).get("stages", {}).get(stage)
        if manifest is None or entry is None or entry.get("status") != "done":
            return False
        entry["status"] = "stale"
        entry["stale_reason"] = reason
        self.write_manifest(manifest)
        return True

    def reset_stage(self, stage: str) -> Path:
        path = self.stage_dir(stage)
        if path.exists():
            shutil.rmtree(path)
        path.mkdir(parents=True)
        return path

    @contextlib.contextmanager
    def locked(self):
        """Hold ``run.lock`` so that two runs never write the same directory at once."""
        self.path.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise StageError(
                    f"{self.path} is in use by another vlkd run (pid in {LOCK_FILE}); "
                    f"wait for it to finish or stop it"
                ) from None
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
            yield self
        finally:
            os.close(fd)


def note_written_at(path: str | os.PathLike[str]) -> None:
    """:meth:`RunDir.note_written` for the run directory and stage that hold ``path``, if any."""
    target = Path(path).resolve()
    for parent in target.parents:
        if (parent / MANIFEST).is_file():
            stage = target.relative_to(parent).parts[0]
            RunDir(parent).note_written(stage)
            return


#: how the manifest writes times (``created``, ``started``, ``finished``, ``written``, ``updated``)
MANIFEST_TIME = "%Y-%m-%dT%H:%M:%S%z"
#: a file changed this long after its stage finished was changed by someone else (the manifest's
#: times have whole seconds; a file system's clock may lag the one that wrote them)
_CLOCK_SLACK_S = 2.0


def manifest_time() -> str:
    """Now, as the manifest writes it (whole seconds, local time with its offset)."""
    return time.strftime(MANIFEST_TIME)


def _epoch(stamp: object) -> float | None:
    import datetime

    if not isinstance(stamp, str):
        return None
    try:
        return datetime.datetime.strptime(stamp, MANIFEST_TIME).timestamp()
    except ValueError:
        return None


def _some(names: list[str], n: int = 5) -> str:
    shown = ", ".join(names[:n])
    return shown + (f" and {len(names) - n} more" if len(names) > n else "")


def _glob_base(path: Path) -> Path:
    """The folder a glob searches (``photos/**/*.jpg`` -> ``photos``); a plain path as it is."""
    parts = path.parts
    for i, part in enumerate(parts):
        if _GLOB_CHARS & set(part):
            return Path(*parts[:i]) if i else Path(".")
    return path


def environment_versions(distributions: dict[str, str]) -> dict[str, Any]:
    return {"vlkd": __version__, "python": platform.python_version(), "plugins": distributions}

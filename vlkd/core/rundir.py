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
import fcntl
import json
import os
import platform
import shutil
import time
from pathlib import Path
from typing import Any

from vlkd import __version__
from vlkd.core.errors import StageError, VlkdError
from vlkd.core.jsonl import write_json_atomic

MANIFEST = "manifest.json"
CACHE_DIR = "cache"
LOCK_FILE = "run.lock"


class RunDir:
    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path).resolve()
        self.manifest_path = self.path / MANIFEST
        self.cache_dir = self.path / CACHE_DIR
        self._lock_fd: int | None = None

    def stage_dir(self, stage: str) -> Path:
        return self.path / stage

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
        manifest["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        write_json_atomic(self.manifest_path, manifest)

    def check_owner(self, recipe_name: str, fresh: bool) -> dict[str, Any] | None:
        """The existing manifest if this run directory belongs to ``recipe_name``.

        A directory made by another recipe is refused unless ``fresh``; with ``fresh``
        everything but the response cache is removed.
        """
        if fresh:
            self.clear(keep=(CACHE_DIR, LOCK_FILE))
            return None
        manifest = self.read_manifest()
        if manifest is None:
            if self.path.exists() and any(p.name not in (CACHE_DIR, LOCK_FILE) for p in self.path.iterdir()):
                raise StageError(
                    f"{self.path} exists and is not a vlkd run directory; "
                    f"choose another --run-dir, or pass --fresh to empty it"
                )
            return None
        owner = manifest.get("recipe", {}).get("name")
        if owner != recipe_name:
            raise StageError(
                f"{self.path} holds a run of recipe '{owner}', not '{recipe_name}'; "
                f"choose another --run-dir, or pass --fresh to start it over"
            )
        return manifest

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


def environment_versions(distributions: dict[str, str]) -> dict[str, Any]:
    return {"vlkd": __version__, "python": platform.python_version(), "plugins": distributions}

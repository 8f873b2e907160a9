"""``vlkd teach batches`` and ``vlkd teach cancel``: a run's batches, as recorded and as the provider sees them."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vlkd.core.errors import StageError
from vlkd.teach.batch_book import BatchBook, Chunk
from vlkd.teach.teacher import TeacherError


@dataclass
class BatchRow:
    chunk: Chunk
    #: the provider's word now (None when it was not asked, or could not be reached)
    live: str | None = None
    counts: dict[str, int] | None = None
    note: str | None = None

    @property
    def recorded(self) -> str:
        c = self.chunk
        if c.collected:
            return f"collected ({c.status})" + (f", {len(c.errors)} without answer" if c.errors else "")
        if c.cancelled:
            return "cancel asked"
        return "open" if c.batch else "submitting (no batch id recorded)"


def _book(run_dir: Path) -> BatchBook:
    root = Path(run_dir) / "cache" / "teach"
    if not (root / "batches.jsonl").exists():
        raise StageError(
            f"{run_dir}: no batches recorded (teach.mode: batch writes cache/teach/batches.jsonl)"
        )
    return BatchBook(root)


def _teacher(run_dir: Path) -> Any:
    """The run's teacher, built from its recipe (and the overrides it remembers), started."""
    from vlkd.core import overrides
    from vlkd.core.recipe import load_recipe
    from vlkd.core.rundir import RunDir

    manifest = RunDir(run_dir).read_manifest() or {}
    path = Path(manifest.get("recipe", {}).get("path") or "")
    if not path.is_file():
        raise StageError(f"{run_dir}: the recipe that made this run ({path}) is not there any more")
    recipe = load_recipe(path, overrides.remembered(run_dir, path, manifest["recipe"].get("name", "")))
    stage = recipe.stages.get("teach")
    if stage is None:
        raise StageError(f"{path}: no teach stage")
    return stage.steps[0].instantiate()


async def _with_api(run_dir: Path, work: Any) -> Any:
    teacher = _teacher(run_dir)
    await teacher.start(None, [])
    try:
        api = teacher.batch_api(None)
        if api is None:
            raise StageError(
                f"teacher '{teacher.options.plugin}' (mode: {teacher.options.mode}) has no batches"
            )
        return await work(api, teacher)
    finally:
        await teacher.close()


def list_batches(run_dir: Path, *, live: bool = True) -> list[BatchRow]:
    book = _book(run_dir)
    rows = [BatchRow(c) for c in book.chunks.values()]
    if not live or not any(r.chunk.open and r.chunk.batch for r in rows):
        return rows

    async def ask(api: Any, teacher: Any) -> None:
        for row in rows:
            if row.chunk.open and row.chunk.batch:
                try:
                    state = await api.state(row.chunk.batch)
                    row.live, row.counts = state.status, state.counts
                except TeacherError as exc:
                    row.note = teacher_note(exc, teacher)

    asyncio.run(_with_api(run_dir, ask))
    return rows


def cancel_batches(run_dir: Path) -> list[BatchRow]:
    """Ask the provider to cancel every open batch; the next run collects what they did finish.

    A chunk whose batch id was never recorded (a run interrupted while submitting it) cannot be
    cancelled from here: its row says so, and the next run finds its batch."""
    book = _book(run_dir)
    rows = [BatchRow(c) for c in book.open_chunks() if c.batch]
    unrecorded = [
        BatchRow(
            c,
            note="not cancelled: a run was interrupted while submitting it; the next `vlkd run` "
            "finds its batch, or cancel it at the provider",
        )
        for c in book.open_chunks()
        if not c.batch
    ]

    async def cancel(api: Any, teacher: Any) -> None:
        for row in rows:
            try:
                state = await api.cancel(row.chunk.batch)
                row.live, row.counts = state.status, state.counts
                book.cancelled(row.chunk.batch or "")
            except TeacherError as exc:
                row.note = teacher_note(exc, teacher)

    if rows:
        asyncio.run(_with_api(run_dir, cancel))
    book.close()
    return rows + unrecorded


def teacher_note(exc: Exception, teacher: Any) -> str:
    text = str(exc)
    for secret in teacher.secrets():
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text

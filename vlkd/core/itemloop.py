"""The per-item loop shared by stages: resume, workers, counts, progress, checkpoints."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from vlkd.core.errors import StageError

if TYPE_CHECKING:
    from vlkd.core.context import StageContext
    from vlkd.core.executor import WorkerWork
    from vlkd.core.ledger import Ledger, Status
    from vlkd.core.progress import ProgressTask

T = TypeVar("T")


class ItemLoop(Generic[T]):
    """Resume, counts, progress, ``on_error`` and checkpoints for the items of one stage run.

    ``map_items`` drives it with a pool of workers; a stage with its own way of doing one item
    (the teach driver's concurrent calls) drives it directly::

        loop = ItemLoop(ctx, items, key=..., on_error=..., description=...)
        with loop:
            for key, item in loop.todo:
                loop.finish(key, status, records, reason, **extra)
    """

    def __init__(
        self,
        ctx: StageContext,
        items: Sequence[T],
        *,
        key: Callable[[T], str],
        on_error: str = "skip",
        description: str | None = None,
        label: Callable[[T], str] | None = None,
        noun: str = "item",
        on_entry: Callable[[dict[str, Any]], None] | None = None,
        keys: Sequence[str] | None = None,
    ):
        """``keys``: the items' keys when the caller has them (``items`` may then read each item
        only when it is asked for: nothing here holds more than a key per item)."""
        self.ctx = ctx
        self.ledger = ctx.ledger()
        self.items = items
        self.keys = list(keys) if keys is not None else [key(item) for item in items]
        self.on_error = on_error
        self.noun = noun
        self.on_entry = on_entry
        self._label = label
        #: positions in ``items`` of the items not finished yet, and those by key
        self._todo: list[int] = []
        self._where: dict[str, int] = {}
        keep_failed = not getattr(ctx.run, "retry_failed", True)
        for i, k in enumerate(self.keys):
            if self.ledger.finished(k) or (keep_failed and self.ledger.status(k) == "failed"):
                self._count(self.ledger.entries[k])
            else:
                self._todo.append(i)
                self._where[k] = i
        if self._todo and len(self._todo) < len(items):
            ctx.info(f"resuming: {len(items) - len(self._todo)} of {len(items)} {noun}s already done")
        self._total = len(items)
        self._description = description
        self._bar: ProgressTask | None = None

    @property
    def todo(self) -> _Todo[T]:
        """(key, item) of the items not finished when the loop began, each item read as it comes."""
        return _Todo(self)

    def item(self, k: str) -> T:
        """The item of a key that was to do."""
        return self.items[self._where[k]]

    def label(self, k: str) -> str:
        """What messages name an item by (its path, say)."""
        if self._label is None or k not in self._where:
            return k
        return self._label(self.item(k))

    def _count(self, entry: dict[str, Any]) -> None:
        self.ctx.counts.add_entry(entry)
        if self.on_entry is not None:
            self.on_entry(entry)

    @property
    def bar(self) -> ProgressTask:
        """The progress bar (shown from ``with loop:`` on)."""
        if self._bar is None:
            self._bar = self.ctx.progress(self._total, self._total - len(self._todo), self._description)
        return self._bar

    def finish(
        self, k: str, status: Status, records: Iterable[Any] = (), reason: str | None = None, **extra: Any
    ) -> dict[str, Any]:
        """Record one item's outcome (one ledger line), count it, and stop on a failure if asked."""
        entry = self.ledger.record(k, status, records, reason, **extra)
        self._count(entry)
        self.bar.advance()
        if status == "failed" and self.on_error == "fail":
            raise StageError(
                f"stage '{self.ctx.name}' stopped at {self.noun} {self.label(k)}: {reason} "
                f"(set on_error: skip to skip such {self.noun}s and go on)"
            )
        if status != "ok":
            self.ctx.info(f"{status} {self.label(k)}: {reason}")
        self.ctx.checkpoint()
        return entry

    def __enter__(self) -> ItemLoop:
        _ = self.bar
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.close()


class _Todo(Generic[T]):
    def __init__(self, loop: ItemLoop[T]):
        self._loop = loop

    def __len__(self) -> int:
        return len(self._loop._todo)

    def __bool__(self) -> bool:
        return bool(self._loop._todo)

    def __iter__(self) -> Iterator[tuple[str, T]]:
        loop = self._loop
        for i in loop._todo:
            yield loop.keys[i], loop.items[i]


class ItemOutput:
    """The output records of a stage's items, in item order, read back from the stage's ledger
    as they are iterated: memory stays flat however many items the stage has. It can be
    iterated more than once (each pass reads the ledger again); valid until the stage ends."""

    def __init__(self, ledger: Ledger, keys: Sequence[str]):
        self._ledger = ledger
        self._keys = keys

    def __iter__(self) -> Iterator[Any]:
        return self._ledger.records(self._keys)


def map_items(
    ctx: StageContext,
    items: Sequence[T],
    *,
    key: Callable[[T], str],
    work: Callable[[T], Iterable[Any]],
    workers: int = 1,
    processes: bool = False,
    on_error: str = "skip",
    description: str | None = None,
    probe: Callable[[T], str] | None = None,
    drain_s: float | None = None,
    on_workers: WorkerWork | None = None,
) -> ItemOutput:
    """Run ``work`` on every item not finished yet, where the run's executor puts it; the items'
    output records (see ``ItemOutput``). The ledger, counts and progress stay here, on the driver.
    ``drain_s``: items that are paid calls (threads): a first Ctrl-C waits up to that long for
    the items in flight and records them before it stops (see :mod:`vlkd.core.drain`).
    ``on_workers``: the same work for an executor's long-lived workers (a student model loaded
    once per Ray actor), where ``work`` itself keeps state on the driver."""
    from vlkd.core.executor import MapJob

    loop = ItemLoop(ctx, items, key=key, on_error=on_error, description=description)
    job = MapJob(
        ctx, work, workers=workers, processes=processes, probe=probe, drain_s=drain_s, on_workers=on_workers
    )
    with loop:
        if loop.todo:
            outcomes = ctx.run.executor.map(job, loop.todo)
            try:
                for k, (status, records, reason) in outcomes:
                    loop.finish(k, status, records, reason)  # type: ignore[arg-type]
            finally:
                close = getattr(outcomes, "close", None)
                if close is not None:
                    close()  # a stop (on_error: fail, Ctrl-C): the executor cancels what is in flight
    if job.facts:
        ctx.facts.setdefault("executor", {}).update(job.facts)
    return ItemOutput(loop.ledger, loop.keys)

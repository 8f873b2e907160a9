"""The per-item loop shared by stages: resume, workers, counts, progress, checkpoints."""

from __future__ import annotations

import concurrent.futures as cf
import itertools
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from vlkd.core.errors import SkipItem, StageError

if TYPE_CHECKING:
    from vlkd.core.context import StageContext

T = TypeVar("T")


def _call(work: Callable[[Any], Iterable[Any]], item: Any) -> tuple[str, list[Any], str | None]:
    """Run one item; never raises (so worker processes report every outcome the same way)."""
    try:
        return "ok", list(work(item) or ()), None
    except SkipItem as exc:
        return "skipped", [], exc.reason
    except Exception as exc:
        return "failed", [], f"{type(exc).__name__}: {exc}"


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
) -> list[Any]:
    ledger = ctx.ledger()
    keys = [key(item) for item in items]
    todo = []
    for k, item in zip(keys, items, strict=True):
        if ledger.finished(k):
            ctx.counts.add_entry(ledger.entries[k])
        else:
            todo.append((k, item))
    if todo and len(todo) < len(items):
        ctx.info(f"resuming: {len(items) - len(todo)} of {len(items)} items already done")

    def finish(k: str, outcome: tuple[str, list[Any], str | None]) -> None:
        status, records, reason = outcome
        entry = ledger.record(k, status, records, reason)
        ctx.counts.add_entry(entry)
        bar.advance()
        if status == "failed" and on_error == "fail":
            raise StageError(
                f"stage '{ctx.name}' stopped at item {k}: {reason} "
                f"(set on_error: skip to skip such items and go on)"
            )
        if status != "ok":
            ctx.info(f"{status} {k}: {reason}")
        ctx.checkpoint()

    with ctx.progress(len(items), len(items) - len(todo), description) as bar:
        if workers <= 1 or len(todo) <= 1:
            for k, item in todo:
                finish(k, _call(work, item))
        else:
            pool_cls = cf.ProcessPoolExecutor if processes else cf.ThreadPoolExecutor
            pool = pool_cls(max_workers=workers)
            # bounded in flight: memory stays flat however many items there are
            pending: dict[cf.Future, str] = {}
            queue = iter(todo)
            try:
                for k, item in itertools.islice(queue, workers * 2):
                    pending[pool.submit(_call, work, item)] = k
                while pending:
                    done, _ = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
                    for fut in done:
                        finish(pending.pop(fut), fut.result())
                        nxt = next(queue, None)
                        if nxt is not None:
                            pending[pool.submit(_call, work, nxt[1])] = nxt[0]
            except BaseException:
                # Ctrl-C or a stop: do not wait for the queue; items in flight are redone on resume
                pool.shutdown(wait=False, cancel_futures=True)
                raise
            pool.shutdown()
    return list(ledger.records(keys))

"""Where a stage's items run: the one seam between the per-item loop and the workers.

A stage hands its items to ``ctx.map_items`` (ingest, preprocess, verify, evaluate) or its calls
to ``executor.call`` (teach); the :class:`ItemLoop` keeps the ledger, counts and progress on the
driver, and the executor only decides where ``work(item)`` runs. ``local`` (the default: threads
or processes on this machine) lives here; ``ray`` lives in :mod:`vlkd.distributed.ray_executor`,
imported only when a run asks for it. Neither the stages' fingerprints nor the cache keys know
the executor, so a stage half done on one resumes on the other.
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import Field

from vlkd.core.errors import SkipItem
from vlkd.core.options import Options

if TYPE_CHECKING:
    from vlkd.core.context import StageContext

#: what one item came to: status ("ok", "skipped", "failed"), output records, reason
Outcome = tuple[str, list[Any], str | None]


def call_item(work: Callable[[Any], Iterable[Any]], item: Any) -> Outcome:
    """Run one item; never raises (so every worker, a process or a Ray task, reports the same way)."""
    try:
        return "ok", list(work(item) or ()), None
    except SkipItem as exc:
        return "skipped", [], exc.reason
    except Exception as exc:
        return "failed", [], f"{type(exc).__name__}: {exc}"


class ExecutorOptions(Options):
    """The recipe's ``executor:`` section (or ``executor: ray``); ``vlkd run --executor`` wins."""

    name: Literal["local", "ray"] = Field(
        default="local", description="local: this machine (threads, processes); ray: tasks on a Ray cluster"
    )
    address: str | None = Field(
        default=None,
        description="ray: the cluster (auto, HOST:PORT, ray://HOST:10001); unset: RAY_ADDRESS or a "
        "Ray started on this machine",
    )
    num_cpus: float = Field(default=1.0, gt=0, description="ray: CPUs each task asks for")
    max_retries: int = Field(
        default=2, ge=0, le=100, description="ray: times a task is sent again after its worker or node died"
    )
    chunk: int = Field(
        default=0,
        ge=0,
        le=10_000,
        description="ray: items per task (0: chosen from the items and the cluster)",
    )


class WorkerWork(Protocol):
    """Work that keeps what it loads (a student model) in a long-lived worker: on Ray an actor per
    worker, loaded once and handed ``chunk_size`` items at a time (a chunk is one batch, so the
    batches are those of a local run); the local executor runs ``MapJob.work`` instead."""

    #: items handed to a worker at once
    chunk_size: int
    #: GPUs each worker asks for: 0, 1, ..., or None: one where the cluster has GPUs, else none
    num_gpus: float | None

    def for_chunk(self, items: list[Any]) -> Callable[[Any], Iterable[Any]]:
        """On the worker: the per-item work for one chunk's items (called for each, in order)."""
        ...


def run_worker_chunk(work: WorkerWork, items: list[Any]) -> list[Outcome]:
    """A chunk on a long-lived worker: each item's outcome, as :func:`call_item` gives it."""
    each = work.for_chunk(items)
    return [call_item(each, item) for item in items]


@dataclass
class MapJob:
    """One ``map_items`` call as the executor sees it."""

    ctx: StageContext
    work: Callable[[Any], Iterable[Any]]
    #: threads or processes on this machine (``local``); a cap on tasks in flight (``ray``)
    workers: int = 1
    #: ``work`` can be pickled and run in another process
    processes: bool = False
    #: the file an item reads (checked on every node before the first task)
    probe: Callable[[Any], str] | None = None
    #: paid calls in threads: a first Ctrl-C waits this long for those in flight (local only)
    drain_s: float | None = None
    #: how a cluster runs the items when ``work`` must stay here (it keeps state between items)
    on_workers: WorkerWork | None = None
    facts: dict[str, Any] = field(default_factory=dict)


class Executor(Protocol):
    name: str

    def start(self, run_dir: Path) -> None:
        """Connect and check before any stage runs (a clear error, not half a run)."""

    def check_gpus(self, needs: list[tuple[float, str]]) -> None:
        """The GPUs the run's stages ask for (count, the option asking) are there, or one error."""

    def map(self, job: MapJob, todo: Iterable[tuple[str, Any]]) -> Iterator[tuple[str, Outcome]]:
        """Each item's outcome as it comes (any order); stopping the iteration cancels the rest."""
        ...

    async def call(self, fn: Callable[[Any], Any], arg: Any) -> Any:
        """``fn(arg)`` off the event loop (teach's one-image calls)."""
        ...

    def close(self) -> None:
        """Give back what ``start`` took."""


class LocalExecutor:
    """Today's behaviour: the items in this process, in threads, or in processes."""

    name = "local"

    def start(self, run_dir: Path) -> None:
        pass

    def check_gpus(self, needs: list[tuple[float, str]]) -> None:
        pass  # this machine's GPUs are the libraries' business (torch says what it finds)

    def map(self, job: MapJob, todo: Iterable[tuple[str, Any]]) -> Iterator[tuple[str, Outcome]]:
        items = list(todo) if not hasattr(todo, "__len__") else todo
        if job.workers <= 1 or len(items) <= 1:  # type: ignore[arg-type]
            for k, item in items:
                yield k, call_item(job.work, item)
            return
        pool_cls = cf.ProcessPoolExecutor if job.processes else cf.ThreadPoolExecutor
        pool = pool_cls(max_workers=job.workers)
        # bounded in flight: memory stays flat however many items there are
        pending: dict[cf.Future, str] = {}
        queue = iter(items)
        try:
            for k, item in itertools.islice(queue, job.workers * 2):
                pending[pool.submit(call_item, job.work, item)] = k
            while pending:
                done, _ = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
                for fut in done:
                    yield pending.pop(fut), fut.result()
                    nxt = next(queue, None)
                    if nxt is not None:
                        pending[pool.submit(call_item, job.work, nxt[1])] = nxt[0]
        except KeyboardInterrupt:
            if job.drain_s is None or job.processes:
                pool.shutdown(wait=False, cancel_futures=True)
                raise
            yield from _drained(job, pool, pending)
            raise
        except BaseException:
            # Ctrl-C or a stop: do not wait for the queue; items in flight are redone on resume
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()

    async def call(self, fn: Callable[[Any], Any], arg: Any) -> Any:
        return await asyncio.to_thread(fn, arg)

    def close(self) -> None:
        pass


def _drained(job: MapJob, pool: cf.Executor, pending: dict[cf.Future, str]) -> Iterator[tuple[str, Outcome]]:
    """After a first Ctrl-C: the outcomes of the items in flight (paid calls), waited for at most
    ``job.drain_s`` (a second Ctrl-C stops the wait); the queued ones are never started."""
    from vlkd.core.drain import drain_futures

    drained: list[tuple[str, Outcome]] = []
    try:
        for fut in [f for f in pending if f.cancel()]:
            del pending[fut]
        drain_futures(
            pending,
            lambda k, fut: drained.append((k, fut.result())),
            limit_s=job.drain_s or 0.0,
            say=job.ctx.warn,
        )
    except KeyboardInterrupt:
        pass
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    yield from drained


def make_executor(options: ExecutorOptions | None) -> Executor:
    """The executor a run asks for; ``ray`` is imported only here, and only when named."""
    if options is None or options.name == "local":
        return LocalExecutor()
    import importlib.util

    if importlib.util.find_spec("ray") is None:
        from vlkd.core.errors import PluginError

        raise PluginError('executor: ray needs Ray on this machine: pip install "vlkd[ray]"')
    from vlkd.distributed.ray_executor import RayExecutor

    return RayExecutor(options)


def parse_executor(value: Any) -> ExecutorOptions:
    """``executor: ray`` or ``executor: {name: ray, ...}`` (raises pydantic's ValidationError)."""
    if isinstance(value, str):
        value = {"name": value}
    return ExecutorOptions.model_validate(value)


def chosen_executor(
    recipe: ExecutorOptions | None, name: str | None, address: str | None
) -> ExecutorOptions | None:
    """The recipe's ``executor:`` with ``vlkd run --executor NAME --address ADDR`` applied."""
    from vlkd.core.errors import VlkdError

    if name is None and address is None:
        return recipe
    options = recipe.model_copy() if recipe is not None else ExecutorOptions()
    if name is not None:
        if name not in ("local", "ray"):
            raise VlkdError(f"--executor {name}: not an executor (choose local or ray)")
        options.name = name  # type: ignore[assignment]
    if address is not None:
        if options.name != "ray":
            raise VlkdError("--address names a Ray cluster: add --executor ray")
        options.address = address
    return options

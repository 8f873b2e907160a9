"""``executor: ray``: a stage's items as Ray tasks, their outcomes back to the driver's ledger.

The driver (``vlkd run``) stays one process: it reads the items, keeps the ledger, the cache,
the journal and the manifest, exactly as a local run does; only ``work(item)`` (and teach's
one-image calls) run on the cluster's workers. A task is a chunk of items; a chunk whose worker
or node died is sent again at most ``max_retries`` times, counted in the stage's facts; what was
finished before stays finished. The run directory must be on storage every node sees:
:meth:`RayExecutor.start` and the first item of each stage are checked on every node.
"""

from __future__ import annotations

import itertools
import logging
import os
import socket
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol

from vlkd.core.drain import CtrlCBetweenCalls
from vlkd.core.errors import StageError, VlkdError
from vlkd.core.executor import (
    ExecutorOptions,
    LocalExecutor,
    MapJob,
    Outcome,
    WorkerWork,
    call_item,
    run_worker_chunk,
)

#: how long a HOST:PORT may take to accept a connection before the cluster counts as unreachable
CONNECT_TIMEOUT_S = 5.0
#: how often the driver looks up from waiting on the cluster: a Ctrl-C is acted on within this
POLL_S = 0.25


def run_chunk(work: Callable[[Any], Iterable[Any]], items: list[Any]) -> list[Outcome]:
    """One Ray task: the outcomes of a chunk of items (an item's error is its outcome, not the task's)."""
    return [call_item(work, item) for item in items]


def unreadable(paths: list[str]) -> tuple[str, list[str]]:
    """On a node: its address and the paths it cannot read."""
    import ray

    bad = [p for p in paths if not (os.path.isfile(p) and os.access(p, os.R_OK))]
    return ray.util.get_node_ip_address(), bad


def _retryable() -> tuple[type[BaseException], ...]:
    """Ray's errors that mean the task's worker, node or result was lost (not the work's fault)."""
    from ray import exceptions as rx

    names = ("WorkerCrashedError", "NodeDiedError", "ObjectLostError", "OwnerDiedError", "OutOfMemoryError")
    return tuple(getattr(rx, n) for n in names if hasattr(rx, n))


def check_reachable(address: str) -> None:
    """A HOST:PORT (or ray://HOST:PORT) that accepts no connection is one clear error, at once."""
    target = address.removeprefix("ray://")
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit():
        return  # "auto" and the like: ray.init says what it finds
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=CONNECT_TIMEOUT_S) as conn:
            speaks = _speaks_http2(conn)
    except OSError as exc:
        raise VlkdError(
            f"executor ray: no Ray cluster answers at {address} ({exc.strerror or exc}); start one "
            "(ray start --head) or fix --address / executor.address"
        ) from None
    if not speaks:  # ray.init would retry such a port for minutes, silently
        raise VlkdError(
            f"executor ray: something listens at {address}, but it is not a Ray cluster (it does not "
            "speak gRPC); give the head node's GCS port (ray start --head prints it; default 6379) "
            "or ray://HOST:10001"
        )


#: an HTTP/2 client's connection preface and an empty SETTINGS frame; a gRPC server (Ray's GCS and
#: its client server) answers with a SETTINGS frame (type 4) before anything else
_H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"


def _speaks_http2(conn: socket.socket) -> bool:
    try:
        conn.sendall(_H2_PREFACE)
        head = b""
        while len(head) < 4:
            more = conn.recv(4 - len(head))
            if not more:
                break
            head += more
    except OSError:  # no answer within the timeout, or the connection dropped
        return False
    return len(head) == 4 and head[3] == 0x04


class RayExecutor:
    name = "ray"

    def __init__(self, options: ExecutorOptions):
        self.options = options
        self._started_ray = False
        self._refs: dict[int, tuple[Any, Any]] = {}

    # -- connecting and checking ---------------------------------------------------------------
    def start(self, run_dir: Path) -> None:
        import ray

        address = self.options.address or os.environ.get("RAY_ADDRESS")
        if address:
            check_reachable(address)
        if not ray.is_initialized():
            try:
                ray.init(
                    address=address,
                    include_dashboard=False,
                    log_to_driver=False,
                    logging_level=logging.ERROR,
                    configure_logging=True,
                )
            except (ConnectionError, RuntimeError, ValueError) as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise VlkdError(
                    f"executor ray: cannot connect to {address or 'a local Ray'}: {first} "
                    "(start one with: ray start --head, or fix --address / executor.address)"
                ) from None
            self._started_ray = True
        nodes = self.nodes()
        if not nodes:
            raise VlkdError("executor ray: the cluster has no alive node with a CPU to run tasks on")
        self.check_shared(run_dir)

    def check_gpus(self, needs: list[tuple[float, str]]) -> None:
        """A stage that asks for GPUs on a cluster without enough is one error before any work."""
        import ray

        if not needs:
            return
        have = ray.cluster_resources().get("GPU", 0)
        wanted, why = max(needs)
        if have < wanted:
            raise VlkdError(
                f"executor ray: {why} needs {wanted:g} GPU(s) and the cluster has {have:g}; add GPU "
                "nodes (docs/ray.md: the recipe's GPU settings as Ray resources) or change the option"
            )

    def nodes(self) -> list[dict[str, Any]]:
        import ray

        return [n for n in ray.nodes() if n.get("Alive") and n.get("Resources", {}).get("CPU", 0) > 0]

    def check_shared(self, run_dir: Path) -> None:
        """Every node reads a file the driver just wrote into the run directory."""
        probe = Path(run_dir).resolve() / f".vlkd-probe-{uuid.uuid4().hex[:8]}"
        probe.write_text("vlkd\n")
        try:
            self.check_readable([str(probe)], what="the run directory")
        finally:
            probe.unlink(missing_ok=True)

    def check_readable(self, paths: list[str], what: str = "the stage's first item") -> None:
        """Each node can read ``paths``, or a :class:`StageError` names the node and the path."""
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        task = ray.remote(unreadable)
        refs = [
            task.options(
                num_cpus=0,
                max_retries=0,
                scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False),
            ).remote(paths)
            for node in self.nodes()
        ]
        for node, bad in ray.get(refs, timeout=120):
            if bad:
                raise StageError(
                    f"executor ray: node {node} cannot read {bad[0]} ({what}); the run directory and "
                    "the inputs must be on storage every node sees at the same path (docs/ray.md)"
                )

    # -- the items ---------------------------------------------------------------------------------
    def capacity(self) -> int:
        """Tasks the cluster runs at once with this executor's ``num_cpus`` each."""
        import ray

        cpus = ray.cluster_resources().get("CPU", 1)
        return max(1, int(cpus // self.options.num_cpus))

    def map(self, job: MapJob, todo: Iterable[tuple[str, Any]]) -> Iterator[tuple[str, Outcome]]:
        import ray

        if job.on_workers is not None:
            yield from self._map_on_workers(job, list(todo), job.on_workers)
            return
        if getattr(job.work, "runs_on_driver", False):
            job.ctx.info("runs on the driver (this stage's work keeps state between items)")
            yield from LocalExecutor().map(job, todo)
            return
        try:
            work_ref = ray.put(job.work)
        except Exception as exc:  # not picklable: a client, a lock, a model in a closure
            job.ctx.info(f"runs on the driver (its work cannot be sent to Ray workers: {type(exc).__name__})")
            yield from LocalExecutor().map(job, todo)
            return
        items = list(todo)
        if job.probe is not None and items:
            self.check_readable([job.probe(items[0][1])])
        slots = self.capacity()
        chunk = self.options.chunk or max(1, min(16, len(items) // (slots * 4)))
        task = ray.remote(run_chunk).options(num_cpus=self.options.num_cpus, max_retries=0)
        yield from self._dispatch(
            job, items, chunk, _Tasks(lambda part: task.remote(work_ref, part), slots * 2), _retryable()
        )

    def _map_on_workers(
        self, job: MapJob, items: list[tuple[str, Any]], work: WorkerWork
    ) -> Iterator[tuple[str, Outcome]]:
        """Long-lived workers (actors), each holding what ``work`` loads; a chunk of
        ``work.chunk_size`` items at a time each, in the order of the items (a local run's batches)."""
        import ray

        if not items:
            return
        if job.probe is not None:
            self.check_readable([job.probe(items[0][1])])
        gpus = self.gpus_per_worker(work.num_gpus, job.ctx.name)
        chunks = -(-len(items) // work.chunk_size)
        slots = self.capacity() if not gpus else int(ray.cluster_resources().get("GPU", 0) // gpus)
        actors = _Actors(
            work, max(1, min(slots, chunks)), self.options.num_cpus, gpus, self.options.max_retries
        )
        job.ctx.info(
            f"ray: {actors.count} worker(s) holding the stage's model"
            + (f", {gpus:g} GPU(s) each" if gpus else " (CPU)")
        )
        job.facts["workers"] = actors.count
        try:
            yield from self._dispatch(job, items, work.chunk_size, actors, _retryable() + _actor_lost())
        finally:
            actors.close()

    def gpus_per_worker(self, wanted: float | None, stage: str) -> float:
        """GPUs each long-lived worker asks for; a stage that needs one on a cluster without any
        is one error before its first item."""
        import ray

        have = ray.cluster_resources().get("GPU", 0)
        if wanted is None:
            return 1.0 if have else 0.0
        if wanted and have < wanted:
            raise StageError(
                f"executor ray: stage '{stage}' needs {wanted:g} GPU(s) per worker and the cluster has "
                f"{have:g}; add GPU nodes, or run it on the CPU (e.g. evaluate.device: cpu or auto)"
            )
        return float(wanted)

    def _dispatch(
        self,
        job: MapJob,
        items: list[tuple[str, Any]],
        chunk: int,
        pool: _Pool,
        lost: tuple[type[BaseException], ...],
    ) -> Iterator[tuple[str, Outcome]]:
        """The chunks through ``pool``, each outcome yielded as its chunk comes back; a chunk lost
        with its worker is sent again at most ``max_retries`` times (counted), then fails."""
        import ray

        chunks = iter([items[i : i + chunk] for i in range(0, len(items), chunk)])
        pending: dict[Any, tuple[list[tuple[str, Any]], int]] = {}

        def submit(part: list[tuple[str, Any]], attempt: int) -> None:
            pending[pool.launch([item for _, item in part])] = (part, attempt)

        tasks = retries = 0
        ctrl_c = CtrlCBetweenCalls()
        try:
            for part in itertools.islice(chunks, pool.slots):
                ctrl_c.check()
                submit(part, 0)
                tasks += 1
            while pending:
                ready: list[Any] = []
                while not ready:  # a Ctrl-C is raised here, between Ray's calls, never inside them
                    ctrl_c.check()
                    ready, _ = ray.wait(list(pending), num_returns=1, timeout=POLL_S)
                [ref] = ready
                part, attempt = pending.pop(ref)
                pool.done(ref)
                try:
                    outcomes = ray.get(ref)
                except lost as exc:
                    reason = type(exc).__name__
                    if attempt < self.options.max_retries:
                        retries += 1
                        job.ctx.info(
                            f"ray: a task of {len(part)} item(s) was lost ({reason}); sending it again "
                            f"(retry {attempt + 1} of {self.options.max_retries})"
                        )
                        submit(part, attempt + 1)
                        continue
                    outcomes = [("failed", [], f"lost {attempt + 1} times on Ray ({reason})")] * len(part)
                except ray.exceptions.RayTaskError as exc:
                    raise StageError(
                        f"executor ray: a worker cannot run stage '{job.ctx.name}': "
                        f"{_first_line(exc)} (is the same vlkd installed on every node?)"
                    ) from None
                for (k, _), outcome in zip(part, outcomes, strict=True):
                    yield k, outcome
                ctrl_c.check()  # pressed while the driver recorded them: send no more
                nxt = next(chunks, None)
                if nxt is not None:
                    submit(nxt, 0)
                    tasks += 1
        finally:
            # a stop or Ctrl-C: what is in flight is redone on resume, and must not go on writing.
            # Where this executor connected the driver, close() disconnects it and Ray ends the
            # job's tasks with it. ray.cancel(force=True) on a task just pushed to a worker races
            # the worker's reply: Ray 2.60's driver then dies on an internal check ("Tried to
            # complete task that was not pending", exit status 1; ray#24359: the same race hangs
            # it). It is left for a Ray that someone else started (and will end).
            if not self._started_ray:
                for ref in pending:
                    ray.cancel(ref, force=True)
            ctrl_c.restore()
            job.facts.update({"name": "ray", "tasks": tasks, "retries": retries})
            if retries:
                job.facts["max_retries"] = self.options.max_retries

    async def call(self, fn: Callable[[Any], Any], arg: Any) -> Any:
        import ray

        held = self._refs.get(id(fn))
        if held is None or held[0] is not fn:
            held = self._refs[id(fn)] = (fn, ray.put(fn))
        task = ray.remote(_apply).options(
            num_cpus=self.options.num_cpus, max_retries=self.options.max_retries
        )
        ok, value = await task.remote(held[1], arg)
        if not ok:
            raise value  # the call's own error (SkipItem, a teacher error), as a local call raises it
        return value

    def close(self) -> None:
        import ray

        self._refs.clear()
        if self._started_ray and ray.is_initialized():
            ray.shutdown()
        self._started_ray = False


class _Pool(Protocol):
    #: chunks in flight at once
    slots: int

    def launch(self, items: list[Any]) -> Any:
        """Start a chunk; its object ref."""

    def done(self, ref: Any) -> None:
        """The chunk of ``ref`` came back (or was lost)."""


class _Tasks:
    """A Ray task per chunk."""

    def __init__(self, launch: Callable[[list[Any]], Any], slots: int):
        self._launch = launch
        self.slots = slots

    def launch(self, items: list[Any]) -> Any:
        return self._launch(items)

    def done(self, ref: Any) -> None:
        pass


class WorkerHolder:
    """A Ray actor: one long-lived worker holding ``work`` (and what it loads, a model) between chunks."""

    def __init__(self, work: WorkerWork):
        self.work = work

    def run(self, items: list[Any]) -> list[Outcome]:
        return run_worker_chunk(self.work, items)


class _Actors:
    """``count`` actors, one chunk each at a time; an actor that died is restarted by Ray (at most
    ``restarts`` times) and its chunk sent again by :meth:`RayExecutor._dispatch`."""

    def __init__(self, work: WorkerWork, count: int, num_cpus: float, num_gpus: float, restarts: int):
        import ray

        holder = ray.remote(WorkerHolder).options(
            num_cpus=num_cpus, num_gpus=num_gpus, max_restarts=restarts, max_task_retries=0
        )
        work_ref = ray.put(work)
        self.count = self.slots = count
        self.idle: list[Any] = [holder.remote(work_ref) for _ in range(count)]
        self.busy: dict[Any, Any] = {}

    def launch(self, items: list[Any]) -> Any:
        actor = self.idle.pop()
        ref = actor.run.remote(items)
        self.busy[ref] = actor
        return ref

    def done(self, ref: Any) -> None:
        self.idle.append(self.busy.pop(ref))

    def close(self) -> None:
        import ray

        for actor in [*self.idle, *self.busy.values()]:
            ray.kill(actor)
        self.idle.clear()
        self.busy.clear()


def _actor_lost() -> tuple[type[BaseException], ...]:
    from ray import exceptions as rx

    names = ("RayActorError", "ActorUnavailableError")
    return tuple(getattr(rx, n) for n in names if hasattr(rx, n))


def _apply(fn: Callable[[Any], Any], arg: Any) -> tuple[bool, Any]:
    """One call on a worker; its exception comes back as a value, to be raised on the driver."""
    try:
        return True, fn(arg)
    except Exception as exc:
        return False, exc


def _first_line(exc: BaseException) -> str:
    cause = getattr(exc, "cause", None) or exc
    text = f"{type(cause).__name__}: {cause}"
    return text.strip().splitlines()[0][:300]

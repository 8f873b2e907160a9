"""``mode: batch`` and ``batch_file``: the teach stage through a provider's Batch API, at half price.

For every image not finished, the driver works out the answer it needs next (the same cache key
as online), and:

1. *building*: writes the requests no cache entry and no open batch holds into chunk files
   under ``cache/teach/batch/``, split under the provider's limits (requests and bytes);
2. *uploading*: records each chunk in ``cache/teach/batches.jsonl`` **before** submitting it,
   and its batch id as soon as the provider answers (a chunk recorded without an id is looked
   for at the provider, then submitted again, only if the provider has no batch for it);
3. *polling*: looks at the open batches every ``batch_poll_interval`` seconds, showing their
   progress; with ``--no-wait`` the stage stops here as ``waiting`` and the next run goes on;
4. *collecting*: puts each answer into the response cache at once, then parses it like an
   online answer (an unparsable or cut-off one is asked again in the next batch); items that
   errored, expired or were cancelled go into a follow-up batch, ``batch_retries`` times at
   most, then fail with the reason.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, cast

from vlkd.core.context import Usage
from vlkd.core.errors import StageError, StageWaiting
from vlkd.core.jsonl import dumps
from vlkd.teach.batch_api import Undecided
from vlkd.teach.batch_book import BatchBook, Chunk
from vlkd.teach.cache import PackWriter
from vlkd.teach.calls import ItemFailed
from vlkd.teach.limits import Budget, BudgetReached, backoff_delay, checked_usage, cost_usd
from vlkd.teach.teacher import FatalError, TeacherError, TeachResponse

if TYPE_CHECKING:
    from vlkd.core.itemloop import ItemLoop
    from vlkd.teach.batch_api import BatchAPI, BatchState
    from vlkd.teach.jobs import ImageJob
    from vlkd.teach.options import APITeacherOptions
    from vlkd.teach.run import TeachRun
    from vlkd.teach.teacher import TeachRequest

#: the providers' batch price is half of their list price
BATCH_DISCOUNT = 0.5
CHUNK_DIR = "batch"


def batch_price(price: dict[str, float] | None) -> dict[str, float] | None:
    return {k: v * BATCH_DISCOUNT for k, v in price.items()} if price is not None else None


class BatchRun:
    def __init__(self, run: TeachRun, loop: ItemLoop, budget: Budget, api: BatchAPI, *, wait: bool):
        self.run = run
        self.ctx = run.ctx
        self.loop = loop
        self.budget = budget
        self.api = api
        self.wait = wait
        self.opts = cast("APITeacherOptions", run.opts)  # batches are sent by API teachers only
        self.price = batch_price(run.price)
        self.book = BatchBook(run.cache.root)
        self.jobs: dict[str, ImageJob] = {}
        #: the images each key an open chunk holds answers (one image id, or a list of them: one
        #: string per key for 100,000 images, not a list each); the job itself names its key
        #: (``ImageJob.held``): it is not looked at again until the chunk is collected
        self.waiting_on: dict[str, str | list[str]] = {}
        #: answers collected in this session, by key: what they cost (added to their image's usage)
        self.paid: dict[str, Usage] = {}
        self.started = time.monotonic()
        self.submitted = 0
        #: chunks whose batch id was never recorded and whose batch cannot be told apart yet
        #: from others of its size (chunk -> how many it may be): looked for again each round
        self.undecided: dict[str, int] = {}
        self.stopped_by_budget = False
        #: seconds spent per phase (the stage facts show them)
        self.seconds = dict.fromkeys(("build", "upload", "wait", "collect", "parse"), 0.0)
        limit = self.opts.batch_max_requests or api.max_requests
        self.max_requests = min(limit, api.max_requests)

    # -- the loop ----------------------------------------------------------------------------
    async def run_all(self) -> None:
        for chunk in self.book.open_chunks():  # what earlier sessions submitted counts against the budget
            self.budget.reserved += chunk.worst_usd
        await self.recover_unrecorded()
        try:
            await self.first_pass()
            await self._loop()
        finally:
            self.ctx.facts["batch"] = {
                "batches": len(self.book.chunks),
                "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
            }

    async def first_pass(self) -> None:
        """Every image read once, in one pass: settled from the cache, held by an open chunk, or
        its request line written into the chunk being built (sent as soon as it is full), so that
        no request is built twice and nothing per image is kept but its job."""

        load = self.loop.item  # a job holds no record: it is read again when needed
        builder = ChunkBuilder(self)
        t0 = time.perf_counter()
        try:
            for key, image in self.loop.todo:
                try:
                    job, request = await self.run.start_job(image)
                except Exception as exc:  # an unreadable image: it fails, the others go on
                    reason = getattr(exc, "reason", None) or f"{type(exc).__name__}: {exc}"
                    self.finish(image.id, self.run.rules.failed_entry(None, reason))
                    continue
                job.image_id, job.source = key, load  # the loop's key: one string per image, not two
                self.jobs[key] = job
                try:
                    need = self.settle_job(job)
                except ItemFailed as exc:
                    self.finish(key, self.run.rules.failed_entry(job, exc.reason, exc.raw))
                    continue
                if need is not None and not self.stopped_by_budget:
                    await builder.add(job, need, request)  # the request of any try: only the key differs
            await builder.flush()
        finally:
            builder.discard()
            self.seconds["build"] += time.perf_counter() - t0 - builder.upload_s
            self.seconds["upload"] += builder.upload_s

    async def _loop(self) -> None:
        while self.jobs:
            if self.undecided:
                try:
                    await self.recover_unrecorded()
                except FatalError:
                    raise
                except TeacherError:
                    pass  # a failed look: the next round looks again
            t0 = time.perf_counter()
            need = self.settle_all()
            self.seconds["parse"] += time.perf_counter() - t0
            if need and not self.stopped_by_budget:
                await self.submit(need)
            open_chunks = [c for c in self.book.open_chunks() if c.batch is not None]
            if not open_chunks and not self.undecided:
                if self.stopped_by_budget:
                    self.run.stop_reason = "budget"
                    return
                if not need:
                    break  # nothing asked, nothing on the way: every job settled
                continue
            states = await self.look(open_chunks)
            ended = [(c, s) for c, s in states if s.ended]
            t0 = time.perf_counter()
            for chunk, state in ended:
                await self.collect(chunk, state)
            self.seconds["collect"] += time.perf_counter() - t0
            if ended:
                continue
            self.show(states)
            if not self.wait or self.api.external:
                raise StageWaiting(self.waiting_message(open_chunks))
            t0 = time.perf_counter()
            await asyncio.sleep(self.opts.batch_poll_interval)
            self.seconds["wait"] += time.perf_counter() - t0

    def finish(self, image_id: str, entry: dict[str, Any]) -> None:
        extra = {k: v for k, v in entry.items() if k not in ("status", "records", "reason")}
        self.loop.finish(image_id, entry["status"], entry["records"], entry.get("reason"), **extra)
        self.jobs.pop(image_id, None)
        self.run.show(self.loop)

    def settle_all(self) -> list[tuple[ImageJob, str]]:
        """Finish every job whose answers are in the cache; the rest: (job, key) to submit."""

        need = []
        for image_id, job in list(self.jobs.items()):
            try:
                key = self.settle_job(job)
            except ItemFailed as exc:
                self.finish(image_id, self.run.rules.failed_entry(job, exc.reason, exc.raw))
                continue
            if key is not None:
                need.append((job, key))
        return need

    def settle_job(self, job: ImageJob) -> str | None:
        """The key ``job`` must be submitted for; None when it is finished or its answer is on
        the way (``ItemFailed`` when it failed)."""
        held = job.held
        if held is not None:
            if self.book.holding(held):
                return None  # nothing to look at before its chunk is collected
            job.held = None
        key = self.settle_one(job)
        if key is None:
            return None
        if self.book.holding(key):
            self.hold(job, key)
            return None
        tries = self.book.tries(key)
        if tries > self.opts.batch_retries:
            why = self.book.last_error(key) or "no answer"
            self.book.gave_up(key)  # a later run asks it again, batch_retries times more
            self.finish(
                job.image_id, self.run.rules.failed_entry(job, f"no answer after {tries} batches: {why}")
            )
            return None
        return key

    def hold(self, job: ImageJob, key: str) -> None:
        """``job`` waits for ``key``'s answer from an open chunk."""
        job.held = key
        was = self.waiting_on.get(key)
        if was is None:
            self.waiting_on[key] = job.image_id
        elif isinstance(was, list):
            was.append(job.image_id)
        else:
            self.waiting_on[key] = [was, job.image_id]

    def waiting(self, key: str) -> list[str] | tuple[str, ...]:
        """The images that waited for ``key`` (no longer held: its chunk is collected)."""
        ids = self.waiting_on.pop(key, None)
        found = () if ids is None else (ids,) if isinstance(ids, str) else ids
        for image_id in found:
            job = self.jobs.get(image_id)
            if job is not None:
                job.held = None
        return found

    def settle_one(self, job: ImageJob, answer: tuple[str, TeachResponse] | None = None) -> str | None:
        """Parse the job's cached answers in turn (``answer``: one just collected, as ``(key,
        response)``): None once it is finished, else the key it needs."""
        while True:
            if answer is not None:  # held for this key: the job has not changed since
                key, response = answer
            else:
                key = self.run.rules.key(job)
                cached = self.run.cache.get(key)
                if cached is None:
                    return key
                response = TeachResponse.from_json(cached)
            answer = None
            paid = self.paid.pop(key, None)
            if paid is not None:
                job.usage.add(paid)
            else:
                job.usage.cached += 1
            entry = self.run.rules.settle(job, response)
            if entry is not None:
                self.finish(job.image_id, entry)
                return None

    def answered(self, key: str, response: TeachResponse) -> None:
        """The images waiting for ``key``, settled with its answer as soon as it is collected."""

        for image_id in self.waiting(key):
            job = self.jobs.get(image_id)
            if job is None:
                continue
            try:
                self.settle_one(job, (key, response))
            except ItemFailed as exc:
                self.finish(image_id, self.run.rules.failed_entry(job, exc.reason, exc.raw))

    def released(self, keys: Iterable[str]) -> None:
        """Keys of a collected chunk that got no answer: their images are looked at again."""
        for key in keys:
            self.waiting(key)

    # -- building and uploading --------------------------------------------------------------
    async def submit(self, need: list[tuple[ImageJob, str]]) -> None:
        """Chunks of the requests ``need`` asks for (asked again, after the first pass)."""
        builder = ChunkBuilder(self)
        t0 = time.perf_counter()
        try:
            for job, key in need:
                if self.stopped_by_budget:
                    break
                try:
                    request, _, _ = await self.run.requests.request_for(job.image)
                except Exception as exc:
                    self.finish(
                        job.image_id, self.run.rules.failed_entry(job, getattr(exc, "reason", str(exc)))
                    )
                    continue
                await builder.add(job, key, request)
            await builder.flush()
        finally:
            builder.discard()
            self.seconds["build"] += time.perf_counter() - t0 - builder.upload_s
            self.seconds["upload"] += builder.upload_s

    async def send(self, chunk: Chunk) -> None:
        """Submit a recorded chunk, with retries for transient errors; record its batch id."""
        failures = 0
        while True:
            try:
                batch = await self.api.submit(Path(chunk.path), chunk.chunk)
                break
            except FatalError as exc:
                hint = (
                    " (does this server have a Batch API? vLLM and other local servers do not: "
                    "use mode: batch_file, or mode: online)"
                    if exc.status == 404
                    else ""
                )
                raise StageError(
                    f"teacher '{self.opts.plugin}' refused the batch: {self.run.calls.redact(str(exc))}{hint}; "
                    f"nothing was submitted, fix this and re-run"
                ) from None
            except TeacherError as exc:
                failures += 1
                if failures > self.opts.max_retries:
                    raise StageError(
                        f"could not submit a batch: {self.run.calls.redact(str(exc))}; re-run to try again "
                        f"(recorded chunks are looked for at the provider first, never sent twice)"
                    ) from None
                await asyncio.sleep(
                    backoff_delay(
                        failures, self.opts.retry_initial_delay, self.opts.retry_max_delay, exc.retry_after
                    )
                )
        self.book.submitted(chunk.chunk, batch)

    async def recover_unrecorded(self) -> None:
        """Chunks recorded as submitting whose batch id never was (a kill at the wrong moment)."""
        for chunk in self.book.open_chunks():
            if chunk.batch is not None:
                continue
            found = await self.api.find(
                chunk.chunk,
                chunk.at - 60,
                len(chunk.keys),
                keys=set(chunk.keys),
                known=set(self.book.by_batch),
            )
            if isinstance(found, Undecided):
                self.undecided[chunk.chunk] = found.candidates
                continue
            self.undecided.pop(chunk.chunk, None)
            if found is not None:
                self.book.submitted(chunk.chunk, found)
            elif Path(chunk.path).exists():
                await self.send(chunk)
            else:  # its file is gone: nothing reached the provider from it
                self.book.collected(chunk.chunk, "lost", dict.fromkeys(chunk.keys, "batch file lost"))
                self.released(chunk.keys)

    # -- polling and collecting --------------------------------------------------------------
    async def look(self, chunks: list[Chunk]) -> list[tuple[Chunk, BatchState]]:
        out = []
        for chunk in chunks:
            try:
                out.append((chunk, await self.api.state(_batch_id(chunk))))
            except FatalError as exc:
                raise StageError(f"batch {chunk.batch}: {self.run.calls.redact(str(exc))}") from None
            except TeacherError:
                continue  # a failed look: the next round looks again
        return out

    async def collect(self, chunk: Chunk, state: BatchState) -> None:
        """A batch's answers: into one pack of the response cache (durable before the chunk is
        recorded as collected), each parsed for the images waiting for it as it arrives."""
        errors: dict[str, str] = {}
        seen: set[str] = set()
        #: each key as the book holds it: the cache's index keeps that string, not a second one
        keys = {k: k for k in chunk.keys}
        spent = 0.0
        parse_s = 0.0
        pack = self.run.cache.pack(chunk.chunk)
        try:
            async for item in self.api.results(_batch_id(chunk)):
                key = keys.get(item.custom_id)
                if key is None or key in seen:
                    continue
                seen.add(key)
                if item.response is None:
                    errors[key] = self.run.calls.redact(item.error or "no answer")
                    continue
                response, cost = self.store(pack, key, item.response)
                spent += cost
                t0 = time.perf_counter()
                self.answered(key, response)
                parse_s += time.perf_counter() - t0
        finally:
            pack.close()
            self.seconds["parse"] += parse_s
            self.seconds["collect"] -= parse_s
        for key in chunk.keys:
            if key not in seen:
                errors[key] = f"not run (batch {state.status})"
        self.budget.release(chunk.worst_usd)
        self.budget.spent += spent
        self.book.collected(chunk.chunk, state.status, errors)
        self.released(errors)
        if errors:
            self.ctx.info(f"batch {chunk.batch}: {len(errors)} of {len(keys)} requests got no answer")

    def store(self, pack: PackWriter, key: str, answer: TeachResponse) -> tuple[TeachResponse, float]:
        """One answer: into the pack at once, its cost kept for its image."""
        response = answer.cleaned()
        tokens = checked_usage(response.input_tokens, response.output_tokens)
        if tokens is None:
            self.run.calls.usage_rejected.append(
                f"{response.input_tokens!r} in, {response.output_tokens!r} out"
            )
            tokens = (0, 0)
        response.input_tokens, response.output_tokens = tokens
        pack.add(key, response.to_json())
        cost = cost_usd(self.price, *tokens)
        self.paid[key] = Usage(requests=1, input_tokens=tokens[0], output_tokens=tokens[1], cost_usd=cost)
        return response, cost

    # -- what a person sees ------------------------------------------------------------------
    def show(self, states: list[tuple[Chunk, BatchState]]) -> None:
        elapsed = int(time.monotonic() - self.started)
        counts: dict[str, int] = {}
        for _, state in states:
            for k, v in state.counts.items():
                counts[k] = counts.get(k, 0) + v
        detail = ", ".join(f"{k} {v}" for k, v in counts.items() if v)
        unsure = f", {len(self.undecided)} to tell apart" if self.undecided else ""
        self.run.show(
            self.loop,
            f"batch: {self.submitted} submitted, {len(states)} open ({detail or 'waiting'}){unsure}, "
            f"{elapsed // 60}m{elapsed % 60:02d}s",
            force=True,
        )

    def waiting_message(self, chunks: list[Chunk]) -> str:
        hint = self.api.waiting([Path(c.path) for c in chunks])
        if hint:
            return hint
        parts = []
        if chunks:
            ids = ", ".join(c.batch or c.chunk for c in chunks)
            parts.append(f"{len(chunks)} batch(es) submitted ({ids})")
        for chunk, candidates in self.undecided.items():
            parts.append(
                f"chunk {chunk} was submitted before an interruption and its batch id never recorded: "
                f"{candidates} running batch(es) of its size could be it, and only their results, once "
                f"they end, say which (it is not submitted again meanwhile)"
            )
        return (
            "; ".join(parts) + f"; `vlkd run` again collects them "
            f"(`vlkd teach batches {self.ctx.run_dir}` shows their state)"
        )


def _batch_id(chunk: Chunk) -> str:
    """The provider's id of a submitted chunk (only submitted chunks are looked at)."""
    if not chunk.batch:
        raise StageError(f"batch chunk {chunk.chunk} has no provider batch id: it was never submitted")
    return chunk.batch


class ChunkBuilder:
    """Request lines written into a chunk file as they come; the chunk recorded and submitted
    as soon as it is full (the provider's requests and bytes per batch), the rest by :meth:`flush`."""

    def __init__(self, run: BatchRun):
        self.run = run
        self.folder = run.run.cache.root / CHUNK_DIR
        self.pending: list[tuple[ImageJob, str, float]] = []
        #: images with the same bytes and prompt as one pending: one request for them all
        self.riders: list[tuple[ImageJob, str]] = []
        self.keys: set[str] = set()
        self.out: IO[bytes] | None = None
        self.tmp: Path | None = None
        self.size = 0
        self.upload_s = 0.0

    async def add(self, job: ImageJob, key: str, request: TeachRequest) -> None:
        b = self.run
        if key in self.keys:
            self.riders.append((job, key))
            return
        if b.book.holding(key):  # in a chunk sent a moment ago
            b.hold(job, key)
            return
        request.max_tokens = job.max_tokens
        est_in, est_out = b.run.teacher.estimate_tokens(request)
        worst = cost_usd(b.price, int(est_in * 1.1), max(est_out, job.max_tokens or 0))
        try:
            b.budget.reserve(worst)
        except BudgetReached:
            b.stopped_by_budget = True
            return
        data = (dumps(b.api.line(key, request)) + "\n").encode("utf-8")
        if self.out is not None and (
            len(self.pending) >= b.max_requests or self.size + len(data) > b.api.max_bytes
        ):
            await self.flush()
        if len(data) > b.api.max_bytes:
            b.budget.release(worst)
            b.finish(job.image_id, b.run.rules.failed_entry(job, "request larger than a whole batch may be"))
            return
        if self.out is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            self.tmp = self.folder / f".building-{os.getpid()}.jsonl"
            self.out = self.tmp.open("wb")
        self.out.write(data)
        self.size += len(data)
        self.pending.append((job, key, worst))
        self.keys.add(key)

    async def flush(self) -> None:
        """Record the chunk being built, submit it, and hold its images until it is collected."""
        b = self.run
        if self.out is None or self.tmp is None:
            return
        self.out.close()
        self.out = None
        chunk = f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{b.submitted:04d}"
        path = self.folder / f"{chunk}.jsonl"
        os.replace(self.tmp, path)
        b.book.submitting(
            chunk,
            path,
            [k for _, k, _ in self.pending],
            [j.image_id for j, _, _ in self.pending],
            sum(w for _, _, w in self.pending),
            b.opts.plugin,
        )
        for job, key, _ in self.pending:
            b.hold(job, key)
        for job, key in self.riders:
            b.hold(job, key)
        self.pending, self.riders, self.keys, self.size = [], [], set(), 0
        t0 = time.perf_counter()
        await b.send(b.book.chunks[chunk])
        self.upload_s += time.perf_counter() - t0
        b.submitted += 1

    def discard(self) -> None:
        """A chunk left unfinished (an error): its file is not a chunk, nothing was recorded."""
        if self.out is not None:
            self.out.close()
            self.out = None

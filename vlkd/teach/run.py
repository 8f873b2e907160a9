"""The ``teach`` stage: every image to question/answer pairs, as fast as the provider allows.

For each image not finished yet (the stage ledger says which), the run renders the prompt
(:mod:`~vlkd.teach.request`), looks the call up in the response cache, else calls the teacher
under the rate limiter and the budget, retrying transient failures with backoff
(:mod:`~vlkd.teach.calls`); then it parses the answer, asking again a bounded number of times
when it cannot (:mod:`~vlkd.teach.jobs`), and records the image's pairs, or its failure with the
raw answer, in one ledger line. A killed stage resumes without asking for a finished image
again; the cache makes sure no answer is paid for twice. :mod:`~vlkd.teach.summary` writes the
stage's files and facts; :mod:`~vlkd.teach.estimate` is ``--dry-run``.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from vlkd.core.artifacts import ImageFile, index_images
from vlkd.core.context import StageContext, Usage
from vlkd.core.drain import run_draining
from vlkd.core.errors import RunInterrupted, SkipItem, StageError, did_you_mean
from vlkd.core.itemloop import ItemLoop
from vlkd.core.records import ImageRecord
from vlkd.core.rundir import storage_fault
from vlkd.teach.cache import CacheWriter, ResponseCache
from vlkd.teach.calls import ItemFailed, Stopped, TeacherCalls, redact
from vlkd.teach.jobs import ImageJob, JobRules, hash_text
from vlkd.teach.journal import CallJournal
from vlkd.teach.limits import Budget, BudgetReached, RateLimiter, price_for
from vlkd.teach.request import RequestMaker
from vlkd.teach.summary import FAILURES_FILE, image_ids, write_summary
from vlkd.teach.teacher import FatalError, Teacher, TeachRequest, TeachResponse


def load_images(ctx: StageContext) -> ImageFile:
    """The stage's input images, each id once (a duplicate line is asked about once), of the
    categories the teacher is given (``teach.categories``); each record is read from the file
    when it is needed."""
    wanted = getattr(getattr(ctx.plugin, "options", None), "categories", None)
    others: Counter[str] = Counter()
    taught: set[str] = set()

    def keep(image: ImageRecord) -> bool:
        if wanted is None or image.category in wanted:
            taught.add(str(image.category))
            return True
        others[str(image.category)] += 1
        return False

    images = index_images(ctx.input("images"), keep)
    unmatched = [c for c in wanted or () if c not in taught]
    if unmatched:
        present = sorted({c for c in (*others, *taught) if c and c != "None"})
        raise StageError(
            "teach.categories: "
            + "; ".join(f"'{c}' matches no image{did_you_mean(c, present)}" for c in unmatched)
            + f" (the images' categories: {', '.join(present) or 'none'}); fix the recipe and run again"
        )
    if others:
        ctx.info(
            f"{sum(others.values())} images of other categories ({', '.join(sorted(others))}) are not "
            f"taught (teach.categories); experts may add their pairs in review"
        )
    return images


class TeachRun:
    """State of one teach stage run (shared by all concurrent calls)."""

    def __init__(
        self,
        ctx: StageContext,
        teacher: Teacher,
        variables: Callable[[ImageRecord], dict[str, str]] | None = None,
    ):
        self.ctx = ctx
        self.teacher = teacher
        self.opts = teacher.options
        self.pack = teacher.prompt_pack()
        self.cache = ResponseCache(ctx.cache_dir, read=not ctx.no_cache)
        self.writer = CacheWriter(self.cache)
        self.journal = CallJournal(self.cache, ctx.dir)
        self._shown = 0.0
        self.prices = {**teacher.PRICES, **{k: v.model_dump() for k, v in self.opts.prices.items()}}
        self.price = price_for(teacher.model, self.prices)
        self.secrets = teacher.secrets()
        self.calls = TeacherCalls(ctx, teacher, self.journal, self.price, self.secrets)
        #: what is sent per image (``variables``: the caller's per-image prompt values)
        self.requests = RequestMaker(
            ctx, teacher, self.pack, self.writer, self.calls.teacher_ready, variables
        )
        self.prompts = self.requests.prompts
        self.student_limits = self.requests.student_limits
        self.params = teacher.generation_params()
        if self.student_limits is not None:  # part of the cache key (the bytes sent change too)
            self.params = {**self.params, "image": ["student", *self.student_limits]}
        self.rules = JobRules(teacher, self.pack, self.params, self.secrets)
        self.stop_reason: str | None = None
        #: the workers (a first Ctrl-C cancels those not awaiting an answer)
        self.workers: list[asyncio.Task] = []
        #: when the stage began (the first request's delay is counted from it)
        self.began = time.perf_counter()
        self.began_cpu = time.process_time()

    @property
    def opts_mode(self) -> str:
        return getattr(self.opts, "mode", "online")

    def status(self) -> str:
        """What the live display shows after the bar: money, tokens, retries, 429s."""
        u = self.ctx.usage
        parts = [f"${u.cost_usd:.4f}", f"{u.input_tokens + u.output_tokens:,} tokens"]
        retries = sum(self.calls.retries.values())
        if retries:
            parts.append(f"{retries} retries")
        if self.calls.retries.get("429"):
            parts.append(f"{self.calls.retries['429']}× 429")
        if u.cached:
            parts.append(f"{u.cached} cached")
        return " · ".join(parts)

    def show(self, loop: ItemLoop, extra: str = "", *, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._shown >= 0.5:
            self._shown = now
            loop.bar.update(status=self.status() + (f" · {extra}" if extra else ""))

    # -- one image's tries -----------------------------------------------------------------
    async def start_job(self, image: ImageRecord) -> tuple[ImageJob, TeachRequest]:
        request, image_hash, template_hash = await self.requests.request_for(image)
        prompt_hash = sys.intern(hash_text(request.system + "\0" + request.user)) if self.prompts else None
        template_hash = sys.intern(template_hash) if template_hash else template_hash
        category = sys.intern(image.category) if image.category else image.category
        job = ImageJob(image.id, image_hash, prompt_hash, template_hash, source=image, category=category)
        ledger = self.ctx.ledger()
        if ledger.status(image.id) == "failed":  # asked again: new tries, not the cached ones
            job.attempt = job.first_attempt = int((ledger.entry(image.id) or {}).get("attempt", 0))
        return job, request

    async def teach_one(self, image: ImageRecord, limiter: RateLimiter, budget: Budget) -> dict[str, Any]:
        """The ledger entry of one image (never raises for a per-image problem)."""
        job: ImageJob | None = None
        try:
            job, request = await self.start_job(image)
            while True:
                key = self.rules.key(job)
                cached = self.cache.get(key) if self.teacher.cacheable else None
                if cached is not None:
                    response = TeachResponse.from_json(cached)
                    job.usage.cached += 1
                else:
                    request.max_tokens = job.max_tokens
                    response = await self.calls.call(request, key, job.usage, limiter, budget)
                    if self.teacher.cacheable:
                        self.writer.later(key, response.to_json())
                entry = self.rules.settle(job, response)
                if entry is not None:
                    return entry
        except SkipItem as exc:
            return self.rules.skipped_entry(job, exc.reason)
        except ItemFailed as exc:
            return self.rules.failed_entry(job, exc.reason, exc.raw)
        except (FatalError, StageError, BudgetReached, Stopped, asyncio.CancelledError):
            raise
        except (
            Exception
        ) as exc:  # a bug in a plugin's prompt variables, say: this image fails, the rest go on
            if storage_fault(exc, self.ctx.run.run_dir.path):
                raise  # a read-only cache or a full disk: not this image's fault (vlkd run names it)
            return self.rules.failed_entry(job, f"{type(exc).__name__}: {exc}")

    # -- all images ----------------------------------------------------------------------
    def drain(self) -> bool:
        """A first Ctrl-C: send nothing more, wait for the answers in flight and record them (the
        provider charges them anyway). False where there is nothing to drain (a batch: its
        book already holds what was submitted)."""
        if self.opts_mode != "online" or not self.workers:
            return False
        calls = self.calls
        calls.draining = True
        self.stop_reason = self.stop_reason or "interrupted"
        for task in self.workers:
            if task not in calls.in_flight:
                task.cancel()  # waiting for its turn, a retry or a prompt value: nothing paid yet
        from vlkd.core.drain import AGAIN

        n = len(calls.in_flight)
        self.ctx.warn(
            f"Ctrl-C: stopping; waiting for the {n} answers in flight to record them "
            f"(at most {calls.call_limit_s:.0f} s); {AGAIN}"
            if n
            else "Ctrl-C: stopping (no answer in flight)"
        )
        return True

    def take_cut_short_answers(self) -> None:
        """The answers a ``mode: ray_llm`` run received before it was cut short, into the cache:
        in another mode they are found there, never asked (paid) again."""
        folder = self.cache.root / "batch"
        marks = ("*.canary.jsonl", "*.parts", "*.output.jsonl")
        if not folder.is_dir() or not any(any(folder.glob(m)) for m in marks):
            return
        from vlkd.distributed.ray_llm import take_cut_short_answers

        taken, notes = take_cut_short_answers(self.cache, self.teacher, self.opts.plugin)
        for note in notes:
            self.ctx.warn(note + "; their images are asked again")
        if taken:
            self.ctx.info(f"{taken} answers of a ray_llm run cut short taken from {folder}")

    def check_no_open_batches(self, loop: ItemLoop) -> None:
        """Online while batches an earlier run submitted are open: their images would be paid twice
        (the provider runs the batch all the same). Refused, before any request, saying what to do."""
        from vlkd.distributed.ray_llm import ray_chunk
        from vlkd.teach.batch_book import BatchBook

        book = BatchBook(self.cache.root)
        try:
            # a ray_llm chunk ran inside a run of vlkd's: cut short, nothing goes on answering it
            # anywhere, so asking its images again pays for nothing twice
            chunks = [
                c
                for c in book.open_chunks()
                if (not c.plugin or c.plugin == self.opts.plugin) and not ray_chunk(Path(c.path), c.batch)
            ]
        finally:
            book.close()
        todo = {key for key, _ in loop.todo} if chunks else set()
        held = {i for c in chunks for i in c.images} & todo
        if not held:
            return
        run = self.ctx.run
        again = f"vlkd run {run.recipe_path or 'RECIPE'} --run-dir {run.run_dir.path}"
        n = len([c for c in chunks if todo & set(c.images)])
        raise StageError(
            f"{len(held)} of the images to teach are in {n} open batch{'es' if n > 1 else ''} that an "
            f"earlier run submitted (mode: batch); asking them online would pay for them twice. "
            f"Collect them first: `{again} --set teach.mode=batch` (then switch back for the rest), "
            f"or cancel them with `vlkd teach cancel {run.run_dir.path}` and collect what they "
            f"finished the same way"
        )

    async def run_all(self, loop: ItemLoop, all_images: Sequence[ImageRecord], budget: Budget) -> None:
        # the teacher starts (its SDK imported in a thread, see APITeacher.start) while the
        # workers read the first images and build their requests
        started = self.calls.started = asyncio.ensure_future(self.teacher.start(self.ctx, all_images))
        with loop:
            if self.opts_mode != "online":
                try:
                    await self.calls.teacher_ready()
                    await self.run_batches(loop, budget)
                finally:
                    await self.wind_down(loop)
                return
            await self.run_online(loop, budget, started)

    async def run_batches(self, loop: ItemLoop, budget: Budget) -> None:
        from vlkd.teach.batch import BatchRun

        api = self.teacher.batch_api(self.ctx)
        if api is None:
            raise StageError(f"teacher '{self.opts.plugin}' has no mode: {self.opts_mode}; use mode: online")
        await BatchRun(self, loop, budget, api, wait=not self.ctx.run.no_wait).run_all()

    async def run_online(self, loop: ItemLoop, budget: Budget, started: asyncio.Future) -> None:
        """``concurrency`` workers take the images in turn; the first fatal error stops them all."""
        limiter = RateLimiter(self.opts.rpm, self.opts.tpm)
        queue = (image for _, image in loop.todo)
        tasks = [
            asyncio.create_task(self.worker(loop, queue, limiter, budget))
            for _ in range(min(self.opts.concurrency, len(loop.todo)))
        ]
        self.workers = tasks
        fatal: list[BaseException] = []
        try:
            await self.await_workers(tasks, fatal)
            if not fatal:
                await self.calls.teacher_ready()  # its error, even when every answer was cached
        finally:
            for t in [*tasks, started]:
                t.cancel()
            await asyncio.gather(*tasks, started, return_exceptions=True)
            await self.wind_down(loop)
        if fatal:
            first = fatal[0]
            if isinstance(first, FatalError):
                raise StageError(
                    f"teacher '{self.opts.plugin}' stopped: {redact(str(first), self.secrets)}; "
                    f"finished images are kept, fix this and re-run to go on"
                ) from None
            raise first

    async def worker(
        self, loop: ItemLoop, queue: Iterator[ImageRecord], limiter: RateLimiter, budget: Budget
    ) -> None:
        """One worker: the next image of the shared queue, until none is left or the run stops."""
        for image in queue:
            if self.stop_reason:
                return
            try:
                entry = await self.teach_one(image, limiter, budget)
            except BudgetReached:
                self.stop_reason = self.stop_reason or "budget"
                return
            except Stopped:
                return
            extra = {k: v for k, v in entry.items() if k not in ("status", "records", "reason")}
            try:
                loop.finish(image.id, entry["status"], entry["records"], entry.get("reason"), **extra)
            except StageError:
                self.stop_reason = "failed"
                raise
            self.show(loop)

    async def await_workers(self, tasks: list[asyncio.Task], fatal: list[BaseException]) -> None:
        """Every worker to its end; a fatal error (or a stage error) cancels the others."""
        for fut in asyncio.as_completed(tasks):
            try:
                await fut
            except (FatalError, StageError) as exc:
                self.stop_reason = self.stop_reason or "fatal"
                fatal.append(exc)
                for t in tasks:
                    t.cancel()
            except asyncio.CancelledError:
                me = asyncio.current_task()
                stopped_now = me is not None and me.cancelling() > 0
                if not fatal and (stopped_now or not self.calls.draining):
                    raise

    async def wind_down(self, loop: ItemLoop) -> None:
        """The stage's end, also after a failure: cache written, display final, teacher closed."""
        await self.writer.finish()
        self.show(loop, force=True)
        await self.teacher.close()
        self.journal.recover()  # requests cancelled in flight (Ctrl-C) count as possibly spent


def stage_teacher(ctx: StageContext) -> Teacher:
    teacher = ctx.plugin
    if not isinstance(teacher, Teacher):
        raise TypeError(f"{type(teacher).__name__} must subclass vlkd.teach.Teacher")
    return teacher


def run_teach(
    ctx: StageContext,
    teacher: Teacher | None = None,
    images: Sequence[ImageRecord] | None = None,
    variables: Callable[[ImageRecord], dict[str, str]] | None = None,
) -> None:
    """Teach every image. A verify check passes its own teacher, images and per-image prompt
    values, and gets the same services (its ``ctx.dir`` holds that teacher's ledger)."""
    own_stage = teacher is None  # the teach stage itself, not a verify check's teacher
    began, began_cpu = time.perf_counter(), time.process_time()
    teacher = teacher or stage_teacher(ctx)
    images = load_images(ctx) if images is None else images
    state = TeachRun(ctx, teacher, variables)
    state.began, state.began_cpu = began, began_cpu
    opts = teacher.options
    _check_price(teacher, state)
    restored = state.journal.recover()
    if restored:
        ctx.info(f"{restored} answers received before an interruption restored from the journal")
    ids = image_ids(images)
    loop = ItemLoop(
        ctx,
        images,
        keys=ids,
        key=lambda image: image.id,
        on_error=opts.on_error,
        description="teach",
        label=lambda image: image.path,
        noun="image",
        on_entry=lambda entry: ctx.usage.add(Usage.from_json(entry.get("usage"))),
    )
    budget = _budget(opts, loop, state)
    t0 = time.perf_counter()
    if loop.todo and state.opts_mode != "ray_llm" and teacher.cacheable and state.cache.read:
        state.take_cut_short_answers()
    if loop.todo and state.opts_mode == "online":
        state.check_no_open_batches(loop)
    if loop.todo:
        try:
            run_draining(state.run_all(loop, images, budget), state.drain)
        finally:
            write_summary(ctx, state, images, time.perf_counter() - t0)
    else:
        write_summary(ctx, state, images, 0.0)
    if state.stop_reason == "interrupted":  # a first Ctrl-C, the answers in flight recorded
        raise KeyboardInterrupt
    if own_stage:
        _check_failed_share(ctx, ids, opts)
    if state.stop_reason == "budget":
        left = sum(1 for i in ids if not loop.ledger.finished(i))
        raise RunInterrupted(
            f"teach.max_cost ${opts.max_cost:.4f} reached (spent ${budget.spent:.4f}); "
            f"{left} images not taught yet. Raise teach.max_cost and re-run to go on"
        )


def _check_price(teacher: Teacher, state: TeachRun) -> None:
    if (
        teacher.options.max_cost is not None
        and state.price is None
        and teacher.PRICES is not None
        and teacher.model
    ):
        raise StageError(
            f"teach.max_cost is set but model '{teacher.model}' has no price; add it: "
            f"teach.prices: {{{teacher.model}: {{input: USD_PER_1M, output: USD_PER_1M}}}}"
        )


def _budget(opts: Any, loop: ItemLoop, state: TeachRun) -> Budget:
    """``max_cost``, less what earlier, killed sessions spent, and what their unanswered
    requests may have cost."""
    spent = sum(e.get("usage", {}).get("cost_usd", 0.0) for e in loop.ledger.entries.values())
    spent += sum(e["worst_usd"] for e in state.journal.unanswered())
    return Budget(opts.max_cost, spent)


def _check_failed_share(ctx: StageContext, ids: Sequence[str], opts: Any) -> None:
    """More failed images than ``max_failed_share`` allows: the stage fails, saying how many
    (its pairs are written and kept; the next run asks the failed images again)."""
    limit = getattr(opts, "max_failed_share", None)
    ledger = ctx.ledger()
    failed = sum(1 for i in ids if ledger.status(i) == "failed")
    if limit is None or not ids or failed / len(ids) <= limit:
        return
    raise StageError(
        f"{failed} of {len(ids)} images failed ({failed / len(ids):.0%}, more than "
        f"teach.max_failed_share {limit:.0%}; reasons in {ctx.dir / FAILURES_FILE})"
        + ("; the pairs of the others are kept" if failed < len(ids) else "")
        + ": fix the cause and re-run, the failed images are asked again"
    )

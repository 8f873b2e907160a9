"""The ``teach`` stage: every image to question/answer pairs, as fast as the provider allows.

For each image not finished yet (the stage ledger says which), the driver renders the prompt,
looks the call up in the response cache, else waits for the rate limiter and the budget and
calls the teacher, retrying transient failures with backoff; then it parses the answer
(asking again a bounded number of times when it cannot) and records the image's pairs, or
its failure with the raw answer, in one ledger line. A killed stage resumes without asking
for a finished image again; the cache makes sure no answer is paid for twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import mimetypes
import statistics
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vlkd.core.artifacts import ImageFile, index_images
from vlkd.core.context import StageContext, Usage
from vlkd.core.drain import run_draining
from vlkd.core.errors import RunInterrupted, SkipItem, StageError, did_you_mean
from vlkd.core.itemloop import ItemLoop
from vlkd.core.jsonl import read_jsonl, write_jsonl_atomic
from vlkd.core.records import ImageRecord, Provenance, sha256_bytes
from vlkd.core.rundir import storage_fault
from vlkd.teach.batch import batch_price
from vlkd.teach.cache import ResponseCache, cache_key
from vlkd.teach.journal import CallJournal
from vlkd.teach.limits import (
    Budget,
    BudgetReached,
    RateLimiter,
    backoff_delay,
    checked_usage,
    cost_usd,
    price_for,
)
from vlkd.teach.pairs import build_pairs
from vlkd.teach.parsing import PAIRS_SCHEMA, Parsed, parse_csv, parse_json
from vlkd.teach.prompts import PromptSet
from vlkd.teach.teacher import (
    FatalError,
    ItemError,
    Teacher,
    TeacherError,
    TeachRequest,
    TeachResponse,
    TransientError,
    clean_text,
)

FAILURES_FILE = "failures.jsonl"
#: images listed one by one in the dry-run estimate
ESTIMATE_LINES = 10
#: an answer cut off by max_tokens is asked again with twice the limit, up to this many times it
MAX_TOKENS_GROWTH = 4
PARSE_LOG_FILE = "parse_log.jsonl"


class _Stopped(Exception):
    """A first Ctrl-C: this image's next request is not sent (its answers so far are cached)."""


class _ItemFailed(Exception):
    def __init__(self, reason: str, raw: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.raw = raw


def _redact(text: str, secrets: list[str]) -> str:
    """``text`` without secrets and with lone surrogates replaced: safe for any file or console."""
    text = clean_text(text)
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


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


@dataclass(slots=True)
class ImageJob:
    """One image on its way through its tries: which answer it needs next, what it cost so far."""

    image_id: str
    image_hash: str
    prompt_hash: str | None
    template_hash: str | None
    attempt: int = 0
    #: the attempt this session began at (a failed image asked again goes on from its last try:
    #: the answers of its earlier tries are cached, asking for them again would give the same)
    first_attempt: int = 0
    #: a larger answer limit, after an answer cut off by max_tokens
    max_tokens: int | None = None
    cut_at: int | None = None
    raw: str | None = None
    usage: Usage = field(default_factory=Usage)
    #: the image's record, or what reads it again by id (a batch keeps a job per image, and
    #: thousands of records would not keep memory flat)
    source: ImageRecord | Callable[[str], ImageRecord] | None = None

    @property
    def image(self) -> ImageRecord:
        source = self.source
        if isinstance(source, ImageRecord):
            return source
        if source is None:
            raise RuntimeError(f"image job {self.image_id} has no record")
        return source(self.image_id)


def _responder(ctx: StageContext, teacher: Teacher) -> Callable[[TeachRequest], Awaitable[TeachResponse]]:
    """A teacher that answers on this machine (``respond_sync``: OCR, rules) answers where the
    run's executor puts it (a thread here, a Ray task on a cluster); one that calls a server
    (``respond``) answers from the driver, whose limits, budget and journal it needs."""
    if type(teacher).respond is not Teacher.respond:
        return teacher.respond
    sync = teacher.respond_sync  # one bound method: the Ray executor sends the teacher once
    executor = ctx.run.executor
    return lambda request: executor.call(sync, request)


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
        #: one call to the teacher, where the run's executor puts it (see ``_responder``)
        self.respond = _responder(ctx, teacher)
        #: per-image prompt values of the caller (the questions a verify check asks again)
        self.variables = variables
        self.opts = teacher.options
        self.pack = teacher.prompt_pack()
        self.prompts = PromptSet(self.opts, self.pack) if teacher.uses_prompt else None
        self.cache = ResponseCache(ctx.cache_dir, read=not ctx.no_cache)
        self.journal = CallJournal(self.cache, ctx.dir)
        #: provider usage not believed (negative, absurd): counted at the estimate instead
        self.usage_rejected: list[str] = []
        self._shown = 0.0
        self.prices = {**teacher.PRICES, **{k: v.model_dump() for k, v in self.opts.prices.items()}}
        self.price = price_for(teacher.model, self.prices)
        self.secrets = teacher.secrets()
        #: ``image: student``: the student's (min, max) pixels, the image is sent at its size
        self.student_limits = (
            student_limits(ctx) if getattr(self.opts, "image", "original") == "student" else None
        )
        self.params = teacher.generation_params()
        if self.student_limits is not None:  # part of the cache key (the bytes sent change too)
            self.params = {**self.params, "image": ["student", *self.student_limits]}
        self.retries: Counter[str] = Counter()
        self.stop_reason: str | None = None
        self.input_scale = 1.0
        self.answers = 0
        self._cache_writer: asyncio.Future | None = None
        self._write_now: asyncio.Event | None = None
        #: when the first call went out and the last answer came back (the calls' window)
        self.first_call: float | None = None
        self.last_answer: float | None = None
        #: after a first Ctrl-C: nothing more is sent, the answers in flight are awaited
        self.draining = False
        #: the workers, and those awaiting an answer now
        self.workers: list[asyncio.Task] = []
        self.in_flight: set[asyncio.Task] = set()
        #: when the stage began, and the teacher's start (SDK import, client) while the first
        #: requests are prepared: calls wait for it, reading images does not
        self.began = time.perf_counter()
        self.started: asyncio.Future | None = None

    async def teacher_ready(self) -> None:
        """Wait for the teacher's start (and raise its error) before it is asked anything."""
        if self.started is not None:
            await self.started

    # -- one image -----------------------------------------------------------------------
    async def request_for(self, image: ImageRecord) -> tuple[TeachRequest, str, str | None]:
        """The request, the image's hash and the template hash."""
        data, mime, size = self.image_bytes(image)
        request = TeachRequest(
            image=image,
            image_bytes=data,
            mime=mime,
            output=self.opts.output,
            schema=PAIRS_SCHEMA if self.opts.output == "json" else None,
            sent_size=size,
        )
        template_hash = None
        image_hash = sha256_bytes(data)
        if self.prompts is not None:
            extra = await self.prompt_variables(request, image_hash)
            if self.variables is not None:
                extra = {**extra, **self.variables(image)}
            request.system, request.user, template_hash = self.prompts.render(image, extra)
        return request, image_hash, template_hash

    def image_bytes(self, image: ImageRecord) -> tuple[bytes, str, tuple[int, int] | None]:
        """The image as sent (its bytes, its type, its size when not the record's)."""
        try:
            data = Path(image.path).read_bytes()
        except OSError as exc:
            raise _ItemFailed(f"cannot read image: {image.path}: {exc.strerror or exc}") from None
        mime = mimetypes.guess_type(image.path)[0] or f"image/{(image.format or 'png').lower()}"
        if self.student_limits is None:
            return data, mime, None
        size = self.student_size(image.width, image.height)
        if size == (image.width, image.height):
            return data, mime, None
        from vlkd.images.decode import BadImage
        from vlkd.images.files import resized_png

        try:
            return resized_png(data, size, name=image.path), "image/png", size
        except BadImage as exc:
            raise _ItemFailed(exc.reason) from None

    def student_size(self, width: int, height: int) -> tuple[int, int]:
        """(width, height) the student's processor resizes an image to (``image: student``)."""
        _, min_pixels, max_pixels = self.student_limits or ("", 0, 0)
        try:
            return student_family(self.ctx).resize(width, height, min_pixels, max_pixels)
        except ValueError:  # an aspect ratio the student refuses: preprocess reports it
            return width, height

    async def prompt_variables(self, request: TeachRequest, image_hash: str) -> dict[str, str]:
        """The teacher's extra prompt values (OCR text...), kept in the cache: a re-run does not redo them."""
        if not self.teacher.has_prompt_variables():
            return {}
        key = cache_key(
            image_sha256=image_hash,
            prompt_hash=None,
            plugin=self.opts.plugin,
            model="prompt-variables",
            params=self.teacher.generation_params(),
        )
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        await self.teacher_ready()
        values = await self.teacher.prompt_variables(request)
        self.cache_later(key, values)
        return values

    def status(self) -> str:
        """What the live display shows after the bar: money, tokens, retries, 429s."""
        u = self.ctx.usage
        parts = [f"${u.cost_usd:.4f}", f"{u.input_tokens + u.output_tokens:,} tokens"]
        retries = sum(self.retries.values())
        if retries:
            parts.append(f"{retries} retries")
        if self.retries.get("429"):
            parts.append(f"{self.retries['429']}× 429")
        if u.cached:
            parts.append(f"{u.cached} cached")
        return " · ".join(parts)

    def show(self, loop: ItemLoop, extra: str = "", *, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._shown >= 0.5:
            self._shown = now
            loop.bar.update(status=self.status() + (f" · {extra}" if extra else ""))

    def redact(self, text: str) -> str:
        return _redact(text, self.secrets)

    def cache_later(self, key: str, value: dict[str, Any]) -> None:
        """Queue a cache entry, written in a thread with those queued in the same quarter second:
        file system calls must not hold up the calls in flight, and a thread hand-off per answer
        cost the event loop more than the write itself. Until it is written the call journal
        holds the answer (durable before this is called; a next session replays it into the
        cache), and the cache's ``get`` already returns it."""
        self.cache.queue(key, value)
        if self._cache_writer is None or self._cache_writer.done():
            self._cache_writer = asyncio.ensure_future(self._write_cache(delay=0.25))

    async def _write_cache(self, delay: float = 0.0) -> None:
        if delay:
            self._write_now = self._write_now or asyncio.Event()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._write_now.wait(), delay)
        while self.cache.queued:
            entries = list(self.cache.queued.items())
            await asyncio.to_thread(self.cache.write_queued, entries)
            for key, value in entries:
                if self.cache.queued.get(key) is value:
                    del self.cache.queued[key]

    async def finish_cache_writes(self) -> None:
        """Every queued cache entry on disk (the stage's end; also after a failure)."""
        writer = self._cache_writer
        if writer is not None and not writer.done():
            assert self._write_now is not None
            self._write_now.set()
            await asyncio.gather(writer, return_exceptions=True)
            self._write_now.clear()
        await self._write_cache()

    def parse(self, response: TeachResponse) -> Parsed:
        if response.pairs is not None:
            return Parsed(pairs=[p for p in response.pairs if p.get("question") and p.get("answer")])
        if self.opts.output == "json" or response.data is not None:
            return parse_json(response.text, response.data)
        parsed = parse_csv(response.text)
        if response.extra.get("truncated") and parsed.pairs:
            # the answer hit max_tokens: its last row may be cut in the middle of the answer
            last = parsed.pairs.pop()
            parsed.drop(0, "cut off by max_tokens", f"{last['question']},{last['answer']}")
        return parsed

    async def call(
        self, request: TeachRequest, key: str, usage: Usage, limiter: RateLimiter, budget: Budget
    ) -> TeachResponse:
        """One paid call, with rate limits, the budget and retries; journalled as it goes."""
        est_in, est_out = self.teacher.estimate_tokens(request)
        if request.max_tokens:
            est_out = max(est_out, request.max_tokens)
        # the estimate of input tokens is corrected by the worst ratio seen so far, plus 10%
        worst = cost_usd(self.price, int(est_in * self.input_scale * 1.1), est_out)
        journal = self.journal if self.teacher.cacheable else None
        failures = rate_limited = 0
        await self.teacher_ready()
        while True:
            if self.draining:
                raise _Stopped
            await limiter.acquire(est_in + est_out)
            if self.draining:
                raise _Stopped
            budget.reserve(worst)
            usage.requests += 1
            if self.first_call is None:
                self.first_call = time.perf_counter()
            seq = journal.sent(key, request.image.id, worst) if journal else ""
            try:
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for wraps each call in a Task
                async with asyncio.timeout(self.call_limit_s):
                    response = await self.in_flight_call(request)
            except FatalError:
                budget.release(worst)
                if journal:
                    journal.failed(seq)
                raise
            except ItemError as exc:
                budget.release(worst)
                if journal:
                    journal.failed(seq)
                raise _ItemFailed(_redact(str(exc), self.secrets)) from None
            except (TeacherError, TimeoutError) as exc:
                budget.release(worst)
                if isinstance(exc, TimeoutError):
                    exc = TransientError(f"no answer in {self.call_limit_s:.0f} s", kind="timeout")
                if journal:  # a timed-out request may have been run (and charged) all the same
                    journal.failed(seq, maybe_spent=exc.kind == "timeout")
                self.retries[exc.kind] += 1
                if exc.kind == "429":
                    rate_limited += 1
                    if rate_limited > self.opts.rate_limit_retries:
                        raise _ItemFailed(
                            f"still rate limited after {rate_limited} tries: "
                            f"{_redact(str(exc), self.secrets)}"
                        ) from None
                    delay = backoff_delay(
                        rate_limited,
                        self.opts.retry_initial_delay,
                        self.opts.retry_max_delay,
                        exc.retry_after,
                    )
                    limiter.pause(exc.retry_after if exc.retry_after is not None else delay)
                else:
                    failures += 1
                    if failures > self.opts.max_retries and exc.kind == "connection" and not self.answers:
                        # nothing ever answered: a server that is not running, not a bad image
                        raise FatalError(
                            f"cannot reach the teacher: {_redact(str(exc), self.secrets)} "
                            f"(is the server running? is base_url right?)"
                        ) from None
                    if failures > self.opts.max_retries:
                        raise _ItemFailed(
                            f"gave up after {failures} tries: {_redact(str(exc), self.secrets)}"
                        ) from None
                    delay = backoff_delay(
                        failures, self.opts.retry_initial_delay, self.opts.retry_max_delay, exc.retry_after
                    )
                await asyncio.sleep(delay)
                continue
            except SkipItem:
                budget.release(worst)
                if journal:
                    journal.failed(seq)
                raise
            except Exception as exc:  # a bug in the plugin: this image fails, the stage goes on
                budget.release(worst)
                if journal:
                    journal.failed(seq)
                raise _ItemFailed(
                    f"teacher error: {type(exc).__name__}: {_redact(str(exc), self.secrets)}"
                ) from None
            response.cleaned()
            tokens = checked_usage(response.input_tokens, response.output_tokens)
            if tokens is None:
                self.usage_rejected.append(f"{response.input_tokens!r} in, {response.output_tokens!r} out")
                tokens = (est_in, est_out)
            response.input_tokens, response.output_tokens = tokens
            if journal:  # durable before anything else can happen to it
                journal.answered(seq, key, response.to_json())
            self.last_answer = time.perf_counter()
            self.answers += 1
            limiter.answered()
            if est_in:
                self.input_scale = max(self.input_scale, min(response.input_tokens / est_in, 100.0))
            cost = cost_usd(self.price, response.input_tokens, response.output_tokens)
            budget.commit(worst, cost)
            limiter.settle(est_in + est_out, response.input_tokens + response.output_tokens)
            usage.input_tokens += response.input_tokens
            usage.output_tokens += response.output_tokens
            usage.cost_usd += cost
            return response

    async def in_flight_call(self, request: TeachRequest) -> TeachResponse:
        """The teacher's answer; meanwhile this worker is one a first Ctrl-C waits for."""
        me = asyncio.current_task()
        assert me is not None
        self.in_flight.add(me)
        try:
            return await self.respond(request)
        finally:
            self.in_flight.discard(me)

    # -- one image's tries -----------------------------------------------------------------
    async def start_job(self, image: ImageRecord) -> tuple[ImageJob, TeachRequest]:
        request, image_hash, template_hash = await self.request_for(image)
        prompt_hash = sys.intern(_hash_text(request.system + "\0" + request.user)) if self.prompts else None
        template_hash = sys.intern(template_hash) if template_hash else template_hash
        job = ImageJob(image.id, image_hash, prompt_hash, template_hash, source=image)
        ledger = self.ctx.ledger()
        if ledger.status(image.id) == "failed":  # asked again: new tries, not the cached ones
            job.attempt = job.first_attempt = int((ledger.entry(image.id) or {}).get("attempt", 0))
        return job, request

    def key(self, job: ImageJob) -> str:
        """The cache key of the answer ``job`` needs next (the same online and in a batch)."""
        params = self.params
        if job.max_tokens is not None:
            params = {**params, "max_tokens": job.max_tokens}
        return cache_key(
            image_sha256=job.image_hash,
            prompt_hash=job.prompt_hash,
            plugin=self.opts.plugin,
            model=self.teacher.model,
            params=params,
            attempt=job.attempt,
        )

    def settle(self, job: ImageJob, response: TeachResponse) -> dict[str, Any] | None:
        """The image's ledger entry once ``response`` gives pairs; None when it must be asked again
        (``job`` then names the next try); ``_ItemFailed`` when no try is left."""
        job.raw = response.text if response.text else None
        parsed = self.parse(response)
        if parsed.pairs:
            return self.ok_entry(job, parsed, response)
        limit = getattr(self.opts, "max_tokens", None)
        job.cut_at = None
        if response.extra.get("truncated") and limit:
            # cut off before any pair was whole: ask again with room for the answer (bounded)
            job.cut_at = job.max_tokens or limit
            job.max_tokens = min(job.cut_at * 2, limit * MAX_TOKENS_GROWTH)
        job.attempt += 1
        if job.attempt - job.first_attempt <= self.opts.parse_retries:
            return None
        tries = self.opts.parse_retries + 1
        if job.cut_at is not None:
            raise _ItemFailed(
                f"answer cut off at max_tokens {job.cut_at} after {tries} tries "
                f"(raise teach.max_tokens, or ask for fewer pairs)",
                job.raw,
            )
        why = parsed.dropped[0]["reason"] if parsed.dropped else "no pairs in the answer"
        raise _ItemFailed(f"unparsable answer after {tries} tries: {why}", job.raw)

    def ok_entry(self, job: ImageJob, parsed: Parsed, response: TeachResponse) -> dict[str, Any]:
        provenance = Provenance(
            plugin=self.opts.plugin, model=response.model or self.teacher.model, prompt_hash=job.template_hash
        )
        records, neg_dropped = build_pairs(
            parsed.pairs,
            job.image,
            negative_answer=self.opts.negative_answer,
            negative_ratio=self.opts.negative_ratio,
            provenance=provenance,
            negative_aliases=self.pack.negative_aliases if self.pack else (),
        )
        return {
            "status": "ok",
            "records": records,
            "pairs": len(records),
            "negatives": sum(1 for r in records if r["negative"]),
            "negatives_dropped": neg_dropped,
            "dropped": parsed.dropped,
            "usage": job.usage.to_json(),
        }

    def failed_entry(self, job: ImageJob | None, reason: str, raw: str | None = None) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "status": "failed",
            "records": [],
            "reason": _redact(reason, self.secrets),
            "usage": (job.usage if job else Usage()).to_json(),
        }
        raw = raw if raw is not None else (job.raw if job else None)
        if job is not None and job.attempt:
            entry["attempt"] = job.attempt  # where a retry of this image goes on
        if raw is not None:
            entry["raw"] = _redact(raw, self.secrets)
        return entry

    async def teach_one(self, image: ImageRecord, limiter: RateLimiter, budget: Budget) -> dict[str, Any]:
        """The ledger entry of one image (never raises for a per-image problem)."""
        job: ImageJob | None = None
        try:
            job, request = await self.start_job(image)
            while True:
                key = self.key(job)
                cached = self.cache.get(key) if self.teacher.cacheable else None
                if cached is not None:
                    response = TeachResponse.from_json(cached)
                    job.usage.cached += 1
                else:
                    request.max_tokens = job.max_tokens
                    response = await self.call(request, key, job.usage, limiter, budget)
                    if self.teacher.cacheable:
                        self.cache_later(key, response.to_json())
                entry = self.settle(job, response)
                if entry is not None:
                    return entry
        except SkipItem as exc:
            return {
                "status": "skipped",
                "records": [],
                "reason": _redact(exc.reason, self.secrets),
                "usage": (job.usage if job else Usage()).to_json(),
            }
        except _ItemFailed as exc:
            return self.failed_entry(job, exc.reason, exc.raw)
        except (FatalError, StageError, BudgetReached, _Stopped, asyncio.CancelledError):
            raise
        except (
            Exception
        ) as exc:  # a bug in a plugin's prompt variables, say: this image fails, the rest go on
            if storage_fault(exc, self.ctx.run.run_dir.path):
                raise  # a read-only cache or a full disk: not this image's fault (vlkd run names it)
            return self.failed_entry(job, f"{type(exc).__name__}: {exc}")

    # -- all images ----------------------------------------------------------------------
    @property
    def call_limit_s(self) -> float:
        """The longest one call is awaited (the teacher's own timeout, plus room for its retries)."""
        return float(self.opts.timeout) + 30

    def drain(self) -> bool:
        """A first Ctrl-C: send nothing more, wait for the answers in flight and record them (the
        provider charges them anyway). False where there is nothing to drain (a batch: its
        book already holds what was submitted)."""
        if self.opts_mode != "online" or not self.workers:
            return False
        self.draining = True
        self.stop_reason = self.stop_reason or "interrupted"
        for task in self.workers:
            if task not in self.in_flight:
                task.cancel()  # waiting for its turn, a retry or a prompt value: nothing paid yet
        from vlkd.core.drain import AGAIN

        n = len(self.in_flight)
        self.ctx.warn(
            f"Ctrl-C: stopping; waiting for the {n} answers in flight to record them "
            f"(at most {self.call_limit_s:.0f} s); {AGAIN}"
            if n
            else "Ctrl-C: stopping (no answer in flight)"
        )
        return True

    @property
    def opts_mode(self) -> str:
        return getattr(self.opts, "mode", "online")

    async def run_batches(self, loop: ItemLoop, budget: Budget) -> None:
        from vlkd.teach.batch import BatchRun

        api = self.teacher.batch_api(self.ctx)
        if api is None:
            raise StageError(f"teacher '{self.opts.plugin}' has no mode: {self.opts_mode}; use mode: online")
        await BatchRun(self, loop, budget, api, wait=not self.ctx.run.no_wait).run_all()

    def check_no_open_batches(self, loop: ItemLoop) -> None:
        """Online while batches an earlier run submitted are open: their images would be paid twice
        (the provider runs the batch all the same). Refused, before any request, saying what to do."""
        from vlkd.teach.batch_book import BatchBook

        book = BatchBook(self.cache.root)
        try:
            # a ray_llm chunk ("ray:" ids) ran inside a run of vlkd's: cut short, nothing goes on
            # answering it anywhere, so asking its images again pays for nothing twice
            chunks = [
                c
                for c in book.open_chunks()
                if (not c.plugin or c.plugin == self.opts.plugin) and not (c.batch or "").startswith("ray:")
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
        ctx = self.ctx
        limiter = RateLimiter(self.opts.rpm, self.opts.tpm)
        queue = (image for _, image in loop.todo)
        # the teacher starts (its SDK imported in a thread, see APITeacher.start) while the
        # workers read the first images and build their requests
        started = self.started = asyncio.ensure_future(self.teacher.start(ctx, all_images))
        fatal: list[BaseException] = []

        with loop:
            if self.opts_mode != "online":
                try:
                    await self.teacher_ready()
                    await self.run_batches(loop, budget)
                finally:
                    await self.finish_cache_writes()
                    self.show(loop, force=True)
                    await self.teacher.close()
                    self.journal.recover()
                return

            async def worker() -> None:
                for image in queue:
                    if self.stop_reason:
                        return
                    try:
                        entry = await self.teach_one(image, limiter, budget)
                    except BudgetReached:
                        self.stop_reason = self.stop_reason or "budget"
                        return
                    except _Stopped:
                        return
                    extra = {k: v for k, v in entry.items() if k not in ("status", "records", "reason")}
                    try:
                        loop.finish(image.id, entry["status"], entry["records"], entry.get("reason"), **extra)
                    except StageError:
                        self.stop_reason = "failed"
                        raise
                    self.show(loop)

            tasks = [asyncio.create_task(worker()) for _ in range(min(self.opts.concurrency, len(loop.todo)))]
            self.workers = tasks
            try:
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
                        if not fatal and (stopped_now or not self.draining):
                            raise
                if not fatal:
                    await self.teacher_ready()  # its error, even when every answer was cached
            finally:
                for t in [*tasks, started]:
                    t.cancel()
                await asyncio.gather(*tasks, started, return_exceptions=True)
                await self.finish_cache_writes()
                self.show(loop, force=True)
                await self.teacher.close()
                self.journal.recover()  # requests cancelled in flight (Ctrl-C) count as possibly spent
        if fatal:
            first = fatal[0]
            if isinstance(first, FatalError):
                raise StageError(
                    f"teacher '{self.opts.plugin}' stopped: {_redact(str(first), self.secrets)}; "
                    f"finished images are kept, fix this and re-run to go on"
                ) from None
            raise first


def student_family(ctx: StageContext) -> Any:
    """The recipe's student family; without a ``student:`` section, the seed's student (Qwen2-VL)."""
    student = getattr(ctx.run.recipe, "student", None)
    if student is not None:
        return student.family
    from vlkd.students.qwen2_vl import Qwen2VL

    return Qwen2VL()


def student_limits(ctx: StageContext) -> tuple[str, int, int]:
    """The student's (family, min_pixels, max_pixels): the recipe's ``student:`` section, else
    :func:`student_family` at LLaMA-Factory's default limits (train options hold none any more)."""
    student = getattr(ctx.run.recipe, "student", None)
    if student is not None:
        return student.family.name, student.image_min_pixels, student.image_max_pixels
    from vlkd.llamafactory.images import IMAGE_MAX_PIXELS, IMAGE_MIN_PIXELS

    return student_family(ctx).name, IMAGE_MIN_PIXELS, IMAGE_MAX_PIXELS


def _hash_text(text: str) -> str:
    return sha256_bytes(text.encode("utf-8"))[:16]


def _teacher(ctx: StageContext) -> Teacher:
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
    began = time.perf_counter()
    teacher = teacher or _teacher(ctx)
    images = load_images(ctx) if images is None else images
    state = TeachRun(ctx, teacher, variables)
    state.began = began
    opts = teacher.options
    if opts.max_cost is not None and state.price is None and teacher.PRICES is not None and teacher.model:
        raise StageError(
            f"teach.max_cost is set but model '{teacher.model}' has no price; add it: "
            f"teach.prices: {{{teacher.model}: {{input: USD_PER_1M, output: USD_PER_1M}}}}"
        )
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
    # what earlier, killed sessions spent counts against the budget too, and so does what their
    # unanswered requests may have cost
    spent = sum(e.get("usage", {}).get("cost_usd", 0.0) for e in loop.ledger.entries.values())
    spent += sum(e["worst_usd"] for e in state.journal.unanswered())
    budget = Budget(opts.max_cost, spent)
    t0 = time.perf_counter()
    if loop.todo and state.opts_mode == "online":
        state.check_no_open_batches(loop)
    if loop.todo:
        try:
            run_draining(state.run_all(loop, images, budget), state.drain)
        finally:
            _finish(ctx, state, images, time.perf_counter() - t0)
    else:
        _finish(ctx, state, images, 0.0)
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


def image_ids(images: Sequence[ImageRecord]) -> list[str]:
    """The images' ids, in order (an :class:`ImageFile` has them without reading its records)."""
    return images.ids if isinstance(images, ImageFile) else [i.id for i in images]


def _finish(ctx: StageContext, state: TeachRun, images: Sequence[ImageRecord], seconds: float) -> None:
    """Write pairs.jsonl, failures.jsonl and the parse log from the ledger; fill the stage facts.

    One pass over the ledger's entries, each read from its file and written out as it comes:
    nothing here grows with the number of images but the per-image pair counts."""
    ledger = ctx.ledger()
    ids = image_ids(images)
    failures: list[dict[str, Any]] = []
    dropped: list[dict[str, Any]] = []
    per_image: list[int] = []
    negatives = neg_dropped = 0

    def pairs_of_ok_entries() -> Iterator[dict[str, Any]]:
        nonlocal negatives, neg_dropped
        for i, key in enumerate(ids):
            status = ledger.status(key)
            if status is None or status == "skipped":
                continue
            entry = ledger.entry(key) or {}
            if status == "failed":
                failures.append(
                    {
                        "image_id": key,
                        "path": images[i].path,
                        "reason": entry.get("reason"),
                        "raw": entry.get("raw"),
                    }
                )
                continue
            per_image.append(entry.get("pairs", len(entry["records"])))
            negatives += entry.get("negatives", 0)
            neg_dropped += entry.get("negatives_dropped", 0)
            dropped.extend({"image_id": key, **d} for d in entry.get("dropped", ()))
            yield from entry["records"]

    n_pairs = write_jsonl_atomic(ctx.output("pairs"), pairs_of_ok_entries())
    unanswered = state.journal.unanswered()
    ctx.usage.unanswered = len(unanswered)
    ctx.usage.unanswered_cost_usd = sum(e["worst_usd"] for e in unanswered)
    if unanswered:
        ctx.warn(
            f"{len(unanswered)} requests were sent but never answered (an interruption, a timeout): "
            f"the provider may have charged up to ${ctx.usage.unanswered_cost_usd:.4f} for them, "
            f"counted against max_cost (list in {state.journal.unanswered_path})"
        )
    if state.usage_rejected:
        facts_usage = state.usage_rejected
        ctx.warn(
            f"{len(facts_usage)} answers reported impossible token usage ({facts_usage[0]}); "
            f"counted at the estimate instead"
        )
    write_jsonl_atomic(ctx.dir / FAILURES_FILE, failures)
    write_jsonl_atomic(ctx.dir / PARSE_LOG_FILE, dropped)
    if dropped:
        ctx.info(f"{len(dropped)} unreadable answer rows dropped (reasons in {ctx.dir / PARSE_LOG_FILE})")
    if failures:
        ctx.warn(f"{len(failures)} images failed (reasons and raw answers in {ctx.dir / FAILURES_FILE})")
    facts: dict[str, Any] = {
        "images": len(images),
        "pairs": n_pairs,
        "positives": n_pairs - negatives,
        "negatives": negatives,
        "negative_share": round(negatives / n_pairs, 4) if n_pairs else 0.0,
        "pairs_per_image": {
            "min": min(per_image),
            "mean": round(statistics.mean(per_image), 2),
            "max": max(per_image),
        }
        if per_image
        else None,
        "failed_images": len(failures),
        "rows_dropped": len(dropped),
    }
    if neg_dropped:
        facts["negatives_dropped_for_ratio"] = neg_dropped
    if state.retries:
        facts["retries"] = dict(state.retries)
    if state.usage_rejected:
        facts["usage_rejected"] = {"answers": len(state.usage_rejected), "first": state.usage_rejected[0]}
    if state.teacher.model:
        facts["model"] = state.teacher.model
        if state.price is None and ctx.usage.requests:
            ctx.warn(
                f"no price known for model '{state.teacher.model}': cost not counted "
                f"(add it under teach.prices)"
            )
    if seconds and ctx.usage.requests:
        facts["requests_per_s"] = round(ctx.usage.requests / seconds, 2)
    if state.first_call is not None and state.last_answer is not None:
        facts["calls_window_s"] = round(state.last_answer - state.first_call, 3)
        facts["first_request_s"] = round(state.first_call - state.began, 3)
    ctx.facts.update(facts)
    ctx.checkpoint(force=True)


def shown_name(image: ImageRecord) -> str:
    """The name a person knows an image by: its source file (and page), not the hash that names
    its preprocessed copy."""
    if not image.sources:
        return Path(image.path).name
    source = image.sources[0]
    return Path(source.path).name + (f" p.{source.page}" if source.page else "")


def estimate(
    ctx: StageContext, teacher: Teacher | None = None, images: Sequence[ImageRecord] | None = None
) -> list[str]:
    """``vlkd run --dry-run``: calls, tokens and the most it can cost, spending nothing."""
    teacher = teacher or _teacher(ctx)
    state = TeachRun(ctx, teacher)
    if images is None:
        try:
            images = load_images(ctx)
        except StageError:
            images = None
    price = state.price
    model = teacher.model or teacher.options.plugin
    if images is None:
        return [
            f"{model}: images not known until the earlier stages run; one call per image "
            f"(+ retries), ≤ {getattr(teacher.options, 'max_tokens', 0)} output tokens each"
        ]
    done = 0
    ledger_path = ctx.dir / "ledger.jsonl"
    finished = (
        {e["key"] for e in read_jsonl(ledger_path) if e.get("status") != "failed"}
        if ledger_path.exists()
        else set()
    )
    calls = cached = est_in = est_out = 0
    per_image: list[str] = []
    shrunk: list[str] = []
    for image in images:
        if image.id in finished:
            done += 1
            continue
        request = TeachRequest(image=image, image_bytes=b"", mime="image/png", output=teacher.options.output)
        if state.student_limits is not None:
            request.sent_size = state.student_size(image.width, image.height)
        if state.prompts is not None:
            request.system, request.user, _ = state.prompts.render(image)
            if teacher.cacheable and not ctx.no_cache and Path(image.path).exists():
                try:
                    data, _, _ = state.image_bytes(image)
                except _ItemFailed:
                    data = b""
                key = cache_key(
                    image_sha256=sha256_bytes(data),
                    prompt_hash=_hash_text(request.system + "\0" + request.user),
                    plugin=teacher.options.plugin,
                    model=teacher.model,
                    params=state.params,
                )
                if state.cache.has(key):
                    cached += 1
                    continue
        calls += 1
        i, o = teacher.estimate_tokens(request)
        est_in += i
        est_out += o
        w, h = request.size
        image_in, scaled = teacher.image_tokens(w, h)
        name = shown_name(image)
        if scaled is not None:
            shrunk.append(f"{name} {w}×{h} → {scaled[0]}×{scaled[1]}")
        if len(per_image) < ESTIMATE_LINES:
            per_image.append(f"  {name}: {w}×{h}, ~{i:,} in ({image_in:,} image), ≤ {o:,} out")
    mode = getattr(teacher.options, "mode", "online")
    price = batch_price(price) if mode == "batch" else price
    cost = cost_usd(price, est_in, est_out)
    lines = [f"{model}: {len(images)} images: {done} done, {cached} cached, {calls} calls to make"]
    if not (est_in or est_out):
        return [lines[0] + " (offline: no tokens, no cost)"]
    lines += per_image
    if calls > len(per_image):
        lines.append(f"  ... and {calls - len(per_image)} more")
    lines.append(f"tokens: ~{est_in:,} in, ≤ {est_out:,} out")
    if shrunk:
        lines.append(
            f"the provider will scale down {len(shrunk)} images (send them smaller, or use image: student): "
            + "; ".join(shrunk[:5])
            + (f"; ... {len(shrunk) - 5} more" if len(shrunk) > 5 else "")
        )
    if price is not None:
        unanswered = sum(e["worst_usd"] for e in state.journal.unanswered())
        lines.append(
            f"cost: ≤ ${cost:.4f} (at ${price['input']:g}/${price['output']:g} per 1M tokens"
            + (", batch price: half of list" if mode == "batch" else "")
            + ")"
            + (f"; possibly spent already by unanswered requests: ≤ ${unanswered:.4f}" if unanswered else "")
            + (f"; max_cost ${teacher.options.max_cost}" if teacher.options.max_cost is not None else "")
        )
    elif teacher.model:
        lines.append(f"cost: unknown (no price for '{teacher.model}'; add it under teach.prices)")
    return lines

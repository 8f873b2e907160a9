"""One call to the teacher: its turn under the rate limits, its reservation of money and its line
in the journal, its retries.

A request holds a :class:`Reservation` from before it is sent until its answer is recorded: its
worst cost is held in the budget (so concurrent calls never overrun ``max_cost``) and the call
journal has it as sent (so a kill in between counts it as possibly spent). Whatever error ends
the call, leaving the reservation gives the money back and tells the journal, in one place.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import TYPE_CHECKING

from vlkd.core.errors import SkipItem
from vlkd.teach.limits import Budget, RateLimiter, backoff_delay, checked_usage, cost_usd
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

if TYPE_CHECKING:
    from vlkd.core.context import StageContext, Usage
    from vlkd.teach.journal import CallJournal


class Stopped(Exception):
    """A first Ctrl-C: this image's next request is not sent (its answers so far are cached)."""


class ItemFailed(Exception):
    """This image fails with ``reason`` (and the raw answer, when there was one); the others go on."""

    def __init__(self, reason: str, raw: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.raw = raw


def redact(text: str, secrets: list[str]) -> str:
    """``text`` without secrets and with lone surrogates replaced: safe for any file or console."""
    text = clean_text(text)
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


def responder(ctx: StageContext, teacher: Teacher) -> Callable[[TeachRequest], Awaitable[TeachResponse]]:
    """A teacher that answers on this machine (``respond_sync``: OCR, rules) answers where the
    run's executor puts it (a thread here, a Ray task on a cluster); one that calls a server
    (``respond``) answers from the driver, whose limits, budget and journal it needs."""
    if type(teacher).respond is not Teacher.respond:
        return teacher.respond
    sync = teacher.respond_sync  # one bound method: the Ray executor sends the teacher once
    executor = ctx.run.executor
    return lambda request: executor.call(sync, request)


class Reservation:
    """One request's hold on the budget and its line in the call journal (``with``).

    Entering reserves the worst cost (:class:`~vlkd.teach.limits.BudgetReached` when it does not
    fit) and journals the request as sent; :meth:`answered` records the answer (durable first) and
    spends its real cost. Leaving with an error before that releases the money and journals the
    call as failed (possibly spent, for a timeout: the provider may have run it). A cancellation
    (Ctrl-C, a fatal error elsewhere) leaves both as they are: the journal's replay counts the
    request as possibly spent.
    """

    def __init__(self, budget: Budget, worst: float, journal: CallJournal | None, key: str, image_id: str):
        self.budget = budget
        self.worst = worst
        self.journal = journal
        self.key = key
        self.image_id = image_id
        self.seq = ""
        self.settled = False

    def __enter__(self) -> Reservation:
        self.budget.reserve(self.worst)
        if self.journal is not None:
            self.seq = self.journal.sent(self.key, self.image_id, self.worst)
        return self

    def answered(self, response: TeachResponse, cost: float) -> None:
        if self.journal is not None:  # durable before anything else can happen to it
            self.journal.answered(self.seq, self.key, response.to_json())
        self.budget.commit(self.worst, cost)
        self.settled = True

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.settled or not isinstance(exc, Exception):
            return
        self.budget.release(self.worst)
        if self.journal is not None:
            self.journal.failed(self.seq, maybe_spent=_maybe_spent(exc))


def _maybe_spent(exc: Exception) -> bool:
    """A timed-out request may have been run (and charged) all the same."""
    return isinstance(exc, TeacherError) and not isinstance(exc, FatalError) and exc.kind == "timeout"


class TeacherCalls:
    """The stage's calls to its teacher, shared by its concurrent workers: what they learnt
    (the input-token ratio, retries by kind, answers, the calls' window) and Ctrl-C's drain."""

    def __init__(
        self,
        ctx: StageContext,
        teacher: Teacher,
        journal: CallJournal,
        price: dict[str, float] | None,
        secrets: list[str],
    ):
        self.teacher = teacher
        self.opts = teacher.options
        #: one call to the teacher, where the run's executor puts it (see :func:`responder`)
        self.respond = responder(ctx, teacher)
        self.journal = journal
        self.price = price
        self.secrets = secrets
        self.retries: Counter[str] = Counter()
        #: provider usage not believed (negative, absurd): counted at the estimate instead
        self.usage_rejected: list[str] = []
        self.input_scale = 1.0
        self.answers = 0
        #: when the first call went out and the last answer came back (the calls' window)
        self.first_call: float | None = None
        #: the process's CPU seconds (all its threads, from its start) when the first call went out
        self.first_call_cpu: float | None = None
        self.last_answer: float | None = None
        #: after a first Ctrl-C: nothing more is sent, the answers in flight are awaited
        self.draining = False
        #: the workers awaiting an answer now
        self.in_flight: set[asyncio.Task] = set()
        #: the teacher's start (SDK import, client): calls wait for it, reading images does not
        self.started: asyncio.Future | None = None

    @property
    def call_limit_s(self) -> float:
        """The longest one call is awaited (the teacher's own timeout, plus room for its retries)."""
        return float(self.opts.timeout) + 30

    async def teacher_ready(self) -> None:
        """Wait for the teacher's start (and raise its error) before it is asked anything."""
        if self.started is not None:
            await self.started

    def redact(self, text: str) -> str:
        return redact(text, self.secrets)

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
        tries: Counter[str] = Counter()
        await self.teacher_ready()
        while True:
            await self.turn(limiter, est_in + est_out)
            try:
                with Reservation(budget, worst, journal, key, request.image.id) as held:
                    usage.requests += 1
                    if self.first_call is None:
                        self.first_call, self.first_call_cpu = time.perf_counter(), time.process_time()
                    response = await self.ask(request)
                    self.record(response, held, (est_in, est_out), usage, limiter)
                    return response
            except FatalError:
                raise
            except TeacherError as exc:  # worth another try, after a pause
                await asyncio.sleep(self.retry_delay(exc, tries, limiter))

    async def turn(self, limiter: RateLimiter, tokens: int) -> None:
        """This call's turn under the rate limits; :class:`Stopped` after a first Ctrl-C."""
        if self.draining:
            raise Stopped
        await limiter.acquire(tokens)
        if self.draining:
            raise Stopped

    async def ask(self, request: TeachRequest) -> TeachResponse:
        """The teacher's answer within :attr:`call_limit_s`. A failure comes out as what happens
        next: :class:`FatalError` stops the stage, :class:`ItemFailed` fails the image (the
        teacher's :class:`ItemError`, or a bug in it), ``SkipItem`` skips it, any other
        :class:`TeacherError` (a timeout included) is tried again."""
        try:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for wraps each call in a Task
            async with asyncio.timeout(self.call_limit_s):
                return await self.in_flight_call(request)
        except (FatalError, SkipItem):
            raise
        except ItemError as exc:
            raise ItemFailed(self.redact(str(exc))) from None
        except TeacherError:
            raise
        except TimeoutError:
            raise TransientError(f"no answer in {self.call_limit_s:.0f} s", kind="timeout") from None
        except Exception as exc:  # a bug in the plugin: this image fails, the stage goes on
            raise ItemFailed(f"teacher error: {type(exc).__name__}: {self.redact(str(exc))}") from None

    async def in_flight_call(self, request: TeachRequest) -> TeachResponse:
        """The teacher's answer; meanwhile this worker is one a first Ctrl-C waits for."""
        me = asyncio.current_task()
        assert me is not None
        self.in_flight.add(me)
        try:
            return await self.respond(request)
        finally:
            self.in_flight.discard(me)

    def record(
        self,
        response: TeachResponse,
        held: Reservation,
        estimate: tuple[int, int],
        usage: Usage,
        limiter: RateLimiter,
    ) -> None:
        """An answer arrived: journalled, its real tokens and cost counted (the provider's
        counts when believable, else the estimate), the limiter and the input ratio corrected."""
        est_in, est_out = estimate
        response.cleaned()
        tokens = checked_usage(response.input_tokens, response.output_tokens)
        if tokens is None:
            self.usage_rejected.append(f"{response.input_tokens!r} in, {response.output_tokens!r} out")
            tokens = (est_in, est_out)
        response.input_tokens, response.output_tokens = tokens
        cost = cost_usd(self.price, response.input_tokens, response.output_tokens)
        held.answered(response, cost)
        self.last_answer = time.perf_counter()
        self.answers += 1
        limiter.answered()
        if est_in:
            self.input_scale = max(self.input_scale, min(response.input_tokens / est_in, 100.0))
        limiter.settle(est_in + est_out, response.input_tokens + response.output_tokens)
        usage.input_tokens += response.input_tokens
        usage.output_tokens += response.output_tokens
        usage.cost_usd += cost

    def retry_delay(self, exc: TeacherError, tries: Counter[str], limiter: RateLimiter) -> float:
        """Seconds to wait before trying again (a 429 pauses every call); :class:`ItemFailed`
        when this image has no try left, :class:`FatalError` when nothing ever answered."""
        opts = self.opts
        self.retries[exc.kind] += 1
        if exc.kind == "429":
            tries["429"] += 1
            if tries["429"] > opts.rate_limit_retries:
                raise ItemFailed(
                    f"still rate limited after {tries['429']} tries: {self.redact(str(exc))}"
                ) from None
            delay = backoff_delay(
                tries["429"], opts.retry_initial_delay, opts.retry_max_delay, exc.retry_after
            )
            limiter.pause(exc.retry_after if exc.retry_after is not None else delay)
            return delay
        tries["other"] += 1
        failures = tries["other"]
        if failures > opts.max_retries and exc.kind == "connection" and not self.answers:
            # nothing ever answered: a server that is not running, not a bad image
            raise FatalError(
                f"cannot reach the teacher: {self.redact(str(exc))} (is the server running? is base_url right?)"
            ) from None
        if failures > opts.max_retries:
            raise ItemFailed(f"gave up after {failures} tries: {self.redact(str(exc))}") from None
        return backoff_delay(failures, opts.retry_initial_delay, opts.retry_max_delay, exc.retry_after)

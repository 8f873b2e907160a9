"""Rate limits, backoff and the money budget, shared by all calls of a teach stage."""

from __future__ import annotations

import asyncio
import collections
import random
import time
from collections.abc import Awaitable, Callable


class RateLimiter:
    """Paces calls to ``rpm`` requests and ``tpm`` tokens per minute, and pauses everyone on a 429.

    Calls are admitted one at a time in arrival order. Requests come from a bucket that refills
    at ``rpm`` and holds :attr:`burst` of them (half a second's allowance, at least one): calls
    are spaced evenly, and time lost to a late wake-up is made up by the next calls, up to the
    burst, instead of being lost for good. Making up is paced too (calls at least half an
    interval apart), so a server that refills continuously (as providers do, typically holding
    a second's allowance) sees neither more than the limit nor a burst. Tokens come from a bucket holding one minute's allowance. After a 429,
    :meth:`pause` holds every call until the server's ``Retry-After`` has passed, so that
    waiting calls do not all retry at once.

    Without ``rpm``, the first 429 turns on pacing learnt from the server: calls are spaced at
    10% faster than the rate of answers of the last 30 s, so the server's limit is probed, not
    hammered (OpenAI counts refused requests against the limit too).

    ``clock`` and ``sleep`` are the time source and the wait (``time.monotonic`` and
    ``asyncio.sleep``); tests pass a simulated pair.
    """

    LEARN_WINDOW = 30.0

    def __init__(
        self,
        rpm: float | None = None,
        tpm: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ):
        self.interval = 60.0 / rpm if rpm else 0.0
        #: requests the bucket holds: half a second's allowance, at least one
        self.burst = max(1.0, (rpm or 0) / 120)
        self.learn = not rpm
        self._clock, self._sleep = clock, sleep
        self._limited = False
        self._answers: collections.deque[float] = collections.deque()
        self.tpm = tpm
        self._tokens = float(tpm or 0)
        self._refilled = clock()
        self._next = float("-inf")
        self._last = float("-inf")
        self._paused_until = 0.0
        self._lock = asyncio.Lock()

    def _refill(self, now: float) -> None:
        if self.tpm:
            self._tokens = min(self.tpm, self._tokens + (now - self._refilled) * self.tpm / 60.0)
        self._refilled = now

    def _token_wait(self, tokens: int) -> float:
        if not self.tpm:
            return 0.0
        need = min(tokens, self.tpm)  # a call larger than a minute's allowance waits for a full bucket
        return 0.0 if self._tokens >= need else (need - self._tokens) * 60.0 / self.tpm

    async def acquire(self, tokens: int = 0) -> None:
        async with self._lock:
            while True:
                now = self._clock()
                self._refill(now)
                wait = max(
                    self._paused_until - now,
                    self._next - now,
                    self._last + self.interval / 2 - now,
                    self._token_wait(tokens),
                )
                if wait <= 1e-9:  # not a float's rounding away
                    break
                await self._sleep(wait)
            spacing = self._spacing(now)
            # ``_next`` is when the bucket holds one request again: at most ``burst - 1``
            # spacings of credit carry over from a late wake-up or an idle spell
            self._next = max(self._next, now - (self.burst - 1) * spacing) + spacing
            self._last = now
            if self.tpm:
                self._tokens -= tokens

    def _spacing(self, now: float) -> float:
        if not (self.learn and self._limited) or len(self._answers) < 5:
            return self.interval
        while self._answers and now - self._answers[0] > self.LEARN_WINDOW:
            self._answers.popleft()
        if len(self._answers) < 5:
            return self.interval
        rate = (len(self._answers) - 1) / max(1e-3, self._answers[-1] - self._answers[0])
        return 1.0 / (1.1 * rate)

    def answered(self) -> None:
        """A call was answered (not refused): feeds the learnt pacing."""
        if self.learn and self._limited:
            self._answers.append(self._clock())

    def settle(self, estimated: int, actual: int) -> None:
        """Correct the token bucket once a call's real usage is known."""
        if self.tpm:
            self._tokens = min(self.tpm, self._tokens + estimated - actual)

    def pause(self, seconds: float) -> None:
        """A 429: everyone waits ``seconds``; without ``rpm``, pacing is learnt from now on."""
        self._limited = True
        self._paused_until = max(self._paused_until, self._clock() + seconds)


def backoff_delay(attempt: int, initial: float, maximum: float, retry_after: float | None = None) -> float:
    """Exponential backoff with full jitter; a server's ``Retry-After`` is honoured (plus a little jitter)."""
    if retry_after is not None:
        return retry_after + random.uniform(0, min(1.0, 0.1 * retry_after + 0.05))
    cap = min(maximum, initial * (2 ** max(0, attempt - 1)))
    return random.uniform(cap / 2, cap)


class BudgetReached(Exception):
    """The next call could exceed ``max_cost``."""


class Budget:
    """Money spent and reserved; a call is sent only when its worst case fits in ``max_cost``."""

    def __init__(self, max_cost: float | None, spent: float = 0.0):
        self.max_cost = max_cost
        self.spent = spent
        self.reserved = 0.0

    def reserve(self, worst_case: float) -> None:
        if self.max_cost is not None and self.spent + self.reserved + worst_case > self.max_cost + 1e-12:
            raise BudgetReached()
        self.reserved += worst_case

    def commit(self, reserved: float, actual: float) -> None:
        self.reserved -= reserved
        self.spent += actual

    def release(self, reserved: float) -> None:
        self.reserved -= reserved


def price_for(model: str | None, table: dict[str, dict[str, float]]) -> dict[str, float] | None:
    """The price of ``model``: an exact entry, else the longest entry it starts with (dated snapshots)."""
    if not model:
        return None
    if model in table:
        return table[model]
    matches = [name for name in table if model.startswith(name)]
    return table[max(matches, key=len)] if matches else None


def cost_usd(price: dict[str, float] | None, input_tokens: int, output_tokens: int) -> float:
    if price is None:
        return 0.0
    return (input_tokens * price["input"] + output_tokens * price["output"]) / 1e6


#: more tokens than any model's context holds: a provider reporting more for one call is wrong
MAX_PLAUSIBLE_TOKENS = 10_000_000


def checked_usage(input_tokens: object, output_tokens: object) -> tuple[int, int] | None:
    """The provider's token counts for one call, or None when they are not believable
    (negative, not a number, or above :data:`MAX_PLAUSIBLE_TOKENS`): then the caller counts its
    own estimate instead, and says so."""
    out = []
    for value in (input_tokens, output_tokens):
        if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
            return None
        if value < 0 or value > MAX_PLAUSIBLE_TOKENS:
            return None
        out.append(int(value))
    return out[0], out[1]

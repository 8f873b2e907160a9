"""The rate limiter's pacing on a simulated clock: late wake-ups are made up, the limit never passed.

Every wait wakes late (as on a loaded machine); a server's token bucket (one second's
allowance, refilled continuously, as the fake provider and real providers keep it) checks each
request. Deterministic: no real time passes.
"""

from __future__ import annotations

import asyncio
import itertools
import random

import pytest

from vlkd.teach.limits import RateLimiter


class SimulatedTime:
    """A clock whose sleeps wake up late by a random share of the wait, up to ``lateness``."""

    def __init__(self, lateness: float, seed: int = 0):
        self.now = 1000.0
        self.lateness = lateness
        self.rng = random.Random(seed)

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds + self.rng.uniform(0, self.lateness)
        await asyncio.sleep(0)


def server_refusals(times: list[float], rpm: float, burst: float) -> int:
    """How many of these request times a token-bucket server (``burst`` held) would answer 429."""
    rate, tokens, last, refused = rpm / 60, burst, times[0], 0
    for t in times:
        tokens = min(burst, tokens + (t - last) * rate)
        last = t
        if tokens >= 1:
            tokens -= 1
        else:
            refused += 1
    return refused


def busiest_minute(times: list[float]) -> int:
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while t - times[lo] >= 60.0:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def paced(rpm: float, calls: int, lateness: float, *, work: float = 0.0) -> list[float]:
    sim = SimulatedTime(lateness)
    lim = RateLimiter(rpm=rpm, clock=sim.clock, sleep=sim.sleep)

    async def go() -> list[float]:
        sent = []
        for _ in range(calls):
            await lim.acquire()
            sent.append(sim.now)
            sim.now += work  # the caller's own work before it asks again
        return sent

    return asyncio.run(go())


@pytest.mark.parametrize("lateness", [0.0, 0.005, 0.03, 0.08])
def test_late_wake_ups_are_made_up_and_the_server_never_refuses(lateness):
    # 600/min is 100 ms apart; a wake-up up to 80 ms late used to cost up to 44% of the limit
    times = paced(600, 2400, lateness)
    assert server_refusals(times, 600, burst=10) == 0
    minute = busiest_minute(times)
    assert 594 <= minute <= 600 + 5  # >= 99% of the limit; never more than the limit and the burst
    steady = (len(times) - 1 - 5) / (times[-1] - times[5]) * 60  # after the first burst
    assert steady >= 0.99 * 600


def test_small_limits_are_spaced_without_a_burst():
    times = paced(60, 200, 0.01)  # one a second: the bucket holds one request
    assert server_refusals(times, 60, burst=1) == 0
    assert busiest_minute(times) >= 59


def test_credit_is_capped_at_the_burst_after_an_idle_spell():
    sim = SimulatedTime(0.0)
    lim = RateLimiter(rpm=600, clock=sim.clock, sleep=sim.sleep)
    assert lim.burst == 5

    async def go() -> list[float]:
        sent = []
        for i in range(40):
            if i == 20:
                sim.now += 30.0  # idle for half a minute: the bucket refills to its burst only
            await lim.acquire()
            sent.append(sim.now)
        return sent

    times = asyncio.run(go())
    gaps = [round(b - a, 6) for a, b in itertools.pairwise(times)]
    # a full bucket at the start, spent half an interval apart (it refills meanwhile), then
    # one call per interval; after the idle spell the same again, not the 300 calls of half
    # a minute at once
    assert gaps[:8] == [0.05] * 8 and gaps[8:19] == [0.1] * 11
    assert gaps[20:28] == [0.05] * 8 and gaps[28:] == [0.1] * 11
    for i, t in enumerate(times):  # never more than the burst ahead of the limit
        assert sum(1 for u in times[: i + 1] if u > t - 2.0) <= 5 + 2.0 * 10


def test_making_up_is_paced_for_a_faster_server_that_allows_no_burst():
    # the server: twice the client's rate, two at once; the client wakes up to 300 ms late
    times = paced(600, 600, 0.3)
    assert server_refusals(times, 1200, burst=2) == 0


def test_pause_holds_everyone_on_the_simulated_clock():
    sim = SimulatedTime(0.0)
    lim = RateLimiter(rpm=600, clock=sim.clock, sleep=sim.sleep)

    async def go() -> float:
        await lim.acquire()
        lim.pause(2.0)
        t0 = sim.now
        await lim.acquire()
        return sim.now - t0

    assert asyncio.run(go()) == pytest.approx(2.0)

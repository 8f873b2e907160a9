"""Core services: Retry-After, backoff, budget, prices, negatives, cache keys, error classes."""

import asyncio
import email.utils
import time

import pytest

from vlkd.core.records import ImageRecord, Provenance
from vlkd.plugins.teach.prompts import automotive_pack
from vlkd.teach.cache import ResponseCache, cache_key
from vlkd.teach.limits import Budget, BudgetReached, RateLimiter, backoff_delay, cost_usd, price_for
from vlkd.teach.pairs import build_pairs, is_negative
from vlkd.teach.teacher import FatalError, ItemError, TransientError, http_error, retry_after_seconds


def test_retry_after_forms():
    assert retry_after_seconds({"Retry-After": "3"}) == 3.0
    assert retry_after_seconds({"retry-after-ms": "250", "retry-after": "1"}) == 0.25
    date = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 <= retry_after_seconds({"retry-after": date}) <= 31
    assert retry_after_seconds({}) is None


def test_backoff_grows_is_capped_and_honours_retry_after():
    assert all(0.5 <= backoff_delay(1, 1.0, 60) <= 1.0 for _ in range(20))
    assert all(4.0 <= backoff_delay(4, 1.0, 60) <= 8.0 for _ in range(20))
    assert all(backoff_delay(20, 1.0, 60) <= 60 for _ in range(20))
    assert all(7.0 <= backoff_delay(1, 1.0, 60, retry_after=7.0) <= 8.0 for _ in range(20))


def test_http_errors_retry_or_stop_with_a_hint():
    assert isinstance(http_error(429, "slow down", headers={"retry-after": "2"}), TransientError)
    assert http_error(429, "x", headers={"retry-after": "2"}).retry_after == 2.0
    for status in (500, 502, 503, 529, 408):
        assert isinstance(http_error(status, "x"), TransientError)
    for status, hint in (
        (400, "refused"),
        (401, "OPENAI_API_KEY"),
        (403, "not allowed"),
        (404, "unknown model 'gpt-9'"),
    ):
        err = http_error(status, "x", model="gpt-9", key_env="OPENAI_API_KEY")
        assert isinstance(err, FatalError) and hint in str(err), status
    # one image that cannot fit fails alone; the stage goes on
    for status, message in (
        (413, "x"),
        (400, "This model's maximum context length is 4096 tokens. However, you requested 5000 tokens"),
        (400, "prompt is too long: 210000 tokens > 200000 maximum"),
    ):
        err = http_error(status, message)
        assert isinstance(err, ItemError) and "resize it in preprocess" in str(err), status
    assert isinstance(http_error(400, "bad temperature"), FatalError)
    assert isinstance(http_error(429, "quota", code="insufficient_quota"), FatalError)


def test_budget_never_lets_the_worst_case_exceed_max_cost():
    b = Budget(1.0, spent=0.5)
    b.reserve(0.3)
    with pytest.raises(BudgetReached):
        b.reserve(0.3)
    b.commit(0.3, 0.1)
    b.reserve(0.3)
    assert b.spent == pytest.approx(0.6)
    Budget(None).reserve(1e9)


def test_prices_exact_then_longest_prefix():
    table = {"gpt-4o": {"input": 2.5, "output": 10}, "gpt-4o-mini": {"input": 0.15, "output": 0.6}}
    assert price_for("gpt-4o-mini-2024-07-18", table)["input"] == 0.15
    assert price_for("gpt-4o-2024-08-06", table)["input"] == 2.5
    assert price_for("qwen2-vl", table) is None
    assert cost_usd(table["gpt-4o"], 1_000_000, 100_000) == pytest.approx(3.5)


def test_rate_limiter_spaces_requests_and_pauses_after_429():
    async def go():
        lim = RateLimiter(rpm=6000)  # 10 ms apart after a burst of 50
        t0 = time.monotonic()
        for _ in range(55):
            await lim.acquire()
        spaced = time.monotonic() - t0
        lim.pause(0.05)
        t1 = time.monotonic()
        await lim.acquire()
        return spaced, time.monotonic() - t1

    spaced, paused = asyncio.run(go())
    # lower bounds only: the limiter may be slower on a loaded machine, never faster
    assert spaced >= 0.04 and paused >= 0.05


def test_token_bucket_waits_for_tokens():
    async def go():
        lim = RateLimiter(tpm=6000)  # 100 tokens per second, bucket of 6000
        await lim.acquire(6000)
        t0 = time.monotonic()
        await lim.acquire(10)
        return time.monotonic() - t0

    assert asyncio.run(go()) >= 0.09


def test_negatives_recognised_normalised_and_kept_near_the_ratio():
    assert (
        is_negative("不存在。", "不存在")
        and is_negative("Not present", "不存在", automotive_pack().negative_aliases)
        and not is_negative("Not present", "不存在")
        and not is_negative("25", "不存在")
    )
    img = ImageRecord(id="i", path="/a.png", width=1, height=1, category="manual_parsing")
    rows = [{"question": f"P{i}?", "answer": str(i)} for i in range(4)] + [
        {"question": f"N{i}?", "answer": "not present"} for i in range(4)
    ]
    aliases = automotive_pack().negative_aliases
    pairs, dropped = build_pairs(
        rows,
        img,
        negative_answer="不存在",
        negative_ratio=0.2,
        provenance=Provenance(plugin="p"),
        negative_aliases=aliases,
    )
    assert dropped == 3 and sum(p["negative"] for p in pairs) == 1
    assert all(p["answer"] == "不存在" for p in pairs if p["negative"])
    assert [p["question"] for p in pairs if not p["negative"]] == ["P0?", "P1?", "P2?", "P3?"]
    assert pairs[0]["category"] == "manual_parsing" and len({p["id"] for p in pairs}) == len(pairs)
    pairs, dropped = build_pairs(
        rows,
        img,
        negative_answer="不存在",
        negative_ratio=None,
        provenance=Provenance(plugin="p"),
        negative_aliases=aliases,
    )
    assert dropped == 0 and len(pairs) == 8


def test_cache_key_depends_on_everything_but_the_key(tmp_path):
    base = dict(image_sha256="a", prompt_hash="p", plugin="openai", model="gpt-4o", params={"t": 1})
    k = cache_key(**base)
    for change in (
        {"image_sha256": "b"},
        {"prompt_hash": "q"},
        {"plugin": "x"},
        {"model": "m"},
        {"params": {"t": 0}},
        {"attempt": 1},
    ):
        assert cache_key(**{**base, **change}) != k
    cache = ResponseCache(tmp_path)
    assert cache.get(k) is None
    cache.put(k, {"text": "hi"})
    assert cache.get(k) == {"text": "hi"} and cache.has(k)
    assert ResponseCache(tmp_path, read=False).get(k) is None


def test_cache_misses_open_no_file_in_a_missing_folder(tmp_path, monkeypatch):
    """A batch run looks up every image's key before anything is cached: one failed open each
    cost more than the rest of the look-up; a missing folder is taken as missing for a moment."""
    import builtins

    import vlkd.teach.cache as cache_module

    opened = []

    def counting_open(*args, **kwargs):
        opened.append(args[0])
        return builtins.open(*args, **kwargs)

    monkeypatch.setattr(cache_module, "open", counting_open, raising=False)
    cache = ResponseCache(tmp_path)
    keys = [f"ab{i:062x}" for i in range(50)]
    assert all(cache.get(k) is None for k in keys)
    assert len(opened) == 1  # the first miss looked; the folder is missing, the others did not
    cache.put(keys[3], {"text": "mine"})  # its own write: seen at once
    assert cache.get(keys[3]) == {"text": "mine"}
    other, key = ResponseCache(tmp_path), "cd" + "0" * 62
    assert other.get(key) is None
    cache.put(key, {"text": "written by another process"})
    assert other.get(key) is None  # for a moment
    monkeypatch.setattr(cache_module, "MISSING_FOR_S", 0.0)  # the moment has passed
    assert other.get(key) == {"text": "written by another process"}


def test_pacing_learnt_after_a_429_without_rpm():
    import collections

    lim = RateLimiter()
    assert lim._spacing(100.0) == 0.0  # no 429 yet: no pacing
    lim.pause(0.0)
    lim._answers = collections.deque([100.0 + 0.1 * i for i in range(6)])  # answers at 10/s
    assert lim._spacing(100.6) == pytest.approx(1 / 11)  # 10% faster than the server answered
    lim._answers = collections.deque([0.0] * 6)
    assert lim._spacing(100.6) == 0.0  # answers older than the window are forgotten
    assert RateLimiter(rpm=600)._spacing(0.0) == pytest.approx(0.1)

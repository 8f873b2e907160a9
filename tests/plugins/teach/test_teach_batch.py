"""mode: batch through the official SDKs against the fake provider's batch endpoints."""

import json

import pytest

from vlkd.core.errors import StageError
from vlkd.testing.teach import image_hashes, ledger, read_pairs, section

POLL = {"batch_poll_interval": 0.05}


def batch(provider, plugin="openai", **kw):
    return section(provider, plugin, mode="batch", **POLL, **kw)


def book(rd):
    path = rd / "cache" / "teach" / "batches.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()]


@pytest.mark.parametrize("plugin", ["openai", "anthropic"])
def test_batch_mode_teaches_every_image_once_at_half_price(provider, images, run_teach, plugin):
    folder = images(5)
    manifest, rd = run_teach(folder, batch(provider, plugin))
    teach = manifest["stages"]["teach"]
    assert teach["counts"]["ok"] == 5 and len(read_pairs(rd)) == 15
    assert dict(provider.requests) == dict.fromkeys(image_hashes(folder).values(), 1)
    assert len(provider.batches) == 1
    events = [e["event"] for e in book(rd)]
    assert events == ["submitting", "submitted", "collected"]
    # the cost at half the list price: the same answers online cost twice as much
    online, _ = run_teach(folder, section(provider, plugin), run_dir=rd.parent / "online", no_cache=True)
    assert teach["usage"]["cost_usd"] == pytest.approx(
        online["stages"]["teach"]["usage"]["cost_usd"] / 2, rel=1e-3
    )
    assert teach["usage"]["requests"] == 5


@pytest.mark.parametrize("plugin", ["openai", "anthropic"])
def test_errored_expired_and_malformed_items_go_into_a_follow_up_batch(provider, images, run_teach, plugin):
    folder = images(5)
    h = list(image_hashes(folder).values())
    provider.image_faults.update(
        {h[0]: ["500"], h[1]: ["expired"], h[2]: ["malformed"], h[3]: ["500", "500", "500"]}
    )
    _manifest, rd = run_teach(folder, batch(provider, plugin, batch_retries=2))
    status = {e["key"]: e for e in ledger(rd)}
    assert [status[k]["status"] for k in h] == ["ok", "ok", "ok", "failed", "ok"]
    assert status[h[3]]["reason"].startswith("no answer after 3 batches: ")
    assert len(provider.batches) == 3  # the first, and two bounded follow-ups
    assert provider.requests[h[4]] == 1 and provider.requests[h[2]] == 2  # malformed: asked again


def test_the_cache_is_shared_with_online_mode(provider, images, run_teach):
    folder = images(3)
    _, _rd = run_teach(folder, batch(provider))
    manifest, _ = run_teach(folder, section(provider), fresh=True)
    assert manifest["stages"]["teach"]["usage"]["cached"] == 3
    assert sum(provider.requests.values()) == 3


def test_chunks_stay_under_the_request_limit(provider, images, run_teach):
    folder = images(7)
    manifest, _rd = run_teach(folder, batch(provider, batch_max_requests=3))
    assert manifest["stages"]["teach"]["counts"]["ok"] == 7
    assert sorted(len(b["requests"]) for b in provider.batches.values()) == [1, 3, 3]


def test_no_wait_submits_and_the_next_run_collects(provider, images, run_teach):
    folder = images(4)
    provider.batch_latency = 3600  # the provider is slow today
    manifest, _rd = run_teach(folder, batch(provider), no_wait=True)
    assert manifest["status"] == "waiting" and manifest["stages"]["teach"]["status"] == "waiting"
    assert "vlkd run" in manifest["stages"]["teach"]["next"]
    assert len(provider.batches) == 1 and sum(provider.requests.values()) == 0
    # a second --no-wait run polls the same batch; nothing is submitted again
    manifest, _ = run_teach(folder, batch(provider), no_wait=True)
    assert manifest["status"] == "waiting" and len(provider.batches) == 1
    provider.batch_latency = 0
    manifest, _ = run_teach(folder, batch(provider))
    assert manifest["stages"]["teach"]["status"] == "done" and len(provider.batches) == 1
    assert manifest["stages"]["teach"]["counts"]["ok"] == 4 and sum(provider.requests.values()) == 4


def test_a_refused_batch_stops_with_the_reason(provider, images, run_teach):
    with pytest.raises(StageError, match="refused the batch: 401"):
        run_teach(images(2), {**batch(provider), "api_key": "sk-wrong-key-000000"})
    assert not provider.batches

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


def test_an_unrecorded_anthropic_batch_is_not_guessed_while_others_of_its_size_run(
    provider, images, run_teach
):
    """Anthropic's batches carry no metadata: while another client's batch of the same size,
    made a moment earlier, still runs beside ours, the next run cannot tell which is ours. It
    waits (submitting nothing again) and decides by the results' custom_ids once they end."""
    import anthropic

    folder = images(2)
    provider.batch_latency = 3600
    ask = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    client = anthropic.Anthropic(base_url=provider.anthropic_url, api_key=provider.api_key)
    theirs = client.messages.batches.create(requests=[{"custom_id": f"x{i}", "params": ask} for i in (1, 2)])
    _, rd = run_teach(folder, batch(provider, "anthropic"), no_wait=True)
    (ours,) = [b for b in provider.batches if b != theirs.id]
    path = rd / "cache" / "teach" / "batches.jsonl"
    path.write_text(
        "".join(x + "\n" for x in path.read_text().splitlines() if '"submitted"' not in x), encoding="utf-8"
    )
    manifest, _ = run_teach(folder, batch(provider, "anthropic"), no_wait=True)
    teach = manifest["stages"]["teach"]
    assert manifest["status"] == "waiting" and "2 running batch(es) of its size could be it" in teach["next"]
    assert len(provider.batches) == 2 and not [e for e in book(rd) if e["event"] == "submitted"]
    cancelled = vlkd_cli("teach", "cancel", str(rd))  # no id to cancel: it says so, cancels nothing
    assert cancelled.returncode == 0 and "nothing cancelled in" in cancelled.stdout
    assert "not cancelled: a run was interrupted while submitting it" in cancelled.stdout
    assert {b["state"] for b in provider.batches.values()} == {"in_progress"}
    provider.batch_latency = 0  # both end: the results say which is ours
    manifest, _ = run_teach(folder, batch(provider, "anthropic"))
    assert manifest["stages"]["teach"]["counts"]["ok"] == 2 and len(provider.batches) == 2
    assert [e["batch"] for e in book(rd) if e["event"] == "submitted"] == [ours]
    hashes = image_hashes(folder).values()
    assert {h: provider.requests[h] for h in hashes} == dict.fromkeys(hashes, 1)


def test_a_refused_batch_stops_with_the_reason(provider, images, run_teach):
    with pytest.raises(StageError, match="refused the batch: 401"):
        run_teach(images(2), {**batch(provider), "api_key": "sk-wrong-key-000000"})
    assert not provider.batches


def vlkd_cli(*args):
    import os
    import subprocess
    import sys

    env = {**os.environ, "VLKD_DISABLE_PLUGIN_AUTOLOAD": "1", "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "vlkd", *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_teach_batches_lists_and_teach_cancel_cancels(provider, images, run_teach):
    folder = images(3)
    provider.batch_latency = 3600
    _, rd = run_teach(folder, batch(provider, batch_max_requests=2), no_wait=True)
    listed = vlkd_cli("teach", "batches", str(rd))
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.count("open") == 2 and "in_progress" in listed.stdout
    cancelled = vlkd_cli("teach", "cancel", str(rd))
    assert cancelled.returncode == 0, cancelled.stderr
    assert {b["state"] for b in provider.batches.values()} == {"cancelled"}
    assert provider.api_key not in listed.stdout + listed.stderr + cancelled.stdout + cancelled.stderr
    # the next run collects the cancelled batches and asks again in a follow-up batch
    provider.batch_latency = 0
    manifest, _ = run_teach(folder, batch(provider, batch_max_requests=2))
    assert manifest["stages"]["teach"]["counts"]["ok"] == 3 and len(provider.batches) == 4
    assert sum(provider.requests.values()) == 3
    again = vlkd_cli("teach", "batches", str(rd), "--offline")
    assert again.stdout.count("collected") == 4


def test_teach_batches_without_batches_says_so(tmp_path):
    out = vlkd_cli("teach", "batches", str(tmp_path))
    assert out.returncode == 2 and "no batches recorded" in out.stderr


def run_batch_file_like_vllm(provider, inp, out, *, skip=()):
    """What `vllm run-batch -i inp -o out --model M` does: each line's request, answered."""
    import openai

    client = openai.OpenAI(base_url=provider.openai_url, api_key=provider.api_key)
    lines = []
    for n, line in enumerate(inp.read_text().splitlines()):
        req = json.loads(line)
        assert req["url"] == "/v1/chat/completions" and req["method"] == "POST"
        if n in skip:
            continue
        body = client.chat.completions.create(**req["body"]).model_dump()
        lines.append(
            {
                "id": f"vllm-{n}",
                "custom_id": req["custom_id"],
                "response": {"status_code": 200, "request_id": f"r{n}", "body": body},
                "error": None,
            }
        )
    out.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines))


def test_batch_file_mode_for_vllm_run_batch(provider, images, run_teach):
    folder = images(4)
    teach = section(provider, mode="batch_file", **POLL)
    manifest, rd = run_teach(folder, teach)
    stage = manifest["stages"]["teach"]
    assert manifest["status"] == "waiting" and "vllm run-batch -i " in stage["next"]
    inp = next((rd / "cache" / "teach" / "batch").glob("*.jsonl"))
    out = inp.with_name(inp.name.replace(".jsonl", ".output.jsonl"))
    assert f"-o {out} --model gpt-4o" in stage["next"]
    assert sum(provider.requests.values()) == 0  # nothing sent anywhere by vlkd
    run_batch_file_like_vllm(provider, inp, out, skip={3})
    manifest, _ = run_teach(folder, teach)
    # three answers read back; the one line the runner lost goes into a new batch file
    assert manifest["status"] == "waiting" and manifest["stages"]["teach"]["counts"]["ok"] == 3
    (second,) = [p for p in inp.parent.glob("*.jsonl") if p != inp and not p.name.endswith(".output.jsonl")]
    run_batch_file_like_vllm(
        provider, second, second.with_name(second.name.replace(".jsonl", ".output.jsonl"))
    )
    manifest, _ = run_teach(folder, teach)
    assert manifest["status"] == "done" and manifest["stages"]["teach"]["counts"]["ok"] == 4
    assert sum(provider.requests.values()) == 4 and len(read_pairs(rd)) == 12


def test_max_cost_bounds_what_is_submitted(provider, images, run_teach):
    from vlkd.core.errors import RunInterrupted

    folder = images(6)
    prices = {"gpt-4o": {"input": 2.5, "output": 10.0}}
    # each request's worst case at batch price is about $0.012 (2,048 output tokens at $5/1M)
    with pytest.raises(RunInterrupted, match="max_cost"):
        run_teach(folder, batch(provider, max_cost=0.03, prices=prices))
    submitted = sum(len(b["requests"]) for b in provider.batches.values())
    assert 1 <= submitted < 6 and sum(provider.requests.values()) == submitted


def test_a_server_without_a_batch_api_is_named(images, run_teach):
    from vlkd.testing.fake_provider import FakeProvider

    with FakeProvider() as plain:
        plain._batch_route = lambda *a: plain._error("openai", 404, "no route POST /v1/files")
        with pytest.raises(StageError, match=r"does this server have a Batch API\?.*mode: batch_file"):
            run_teach(images(1), batch(plain))


@pytest.mark.parametrize("plugin", ["openai", "anthropic"])
def test_a_batch_whose_id_was_never_recorded_is_found_exactly(provider, images, run_teach, plugin):
    """A kill between "create batch" sent and its id recorded: the next run finds that batch at
    the provider, not another of the same size made at the same time (another chunk's, another
    client's), and submits nothing again."""
    import anthropic
    import openai

    folder = images(2)
    provider.batch_latency = 3600
    _, rd = run_teach(folder, batch(provider, plugin), no_wait=True)
    (ours,) = provider.batches
    path = rd / "cache" / "teach" / "batches.jsonl"
    path.write_text(
        "".join(x + "\n" for x in path.read_text().splitlines() if '"submitted"' not in x), encoding="utf-8"
    )
    # a batch of the same size, made later by someone else (newest first in the provider's list)
    ask = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    if plugin == "anthropic":
        client = anthropic.Anthropic(base_url=provider.anthropic_url, api_key=provider.api_key)
        client.messages.batches.create(requests=[{"custom_id": f"x{i}", "params": ask} for i in (1, 2)])
    else:
        client = openai.OpenAI(base_url=provider.openai_url, api_key=provider.api_key)
        lines = "".join(
            json.dumps({"custom_id": f"x{i}", "method": "POST", "url": "/v1/chat/completions", "body": ask})
            + "\n"
            for i in (1, 2)
        )
        file = client.files.create(file=("in.jsonl", lines.encode()), purpose="batch")
        client.batches.create(input_file_id=file.id, endpoint="/v1/chat/completions", completion_window="24h")
    provider.batch_latency = 0
    manifest, _ = run_teach(folder, batch(provider, plugin))
    assert manifest["stages"]["teach"]["counts"]["ok"] == 2
    assert len(provider.batches) == 2  # ours and theirs: nothing submitted again
    assert [e["batch"] for e in book(rd) if e["event"] == "submitted"] == [ours]
    hashes = image_hashes(folder).values()
    assert {h: provider.requests[h] for h in hashes} == dict.fromkeys(hashes, 1)


def test_a_batchs_answers_are_one_pack_not_a_file_each(provider, images, run_teach):
    """At 100,000 images a file per answer cost a minute of file system calls: a batch's answers
    are written as one pack; a re-run reads them back from it, and online mode does too."""
    folder = images(6)
    _, rd = run_teach(folder, batch(provider))
    cache = rd / "cache" / "teach"
    (pack,) = (cache / "packs").glob("*.jsonl")
    assert len(pack.read_text(encoding="utf-8").splitlines()) == 6
    assert list(cache.glob("*/*.json")) == []
    manifest, _ = run_teach(folder, section(provider), fresh=True)
    assert manifest["stages"]["teach"]["usage"]["cached"] == 6
    assert sum(provider.requests.values()) == 6


def test_a_torn_pack_line_is_asked_for_again_never_misread(provider, images, run_teach):
    """A kill while a pack was written leaves a torn last line: that answer is not in the cache
    (asked for again), the others are."""
    folder = images(4)
    _, rd = run_teach(folder, batch(provider))
    (pack,) = (rd / "cache" / "teach" / "packs").glob("*.jsonl")
    data = pack.read_bytes()
    pack.write_bytes(data[: data.rstrip(b"\n").rfind(b"\n") + 1 + 20])  # the last line cut after 20 bytes
    manifest, _ = run_teach(folder, section(provider), fresh=True)
    teach = manifest["stages"]["teach"]
    assert teach["counts"]["ok"] == 4 and teach["usage"]["cached"] == 3
    assert sum(provider.requests.values()) == 5

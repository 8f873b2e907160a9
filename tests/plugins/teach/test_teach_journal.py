"""The call journal: an answer received is durable at once; a request never answered counts as spent."""

import json

import pytest

from vlkd.core.errors import RunInterrupted
from vlkd.core.jsonl import JsonlAppender
from vlkd.testing.teach import ledger, section


def journal_lines(rd):
    path = rd / "cache" / "teach" / "journal.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def test_every_call_is_journalled_and_the_journal_emptied_at_the_end(provider, images, run_teach):
    _, rd = run_teach(images(3), section(provider))
    assert journal_lines(rd) == []  # replayed into the cache and cleared when the stage ends
    assert not (rd / "teach" / "unanswered.jsonl").exists()


def test_an_answer_only_in_the_journal_is_not_asked_again(provider, images, run_teach):
    """As after a kill -9 between the journal line and the cache file (written in a thread)."""
    folder = images(3)
    _, rd = run_teach(folder, section(provider))
    files = sorted((rd / "cache" / "teach").glob("*/*.json"))
    assert len(files) == 3
    with JsonlAppender(rd / "cache" / "teach" / "journal.jsonl") as out:
        for n, path in enumerate(files):
            out.append({"sent": f"s-{n}", "key": path.stem, "image": "x", "worst_usd": 0.01})
            out.append({"done": f"s-{n}", "key": path.stem, "response": json.loads(path.read_text())})
            path.unlink()
    manifest, _ = run_teach(folder, section(provider), fresh=True)
    assert sum(provider.requests.values()) == 3  # the first run's three, none again
    assert manifest["stages"]["teach"]["usage"]["cached"] == 3
    assert "unanswered" not in manifest["stages"]["teach"]["usage"]


def test_requests_in_flight_at_a_kill_count_as_possibly_spent(provider, images, run_teach, tmp_path):
    folder = images(4)
    rd = tmp_path / "run"
    journal = rd / "cache" / "teach" / "journal.jsonl"
    journal.parent.mkdir(parents=True)
    with JsonlAppender(journal) as out:  # what a session killed with two requests in flight leaves
        out.append({"sent": "old-1", "key": "k1", "image": "a", "worst_usd": 0.4})
        out.append({"sent": "old-2", "key": "k2", "image": "b", "worst_usd": 0.4})
        out.append({"sent": "old-3", "key": "k3", "image": "c", "worst_usd": 0.4})
        out.append({"done": "old-3"})  # failed (a 500): not charged
    prices = {"gpt-4o": {"input": 2.5, "output": 10.0}}
    with pytest.raises(RunInterrupted, match="max_cost"):
        # $0.80 possibly spent already: room for a call or two (at most ~$0.025 each)
        run_teach(folder, section(provider, max_cost=0.83, prices=prices, concurrency=1), run_dir=rd)
    manifest = json.loads((rd / "manifest.json").read_text())
    usage = manifest["stages"]["teach"]["usage"]
    assert usage["unanswered"] == 2 and usage["unanswered_cost_usd"] == pytest.approx(0.8)
    assert usage["cost_usd"] + 0.8 <= 0.83
    assert 0 < sum(provider.requests.values()) < 4 and len(ledger(rd)) < 4
    # a resumed session counts the same two once, not twice
    manifest, _ = run_teach(folder, section(provider, max_cost=5.0, prices=prices), run_dir=rd)
    assert manifest["stages"]["teach"]["usage"]["unanswered"] == 2

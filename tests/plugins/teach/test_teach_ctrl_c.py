"""Ctrl-C during teach, with the real CLI in a subprocess and the official SDK against the fake
provider: a first Ctrl-C waits for the answers in flight and records them, a second stops at once."""

import signal
import time

import pytest

from vlkd.testing.cli import run_vlkd, start_vlkd, wait_until
from vlkd.testing.fake_provider import FakeProvider
from vlkd.testing.teach import image_hashes, ledger, recipe_yaml, section

pytest.importorskip("openai")


def start(tmp_path, folder, server):
    """``vlkd run`` of ingest + teach (4 calls at once) in the background."""
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(recipe_yaml(folder, section(server, concurrency=4)), encoding="utf-8")
    args = ["run", str(recipe), "--run-dir", str(tmp_path / "run")]
    return start_vlkd(*args, VLKD_DISABLE_PLUGIN_AUTOLOAD="1"), args


def test_one_ctrl_c_records_the_answers_in_flight_and_none_is_asked_twice(tmp_path, images):
    folder = images(24)
    with FakeProvider(latency=1.0) as server:
        proc, args = start(tmp_path, folder, server)
        # Ctrl-C once 6 requests went out: 4 workers, so some are in flight (answered by the server
        # after 1 s, and charged by a provider whether or not vlkd records them)
        wait_until(proc, lambda: sum(server.requests.values()) >= 6, "6 requests never went out")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 130, err
        assert "Traceback" not in err
        assert "Ctrl-C: stopping; waiting for the " in err and "answers in flight to record them" in err
        assert "Ctrl-C again to stop at once" in err
        assert "interrupted during stage 'teach'; finished items are kept." in err
        assert "never answered" not in err  # nothing is left "possibly spent"
        asked = sum(server.requests.values())
        recorded = {e["key"] for e in ledger(tmp_path / "run")}
        # every request the server received was answered and recorded: nothing in flight was dropped
        assert 6 <= asked < 24 and len(recorded) == asked, (asked, len(recorded))

        done = run_vlkd(*args, VLKD_DISABLE_PLUGIN_AUTOLOAD="1")
        assert done.returncode == 0, done.stderr
    hashes = set(image_hashes(folder).values())
    assert set(server.requests) == hashes
    assert sum(server.requests.values()) == 24  # 0 answers asked twice
    assert len(ledger(tmp_path / "run")) == 24


def test_a_second_ctrl_c_stops_at_once_and_counts_what_may_be_spent(tmp_path, images):
    folder = images(8)
    with FakeProvider(latency=300.0) as server:  # answers that would never come in the test's time
        proc, _ = start(tmp_path, folder, server)
        wait_until(proc, lambda: sum(server.requests.values()) >= 4, "4 requests never went out")
        proc.send_signal(signal.SIGINT)
        time.sleep(0.5)  # a person's pause between the two (the order is what counts)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err
        assert "Traceback" not in err
        assert "waiting for the 4 answers in flight" in err
        assert "4 requests were sent but never answered" in err  # counted as possibly spent
        assert ledger(tmp_path / "run") == []

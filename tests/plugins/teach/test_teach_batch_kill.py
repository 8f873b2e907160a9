"""kill -9 during every phase of a batch (building, uploading, creating, polling, collecting),
then resume: nothing is submitted twice, no image is paid for twice, every image gets its pairs."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from vlkd.testing.fake_provider import FakeProvider
from vlkd.testing.teach import image_hashes, read_pairs, section

N = 60
#: building a chunk file of 60 small images takes a few milliseconds, a window a loaded machine
#: can miss (the run then ends before the kill); with this many it lasts some tens
N_BUILDING = 600


def until(check, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.002)
    return False


PHASES = {
    # phase: (server delays, the moment to kill)
    "building": ({}, lambda s, rd: any((rd / "cache" / "teach" / "batch").glob(".building-*"))),
    "uploading": (
        {"upload": 1.0},
        lambda s, rd: s.batch_calls["POST /v1/files"] + s.batch_calls["POST /v1/messages/batches"] > 0,
    ),
    "creating": ({"create": 1.0}, lambda s, rd: s.batch_calls["POST /v1/batches"] > 0),
    "polling": (
        {},
        lambda s, rd: (
            sum(v for k, v in s.batch_calls.items() if k.startswith("GET") and "batches/" in k) >= 2
        ),
    ),
    "collecting": (
        {"results": 1.0},
        lambda s, rd: any(k.endswith(("/content", "/results")) for k in s.batch_calls),
    ),
}
CASES = [
    pytest.param(p, phase, marks=() if phase == "polling" else pytest.mark.slow)
    for p in ("openai", "anthropic")
    for phase in PHASES
    if not (p == "anthropic" and phase == "creating")  # Anthropic uploads and creates in one call
]


@pytest.mark.parametrize("plugin,phase", CASES)
def test_kill_9_in_every_phase_of_a_batch(tmp_path, images, plugin, phase):
    n = N_BUILDING if phase == "building" else N
    folder = images(n)
    delays, moment = PHASES[phase]
    with FakeProvider() as server:
        server.keep_bodies = False
        server.batch_latency = 1.0 if phase == "polling" else 0.0
        server.batch_delays.update(delays)
        teach = section(server, plugin, mode="batch", batch_poll_interval=0.2, api_key="${env:FAKE_KEY}")
        recipe = tmp_path / "recipe.yaml"
        recipe.write_text(
            json.dumps(
                {
                    "name": "k",
                    "ingest": {"plugin": "files", "inputs": str(folder), "workers": 1},
                    "teach": teach,
                }
            ),
            encoding="utf-8",
        )
        rd = tmp_path / "run"
        env = {**os.environ, "FAKE_KEY": server.api_key, "VLKD_DISABLE_PLUGIN_AUTOLOAD": "1"}
        cmd = [sys.executable, "-m", "vlkd", "run", str(recipe), "--run-dir", str(rd), "--quiet"]
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        hit = until(lambda: moment(server, rd) or proc.poll() is not None) and proc.poll() is None
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert hit, f"the run ended before the {phase} phase could be killed: " + proc.stdout.read().decode()
        time.sleep(max(delays.values(), default=0) + 0.2)  # the provider finishes what it was handling
        server.batch_delays.clear()
        server.batch_latency = 0.0
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        hashes = set(image_hashes(folder).values())
        assert dict(server.requests) == dict.fromkeys(hashes, 1)  # each image paid for once
        assert len(server.batches) == 1  # never submitted again
        assert len(read_pairs(rd)) == 3 * n

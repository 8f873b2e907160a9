"""kill -9 in the middle of the teach stage, then resume: finished images are not asked for again."""

import json
import os
import signal
import subprocess
import sys
import time

from vlkd.testing.fake_provider import FakeProvider
from vlkd.testing.teach import image_hashes, ledger, read_pairs


def test_kill_9_and_resume(tmp_path, images):
    folder = images(16)
    hashes = set(image_hashes(folder).values())
    with FakeProvider(latency=0.25) as server:
        recipe = tmp_path / "recipe.yaml"
        recipe.write_text(
            json.dumps(
                {
                    "name": "resume",
                    "ingest": {"plugin": "files", "inputs": str(folder), "workers": 1},
                    "teach": {
                        "plugin": "openai",
                        "model": "gpt-4o",
                        "base_url": server.openai_url,
                        "api_key": "${env:FAKE_KEY}",
                        "concurrency": 2,
                    },
                }
            ),
            encoding="utf-8",
        )
        rd = tmp_path / "run"
        env = {**os.environ, "FAKE_KEY": server.api_key, "VLKD_DISABLE_PLUGIN_AUTOLOAD": "1"}
        cmd = [sys.executable, "-m", "vlkd", "run", str(recipe), "--run-dir", str(rd), "--quiet"]
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        ledger_path = rd / "teach" / "ledger.jsonl"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if ledger_path.exists() and len(ledger_path.read_text().splitlines()) >= 4:
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        finished = {e["key"] for e in ledger(rd)}
        assert 4 <= len(finished) < 16, proc.stdout.read().decode()
        before = dict(server.requests)
        assert all(before[k] == 1 for k in finished)

        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        # finished images were not requested again; every image has its pairs exactly once
        assert all(server.requests[k] == 1 for k in finished)
        assert set(server.requests) == hashes
        entries = ledger(rd)
        assert sorted(e["key"] for e in entries) == sorted(hashes)
        pairs = read_pairs(rd)
        assert len(pairs) == 3 * 16 and len({p["id"] for p in pairs}) == len(pairs)
        # images that were in flight at the kill may have been answered; the cache kept those answers
        assert sum(server.requests.values()) <= 16 + 2
        assert server.api_key.encode() not in b"".join(p.read_bytes() for p in rd.rglob("*") if p.is_file())

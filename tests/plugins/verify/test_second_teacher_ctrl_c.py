"""Ctrl-C while the second teacher is asked (``vlkd run`` in a subprocess, the official SDK against
the fake provider): the answers in flight are recorded, none is asked for twice on resume."""

from __future__ import annotations

import json
import signal

import pytest

from vlkd.testing.cli import run_vlkd, start_vlkd, wait_until
from vlkd.testing.fake_provider import FakeProvider, pairs_csv
from vlkd.testing.verify import make_page, write_pairs

pytest.importorskip("openai")


def test_one_ctrl_c_in_second_teacher_loses_no_answer(tmp_path):
    pages = tmp_path / "pages"
    rows = []
    for i in range(16):
        make_page(pages / f"p{i}.png", [f"Sheet {i}"], size=(200, 80))
        rows.append((f"p{i}.png", "What is the part number?", f"4773-{i}"))
    csv = write_pairs(tmp_path / "pairs.csv", rows)

    def second(image, req) -> str:
        return pairs_csv([{"question": "What is the part number?", "answer": "4773"}])

    with FakeProvider(answer=second, latency=1.0) as server:
        recipe = tmp_path / "recipe.yaml"
        teacher = {
            "plugin": "openai",
            "model": "gpt-4o",
            "base_url": server.openai_url,
            "api_key": "${env:FAKE_KEY}",
            "concurrency": 4,
        }
        recipe.write_text(
            json.dumps(
                {
                    "name": "v",
                    "ingest": {"plugin": "files", "inputs": str(pages), "workers": 1},
                    "teach": {"plugin": "annotations", "path": str(csv)},
                    "verify": [{"plugin": "second_teacher", "teacher": teacher}],
                }
            )
        )
        env = {"FAKE_KEY": server.api_key, "VLKD_DISABLE_PLUGIN_AUTOLOAD": "1"}
        args = ["run", str(recipe), "--run-dir", str(tmp_path / "run")]
        proc = start_vlkd(*args, **env)
        wait_until(proc, lambda: sum(server.requests.values()) >= 6, "6 requests never went out")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 130, err
        assert "Traceback" not in err
        assert "answers in flight to record them" in err and "never answered" not in err
        assert "interrupted during stage 'verify'" in err
        asked = sum(server.requests.values())
        assert 6 <= asked < 16

        done = run_vlkd(*args, **env)
        assert done.returncode == 0, done.stderr
    assert len(server.requests) == 16 and sum(server.requests.values()) == 16  # none asked twice

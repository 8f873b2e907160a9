"""Ctrl-C while the served students answer (``vlkd run`` in a subprocess, the official SDK against
the fake provider): the answers in flight are recorded, none is asked for twice on resume."""

import csv
import json
import signal
from collections import Counter

import pytest

from vlkd.testing.cli import run_vlkd, start_vlkd, wait_until
from vlkd.testing.fake_provider import FakeProvider

pytest.importorskip("openai")


def test_one_ctrl_c_in_evaluate_loses_no_answer(tmp_path, vlkd_images):
    images = vlkd_images(n=12, size=(96, 64))
    with (tmp_path / "pairs.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["image", "question", "answer"])
        for i, path in enumerate(images):
            writer.writerow([path.name, f"零件{i}名称？", f"零件{i}"])
            writer.writerow([path.name, f"零件{i}力矩？", f"{20 + i} N·m"])

    def question(body) -> str:
        return next(p["text"] for p in body["messages"][-1]["content"] if p["type"] == "text")

    with FakeProvider(answer=lambda image, req: "零件", api_key=None, latency=1.0) as server:
        served = {"base_url": server.openai_url, "base_model_name": "base", "tuned_model_name": "tuned"}
        stages = {
            "ingest": {"plugin": "files", "inputs": [str(images[0].parent)]},
            "teach": {"plugin": "annotations", "path": str(tmp_path / "pairs.csv")},
            "split": {"plugin": "by_image", "train": 0.0, "val": 0.0, "test": 1.0},
            "evaluate": {"plugin": "student", "backend": "openai", "concurrency": 4, **served},
        }
        student = {"model": "Qwen/Qwen2-VL-2B-Instruct", "family": "qwen2_vl"}  # served, not loaded
        recipe = tmp_path / "recipe.json"
        recipe.write_text(json.dumps({"name": "evalrun", "student": student, **stages}))
        args = ["run", str(recipe), "--run-dir", str(tmp_path / "run")]
        env = {"OPENAI_API_KEY": "unused", "VLKD_DISABLE_PLUGIN_AUTOLOAD": "1"}
        proc = start_vlkd(*args, **env)
        wait_until(proc, lambda: len(server.bodies) >= 6, "6 questions never went out", timeout=120)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 130, err
        assert "Traceback" not in err
        assert "Ctrl-C: stopping; waiting for the " in err and "in flight to record them" in err
        assert "interrupted during stage 'evaluate'" in err

        done = run_vlkd(*args, **env)
        assert done.returncode == 0, done.stderr
        asked = Counter((b["model"], question(b)) for b in server.bodies)
    assert len(asked) == 2 * 24  # both students, every question
    assert max(asked.values()) == 1, [k for k, n in asked.items() if n > 1]  # none asked twice

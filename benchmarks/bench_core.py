"""Engine overhead, measured (run by hand; figures go in the README).

    python benchmarks/bench_core.py [--items 10000]

1. ``vlkd --help`` wall time (limit 0.3 s: no torch/transformers on this path)
2. a no-op stage over N items: engine cost per item (limit 1 ms)
3. re-running the finished N-item run, everything skipped (limit 2 s, whole CLI process)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def timed(cmd: list[str], env: dict[str, str], cwd: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(HERE), "VLKD_PLUGINS": "noop_plugin"}
    vlkd = [sys.executable, "-m", "vlkd"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        helps = [timed([*vlkd, "--help"], env, tmp_path) for _ in range(args.repeat)]
        help_s = statistics.median(helps)
        heavy = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys, vlkd.cli, vlkd.commands as m; m.register_commands(vlkd.cli.app); "
                "print(sorted(k for k in sys.modules if k.split('.')[0] in "
                "('torch','transformers','peft','datasets','openai','anthropic','llamafactory','pydantic')))",
            ],
            capture_output=True,
            text=True,
            env=env,
        ).stdout.strip()
        recipe = tmp_path / "r.yaml"
        recipe.write_text(f"name: bench\ningest:\n  plugin: noop\n  n: {args.items}\n")
        first = timed([*vlkd, "run", str(recipe), "--quiet"], env, tmp_path)
        manifest = json.loads((tmp_path / "runs" / "bench" / "manifest.json").read_text())
        stage_s = manifest["stages"]["ingest"]["wall_time_s"]
        # the same with the progress bar drawn (as a person running it sees it)
        timed([*vlkd, "run", str(recipe), "--fresh", "--run-dir", "shown"], env, tmp_path)
        shown = json.loads((tmp_path / "shown" / "manifest.json").read_text())
        shown_s = shown["stages"]["ingest"]["wall_time_s"]
        reruns = [timed([*vlkd, "run", str(recipe), "--quiet"], env, tmp_path) for _ in range(args.repeat)]
        rerun_s = statistics.median(reruns)
    per_item_ms = stage_s / args.items * 1000
    print(
        f"vlkd --help:           {help_s * 1000:7.1f} ms  (limit 300 ms: {help_s / 0.3:.2f}x of limit); "
        f"heavy modules imported by the CLI: {heavy}"
    )
    print(
        f"no-op stage, {args.items} items: {stage_s:6.2f} s = {per_item_ms:.3f} ms/item "
        f"(limit 1 ms: {per_item_ms:.2f}x of limit); with the progress bar drawn "
        f"{shown_s / args.items * 1000:.3f} ms/item; whole first run {first:.2f} s"
    )
    print(f"re-run, all skipped:   {rerun_s:7.2f} s  (limit 2 s: {rerun_s / 2:.2f}x of limit)")


if __name__ == "__main__":
    main()

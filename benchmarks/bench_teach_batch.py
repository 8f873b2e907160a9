"""Teach at scale (run by hand; figures printed, nothing asserted).

    python benchmarks/bench_teach_batch.py batch [--images 1000,10000] [--mode batch|online]
    python benchmarks/bench_teach_batch.py kill [--mode online|batch] [--kills 5] [--images 400]

``batch``: N images through ``mode: batch`` against the fake provider (its own process): the
stage's seconds for building, uploading, collecting and parsing (the stage facts), the whole
``vlkd run`` process's wall time, and its peak memory, then each stage in a process of its own (flat from 1,000 to 10,000 images
means nothing grows with the number of images but the chunk file itself). ``--mode online``
sends the same images one call each (the fake provider answers at once).

``kill``: ``vlkd run`` killed with SIGKILL at random moments, then resumed, ``--kills`` times, then
run to the end. Counts the requests the provider was paid for beyond one per image, and how many
of those the client never received (requests in flight at a kill: no client can avoid paying
those; vlkd lists them in ``teach/unanswered.jsonl`` and counts them against max_cost). A
*received* answer paid for twice is a bug: the goal is 0.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_teach import KEY, start_server, stats  # the same server and key as bench_teach.py


def make_images(folder: Path, n: int) -> None:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.new("RGB", (64, 48), (i % 256, (i // 256) % 256, (i // 65536) % 256)).save(
            folder / f"img_{i:05d}.png"
        )


def write_recipe(path: Path, folder: Path, teach: dict) -> None:
    data = {
        "name": "bench",
        "ingest": {"plugin": "files", "inputs": str(folder), "workers": 1},
        "teach": teach,
    }
    path.write_text(json.dumps(data), encoding="utf-8")


def vlkd_run(recipe: Path, run_dir: Path, *more: str) -> tuple[subprocess.Popen, list[str]]:
    cmd = [sys.executable, "-m", "vlkd", "run", str(recipe), "--run-dir", str(run_dir), "--quiet", *more]
    env = {**os.environ, "VLKD_DISABLE_PLUGIN_AUTOLOAD": "1"}
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE), cmd


def wait_rss(proc: subprocess.Popen) -> tuple[int, float]:
    """(exit status, peak resident memory of the process in MiB)."""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage.ru_maxrss / 1024


def bench_batch(sizes: list[int], mode: str = "batch") -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench_batch_"))
    peaks: dict[int, tuple[float, float, float]] = {}
    for n in sizes:
        folder = tmp / f"images_{n}"
        make_images(folder, n)
        server, url = start_server()
        try:
            teach = {
                "plugin": "openai",
                "model": "gpt-4o",
                "base_url": url + "/v1",
                "api_key": KEY,
                "mode": mode,
                "batch_poll_interval": 0.2,
            }
            recipe = tmp / f"recipe_{n}.yaml"
            write_recipe(recipe, folder, teach)
            rd = tmp / f"run_{n}"
            t0 = time.perf_counter()
            proc, _ = vlkd_run(recipe, rd)
            code, rss = wait_rss(proc)
            wall = time.perf_counter() - t0
            if code != 0:
                raise SystemExit(f"vlkd run failed (exit {code}): {proc.stderr.read().decode()[-2000:]}")
            manifest = json.loads((rd / "manifest.json").read_text())
            teach_entry = manifest["stages"]["teach"]
            secs = teach_entry["facts"].get("batch", {}).get("seconds")
            phases = (
                f": build {secs['build']:.2f} s, upload {secs['upload']:.2f} s, provider {secs['wait']:.2f} s, "
                f"collect {secs['collect']:.2f} s, parse {secs['parse']:.2f} s"
                if secs
                else ""
            )
            paid = stats(url)["requests"]
            batches = teach_entry["facts"].get("batch", {}).get("batches")
            # the same again, each stage in its own process: whose peak is it?
            rd2 = tmp / f"run_{n}_by_stage"
            proc, _ = vlkd_run(recipe, rd2, "--to", "ingest")
            _, rss_ingest = wait_rss(proc)
            proc, _ = vlkd_run(recipe, rd2)
            _, rss_teach = wait_rss(proc)
            peaks[n] = (rss, rss_ingest, rss_teach)
            print(
                f"[{mode}, {n:,} images] exit {code}; whole process {wall:.1f} s (ingest "
                f"{manifest['stages']['ingest']['wall_time_s']:.1f} s, teach {teach_entry['wall_time_s']:.1f} s"
                f"{phases}); {teach_entry['counts']['ok']:,} ok, {paid:,} requests paid"
                + (f", {batches} batch(es)" if batches is not None else "")
                + f"; peak RSS {rss:.0f} MiB (each stage in its own process: ingest {rss_ingest:.0f} MiB, "
                f"teach {rss_teach:.0f} MiB)"
            )
        finally:
            server.terminate()
    if len(peaks) > 1:
        lo, hi = min(peaks), max(peaks)
        names = ("whole process", "ingest alone", "teach alone")
        ratios = ", ".join(f"{name} {peaks[hi][i] / peaks[lo][i]:.2f}x" for i, name in enumerate(names))
        print(f"[{mode}] peak RSS {lo:,} -> {hi:,} images: {ratios}; load average {os.getloadavg()[0]:.1f}")


def bench_kill(mode: str, kills: int, n: int, seed: int) -> None:
    rng = random.Random(seed)
    tmp = Path(tempfile.mkdtemp(prefix=f"bench_kill_{mode}_"))
    folder = tmp / "images"
    make_images(folder, n)
    args = ("--latency", "0.1") if mode == "online" else ()
    server, url = start_server(*args)
    try:
        teach = {
            "plugin": "openai",
            "model": "gpt-4o",
            "base_url": url + "/v1",
            "api_key": KEY,
            "concurrency": 8,
        }
        if mode == "batch":
            teach.update(mode="batch", batch_poll_interval=0.1, batch_max_requests=max(1, n // 4))
        recipe = tmp / "recipe.yaml"
        write_recipe(recipe, folder, teach)
        rd = tmp / "run"
        # ingest first, so that the kills fall inside teach
        subprocess.run(
            [sys.executable, "-m", "vlkd", "run", str(recipe), "--run-dir", str(rd), "--to", "ingest", "-q"],
            check=True,
            env={**os.environ, "VLKD_DISABLE_PLUGIN_AUTOLOAD": "1"},
        )
        expected = n * 0.1 / 8 if mode == "online" else 3.0
        for _ in range(kills):
            proc, _ = vlkd_run(recipe, rd)
            time.sleep(1.0 + rng.uniform(0, expected))  # start-up, then a random moment of the work
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        proc, _ = vlkd_run(recipe, rd)
        code, _ = wait_rss(proc)
        s = stats(url)
        unanswered = (
            len({json.loads(x)["seq"] for x in (rd / "teach" / "unanswered.jsonl").read_text().splitlines()})
            if (rd / "teach" / "unanswered.jsonl").exists()
            else 0
        )
        extra = s["requests"] - n
        manifest = json.loads((rd / "manifest.json").read_text())
        batches = manifest["stages"]["teach"].get("facts", {}).get("batch", {}).get("batches")
        print(
            f"[kill -9 x{kills}, {mode}, {n} images, concurrency 8] exit {code}; "
            f"{manifest['stages']['teach']['counts']['ok']} ok; requests paid {s['requests']} "
            f"({extra} beyond one per image); never received (in flight at a kill) {unanswered}; "
            f"received answers paid twice: {extra - unanswered if mode == 'online' else extra}"
            + (f"; batches {batches}" if batches is not None else "")
        )
    finally:
        server.terminate()


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="what", required=True)
    b = sub.add_parser("batch")
    b.add_argument("--images", default="1000,10000")
    b.add_argument("--mode", default="batch", choices=("online", "batch"))
    k = sub.add_parser("kill")
    k.add_argument("--mode", default="online", choices=("online", "batch"))
    k.add_argument("--kills", type=int, default=5)
    k.add_argument("--images", type=int, default=400)
    k.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    if args.what == "batch":
        bench_batch([int(x) for x in args.images.split(",")], args.mode)
    else:
        bench_kill(args.mode, args.kills, args.images, args.seed)


if __name__ == "__main__":
    main()

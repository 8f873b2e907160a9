"""Teach at scale (run by hand; figures printed, nothing asserted).

    python benchmarks/bench_teach_batch.py batch [--images 1000,10000] [--mode batch|online]
    python benchmarks/bench_teach_batch.py batch --images 10000,100000 --compare-tree /tmp/base
    python benchmarks/bench_teach_batch.py kill [--mode online|batch] [--kills 5] [--images 400]

``batch``: N images through ``mode: batch`` against the fake provider (its own process): the
stage's seconds for building, uploading, collecting and parsing (the stage facts), the whole
``vlkd run`` process's wall time, and its peak memory, then each stage in a process of its own (flat from 1,000 to 10,000 images
means nothing grows with the number of images but the chunk file itself). ``--mode online``
sends the same images one call each (the fake provider answers at once). ``--compare-tree``:
another checkout of vlkd (e.g. main before a change) runs the same sizes, alternated with this
one in the same run: ingest in a process of its own, then the teach stage alone in a fresh
process, whose wall time, CPU seconds and peak memory are compared (ratios: the machine's load
hits both alike).

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
import statistics
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


def teach_section(url: str, mode: str) -> dict:
    return {
        "plugin": "openai",
        "model": "gpt-4o",
        "base_url": url + "/v1",
        "api_key": KEY,
        "mode": mode,
        "batch_poll_interval": 0.2,
    }


def vlkd_run(
    recipe: Path, run_dir: Path, *more: str, tree: Path | None = None
) -> tuple[subprocess.Popen, list[str]]:
    cmd = [sys.executable, "-m", "vlkd", "run", str(recipe), "--run-dir", str(run_dir), "--quiet", *more]
    env = {**os.environ, "VLKD_DISABLE_PLUGIN_AUTOLOAD": "1"}
    if tree is not None:
        env["PYTHONPATH"] = str(tree)
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE), cmd


def wait_rss(proc: subprocess.Popen) -> tuple[int, float]:
    """(exit status, peak resident memory of the process in MiB)."""
    code, rss, _ = wait_usage(proc)
    return code, rss


def wait_usage(proc: subprocess.Popen) -> tuple[int, float, float]:
    """(exit status, peak resident memory in MiB, CPU seconds, user and system)."""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


def outputs_digest(rd: Path) -> dict[str, str]:
    """What a run wrote that must not change with speed-ups: images.jsonl, pairs.jsonl, and the
    response cache's keys (sha256 of each; the keys sorted: pack names carry the time)."""
    import hashlib

    keys = sorted(
        json.loads(line)["key"]
        for pack in sorted((rd / "cache" / "teach" / "packs").glob("*.jsonl"))
        for line in pack.read_text(encoding="utf-8").splitlines()
    )
    return {
        "images.jsonl": hashlib.sha256((rd / "ingest" / "images.jsonl").read_bytes()).hexdigest(),
        "pairs.jsonl": hashlib.sha256((rd / "teach" / "pairs.jsonl").read_bytes()).hexdigest(),
        "cache keys": hashlib.sha256("\n".join(keys).encode()).hexdigest(),
    }


def bench_compare(sizes: list[int], compare: Path, repeat: int) -> None:
    """This checkout and ``compare``, alternated, each size: ingest, then the teach stage, each
    alone in a fresh process; their outputs compared byte for byte."""
    tmp = Path(tempfile.mkdtemp(prefix="bench_batch_cmp_"))
    trees = [("this checkout", Path(__file__).resolve().parents[1]), (str(compare), compare.resolve())]
    rows: dict[tuple[int, str], list[tuple[float, float, float, float]]] = {}
    ingests: dict[tuple[int, str], list[tuple[float, float, float]]] = {}
    digests: dict[tuple[int, str], dict[str, str]] = {}
    loads: list[float] = []
    for n in sizes:
        folder = tmp / f"images_{n}"
        make_images(folder, n)
        # one provider for both checkouts: its address is in the teacher's parameters, so in the
        # cache keys, which are compared
        server, url = start_server()
        try:
            for k in range(repeat):
                for label, tree in trees if k % 2 == 0 else trees[::-1]:
                    recipe = tmp / f"recipe_{n}.yaml"
                    write_recipe(recipe, folder, teach_section(url, "batch"))
                    rd = tmp / f"run_{n}_{k}_{tree.name}"
                    t0 = time.perf_counter()
                    proc, _ = vlkd_run(recipe, rd, "--to", "ingest", tree=tree)
                    code, ingest_rss, ingest_cpu = wait_usage(proc)
                    if code != 0:
                        raise SystemExit(f"ingest failed: {proc.stderr.read().decode()[-2000:]}")
                    ingest = (time.perf_counter() - t0, ingest_cpu, ingest_rss)
                    ingests.setdefault((n, label), []).append(ingest)
                    loads.append(os.getloadavg()[0])
                    t0 = time.perf_counter()
                    proc, _ = vlkd_run(recipe, rd, tree=tree)
                    code, rss, cpu = wait_usage(proc)
                    wall = time.perf_counter() - t0
                    loads.append(os.getloadavg()[0])
                    if code != 0:
                        raise SystemExit(
                            f"vlkd run failed (exit {code}): {proc.stderr.read().decode()[-2000:]}"
                        )
                    entry = json.loads((rd / "manifest.json").read_text())["stages"]["teach"]
                    assert entry["counts"]["ok"] == n, entry["counts"]
                    rows.setdefault((n, label), []).append((wall, entry["wall_time_s"], cpu, rss))
                    digests[(n, label)] = outputs_digest(rd)
                    secs = entry["facts"]["batch"]["seconds"]
                    print(
                        f"  [{label}, {n:,} images] ingest process {ingest[0]:.1f} s wall, {ingest[1]:.1f} CPU-s, "
                        f"peak RSS {ingest[2]:.0f} MiB; teach process {wall:.1f} s wall, {cpu:.1f} CPU-s, peak RSS "
                        f"{rss:.0f} MiB; stage {entry['wall_time_s']:.1f} s ("
                        + ", ".join(f"{k} {v:.1f}" for k, v in secs.items())
                        + f"); load average {os.getloadavg()[0]:.1f}",
                        flush=True,
                    )
        finally:
            server.terminate()
            server.wait()
    print(
        f"[batch, teach stage alone in a fresh process, {repeat} run(s) of each alternated; load average "
        f"{min(loads):.1f}-{max(loads):.1f} over the runs, {os.cpu_count()} CPUs] median wall / CPU-s / peak RSS:"
    )
    for n in sizes:
        got = {
            label: [statistics.median(col) for col in zip(*rows[(n, label)], strict=True)]
            for label, _ in trees
        }
        (a, b) = (got[trees[0][0]], got[trees[1][0]])
        for label, (wall, stage, cpu, rss) in got.items():
            print(
                f"    {n:,} images, {label}: {wall:.1f} s process ({stage:.1f} s stage), {cpu:.1f} CPU-s, {rss:.0f} MiB"
            )
        print(
            f"    {n:,} images, this checkout / the other: teach wall {a[0] / b[0]:.2f}x, CPU {a[2] / b[2]:.2f}x, "
            f"peak RSS {a[3] / b[3]:.2f}x"
        )
        ing = {
            label: [statistics.median(col) for col in zip(*ingests[(n, label)], strict=True)]
            for label, _ in trees
        }
        (ia, ib) = (ing[trees[0][0]], ing[trees[1][0]])
        print(
            f"    {n:,} images, ingest process: this checkout {ia[0]:.1f} s, {ia[1]:.1f} CPU-s, {ia[2]:.0f} MiB; "
            f"the other {ib[0]:.1f} s, {ib[1]:.1f} CPU-s, {ib[2]:.0f} MiB: wall {ia[0] / ib[0]:.2f}x, "
            f"CPU {ia[1] / ib[1]:.2f}x; ingest + teach: wall {(ia[0] + a[0]) / (ib[0] + b[0]):.2f}x, "
            f"CPU {(ia[1] + a[2]) / (ib[1] + b[2]):.2f}x"
        )
        da, db = digests[(n, trees[0][0])], digests[(n, trees[1][0])]
        print(
            f"    {n:,} images, outputs: "
            + ", ".join(f"{k} {'identical' if da[k] == db[k] else 'DIFFERENT'}" for k in da)
        )
    for label, _ in trees:
        lo, hi = min(sizes), max(sizes)
        if lo != hi:
            r = statistics.median(x[3] for x in rows[(hi, label)]) / statistics.median(
                x[3] for x in rows[(lo, label)]
            )
            print(f"    peak RSS {lo:,} -> {hi:,} images, {label}: {r:.2f}x")


def bench_batch(sizes: list[int], mode: str = "batch") -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench_batch_"))
    peaks: dict[int, tuple[float, float, float]] = {}
    for n in sizes:
        folder = tmp / f"images_{n}"
        make_images(folder, n)
        server, url = start_server()
        try:
            recipe = tmp / f"recipe_{n}.yaml"
            write_recipe(recipe, folder, teach_section(url, mode))
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
    b.add_argument(
        "--compare-tree",
        type=Path,
        default=None,
        help="another checkout of vlkd: the teach stage of both, alternated (mode: batch)",
    )
    b.add_argument("--repeat", type=int, default=1, help="with --compare-tree: runs of each")
    k = sub.add_parser("kill")
    k.add_argument("--mode", default="online", choices=("online", "batch"))
    k.add_argument("--kills", type=int, default=5)
    k.add_argument("--images", type=int, default=400)
    k.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    if args.what == "batch" and args.compare_tree:
        bench_compare([int(x) for x in args.images.split(",")], args.compare_tree, args.repeat)
    elif args.what == "batch":
        bench_batch([int(x) for x in args.images.split(",")], args.mode)
    else:
        bench_kill(args.mode, args.kills, args.images, args.seed)


if __name__ == "__main__":
    main()

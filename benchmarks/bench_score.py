"""``vlkd score`` on 100,000 answers with 95% intervals: time and peak memory (goal: under 10 s).

Run by hand (not a test): ``python benchmarks/bench_score.py [--items 100000] [--samples 1000]``.
It writes a JSON Lines file of generated answers in the shapes a document-VQA test set has
(short names, part numbers, torques, dates, prices, not-present questions; about a third of
the predictions wrong by a character or a number), then runs the real command line
(``python -m vlkd score FILE --json --by category``) in a subprocess, timed from start to exit,
and reads its peak resident memory from the kernel. ``--per-item`` is measured the same way.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ANSWERS = [
    ("part_recognition", lambda r: f"04465-{r.randint(10000, 99999)}"),
    (
        "part_recognition",
        lambda r: r.choice(["刹车片", "机油滤清器", "火花塞", "空气滤清器总成", "Brake pad"]),
    ),
    ("manual_parsing", lambda r: f"{r.randint(10, 200)} N·m"),
    ("manual_parsing", lambda r: f"{r.randint(1, 12)}/{r.randint(1, 28)}/{r.randint(10, 99)}"),
    ("manual_parsing", lambda r: f"¥{r.randint(50, 5000)}"),
    ("fault_diagnosis", lambda r: f"P0{r.randint(100, 999)}"),
    ("fault_diagnosis", lambda r: "不存在"),
]


def wrong(answer: str, r: random.Random) -> str:
    chars = list(answer)
    i = r.randrange(len(chars))
    chars[i] = str(r.randint(0, 9)) if chars[i].isdigit() else "x"
    return "".join(chars)


def write_items(path: Path, n: int, seed: int = 0) -> None:
    r = random.Random(seed)
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            category, make = r.choice(ANSWERS)
            answer = make(r)
            prediction = answer if r.random() < 0.65 else wrong(answer, r)
            line = {"id": str(i), "prediction": prediction, "answers": [answer], "category": category}
            if answer == "不存在":
                line["negative"] = True
            fh.write(json.dumps(line, ensure_ascii=False) + "\n")


def run(args: list[str], tree: Path | None = None) -> str:
    """Wall seconds, CPU seconds and peak RSS of one ``vlkd`` process (CPU time shows the cost
    when other work shares the cores and stretches the wall time); ``tree``: another checkout."""
    env = {**os.environ, "PYTHONPATH": str(tree)} if tree else None
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "vlkd", *args], check=True, stdout=subprocess.DEVNULL, env=env)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return f"{wall:.2f} s wall ({wall / 10:.2f}x the 10 s goal), {cpu:.2f} s CPU, peak RSS {after.ru_maxrss / 1024:.0f} MiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument(
        "--compare-tree",
        type=Path,
        default=None,
        help="another checkout of vlkd (e.g. before a change): --json timed with it too, alternated",
    )
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vlkd-bench-score-") as tmp:
        path = Path(tmp) / "answers.jsonl"
        write_items(path, opts.items)
        size = path.stat().st_size / 2**20
        print(f"{opts.items:,} items ({size:.1f} MiB), 1000 bootstrap resamples, 95% intervals")
        whole = ["score", str(path), "--json", "--by", "category"]
        print("vlkd score --json --by category:", run(whole))
        if opts.compare_tree:
            print(f"  the same with {opts.compare_tree}:", run(whole, opts.compare_tree.resolve()))
            print("  this checkout again:          ", run(whole))
        print("vlkd score --per-item:          ", run(["score", str(path), "--per-item"]))
        print(f"load average after: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()

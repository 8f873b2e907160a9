"""CPU per item with other work on the cores: library defaults vs vlkd's sized, sleeping pools.

    python benchmarks/bench_contention.py [--steps 6] [--pages 4] [--answers 20000] [--repeat 2]
    python benchmarks/bench_contention.py --smoke --steps 1 --pages 1 --answers 200 --busy 1  # runs?

Three workloads, each in a fresh process, each timed over its loop only (models loaded first):

- training steps: the tiny offline Qwen2-VL student, forward and backward on a batch of text
  with AdamW (``--steps``), as the demo's training does on a CPU;
- OCR pages: the demo's pages read by the OCR engine on a cold cache (``--pages``);
- scoring: ``vlkd score``'s per-item metrics and 1,000 bootstrap resamples (``--answers``).

Each runs with the libraries' defaults (pools sized to the machine's cores, idle threads
spinning) and with vlkd's (``vlkd.core.cpus.limit_threads`` before anything loads, as the
``vlkd`` command does; the OCR engine's pool sized and not spinning), alone and beside two busy
loops (``while True: pass``, one per core of a 2-core machine), alternated A/B/A/B within each
round. Printed: CPU seconds per item (user + system of every thread), medians, and the ratio
busy / alone per setting (the goal: within 1.3x), with the load average. Nothing asserted.
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
ROOT = HERE.parent
DEMO = ROOT / "recipes" / "data" / "demo"
THREAD_ENV = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "OMP_WAIT_POLICY",
)


# -- in the child process -------------------------------------------------------------------
def train_steps(n: int, student: str) -> tuple[int, float]:
    import torch

    from vlkd.core.student import make_student

    family = make_student("tiny:qwen2_vl").family
    model = family.model_class_object().from_pretrained(student)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    torch.manual_seed(0)
    vocab = model.get_input_embeddings().num_embeddings
    ids = torch.randint(10, vocab, (4, 256))

    def step() -> None:
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()

    step()  # warm-up: first-call allocations
    cpu0 = time.process_time()
    for _ in range(n):
        step()
    return n, time.process_time() - cpu0


def ocr_pages(n: int, defaults: bool) -> tuple[int, float]:
    from vlkd import ocr as ocr_engine

    if defaults:  # the engine as rapidocr builds it: a pool of the machine's cores, spinning
        from rapidocr_onnxruntime import RapidOCR

        ocr_engine._engine = RapidOCR()
    pages = sorted(DEMO.glob("*.png"))
    data = [pages[i % len(pages)].read_bytes() for i in range(n)]
    ocr_engine.page_boxes(data[0])  # warm-up: the models loaded
    cpu0 = time.process_time()
    for page in data:
        ocr_engine.page_boxes(page)  # no cache directory: every page read
    return n, time.process_time() - cpu0


def score(n: int) -> tuple[int, float]:
    sys.path.insert(0, str(HERE))
    from bench_score import write_items

    from vlkd.metrics.score_file import read_lines, score_lines

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "answers.jsonl"
        write_items(path, n)
        cpu0 = time.process_time()
        score_lines(read_lines(path), samples=1000)
        return n, time.process_time() - cpu0


def child(workload: str, setting: str, n: int, student: str) -> None:
    if setting == "vlkd":
        from vlkd.core.cpus import limit_threads

        limit_threads()
    if workload == "train":
        items, cpu = train_steps(n, student)
    elif workload == "ocr":
        items, cpu = ocr_pages(n, setting == "defaults")
    else:
        items, cpu = score(n)
    print(json.dumps({"items": items, "cpu_s": cpu}))


# -- the driver -----------------------------------------------------------------------------
def run_child(workload: str, setting: str, n: int, student: str) -> float:
    env = {k: v for k, v in os.environ.items() if k not in THREAD_ENV}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    out = subprocess.run(
        [sys.executable, __file__, "--child", workload, setting, str(n), student],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode:
        raise SystemExit(f"{workload} ({setting}) failed:\n{out.stderr[-3000:]}")
    got = json.loads(out.stdout.strip().splitlines()[-1])
    return got["cpu_s"] / got["items"]


def busy_loops(n: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6, help="training steps per run")
    parser.add_argument("--pages", type=int, default=4, help="OCR pages per run")
    parser.add_argument("--answers", type=int, default=20_000, help="answers scored per run")
    parser.add_argument("--repeat", type=int, default=2, help="rounds, each A/B alone and beside the loops")
    parser.add_argument("--busy", type=int, default=2, help="busy loops beside the work")
    parser.add_argument("--workloads", default="train,ocr,score")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="a check that it runs (no figure): one round, each workload in each setting once, "
        "one setting alone and the other beside the loops",
    )
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        workload, setting, n, student = args.child
        child(workload, setting, int(n), student)
        return
    sizes = {"train": args.steps, "ocr": args.pages, "score": args.answers}
    units = {"train": "step", "ocr": "page", "score": "1,000 answers"}
    with tempfile.TemporaryDirectory(prefix="vlkd-bench-contention-") as tmp:
        student = ""
        workloads = args.workloads.split(",")
        if "train" in workloads:
            from vlkd.core.student import make_student

            student = str(make_student("tiny:qwen2_vl").family.build_tiny(Path(tmp) / "student"))
        got: dict[tuple[str, str, str], list[float]] = {}
        loads: list[float] = []
        rounds = 1 if args.smoke else args.repeat
        for r in range(rounds):
            for busy in (False, True) if r % 2 == 0 else (True, False):
                loops = busy_loops(args.busy) if busy else []
                try:
                    time.sleep(0.5 if busy else 0)
                    for w, workload in enumerate(workloads):
                        settings = ("defaults", "vlkd") if r % 2 == 0 else ("vlkd", "defaults")
                        if args.smoke:  # half the children: each pair (workload, setting) once
                            settings = (settings[(w + busy) % 2],)
                        for setting in settings:
                            per_item = run_child(workload, setting, sizes[workload], student)
                            scale = 1000 if workload == "score" else 1
                            key = (workload, setting, "busy" if busy else "alone")
                            got.setdefault(key, []).append(per_item * scale)
                            loads.append(os.getloadavg()[0])
                            print(
                                f"    round {r + 1}, {key[2]:5}: {workload} {setting}: {per_item * scale:.3f} "
                                f"CPU-s per {units[workload]} (load {loads[-1]:.1f})",
                                flush=True,
                            )
                finally:
                    for p in loops:
                        p.kill()
                        p.wait()
        print(
            f"CPU seconds per item, median of {rounds}; {os.cpu_count()} CPUs; {args.busy} busy loops "
            f"beside in 'busy'; load average {min(loads):.1f}-{max(loads):.1f} during the runs"
        )
        for workload in workloads:
            for setting in ("defaults", "vlkd"):
                if args.smoke:  # one of alone / beside the loops each: no ratio to show
                    ((where, (cpu,)),) = [(k[2], v) for k, v in got.items() if k[:2] == (workload, setting)]
                    print(
                        f"  {workload:5} per {units[workload]:13} {setting:8}: {where:5} {cpu:7.3f} (smoke run)"
                    )
                    continue
                alone = statistics.median(got[(workload, setting, "alone")])
                busy = statistics.median(got[(workload, setting, "busy")])
                print(
                    f"  {workload:5} per {units[workload]:13} {setting:8}: alone {alone:7.3f}  "
                    f"beside the loops {busy:7.3f}  -> {busy / alone:.2f}x (goal <= 1.3x)"
                )


if __name__ == "__main__":
    main()

"""Evaluation speed on CPU: batched vs one-at-a-time generation, and the bootstrap's cost.

Run by hand (not a test): ``python benchmarks/bench_eval.py [--items 24] [--side 448]``.
Measured side by side in one run:

- answers/s of the tiny Qwen2-VL student with the evaluate stage's batched generation
  (``batch_size`` 8) vs one item per ``generate`` call, the way the seed's script loops;
- seconds for the 95% bootstrap intervals (1000 resamples) of every metric for 1000 items,
  and for the paired interval of the base -> tuned delta.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from vlkd.llamafactory.families import template as lf_template


def bench_generation(items: int, side: int, batch: int) -> dict[str, float]:
    from PIL import Image, ImageDraw

    from vlkd.answering.items import EvalItem, ModelInfo
    from vlkd.answering.local_backend import LocalStudent
    from vlkd.students.qwen2_vl import Qwen2VL

    tmp = Path(tempfile.mkdtemp(prefix="vlkd-bench-eval-"))
    family = Qwen2VL()
    student = family.build_tiny(tmp / "tiny")
    rows = []
    for i in range(items):
        image = Image.new("RGB", (side, side * 3 // 4), (255, 255, 255))
        ImageDraw.Draw(image).text((10, 10), f"扭矩 {30 + i} N·m", fill=(0, 0, 0))
        path = tmp / f"{i}.png"
        image.save(path)
        rows.append(EvalItem(str(i), str(i), str(path), "拧紧力矩是多少？", f"{30 + i} N·m", "manual", False))
    info = ModelInfo("peft", str(student), None, 32 * 32, 768 * 768, lf_template(family), None, family=family)
    backend = LocalStudent(info, max_new_tokens=16, system_prompt=None, device="cpu", dtype="float32")
    backend.generate("base", rows[:1])  # load and warm up
    out = {}
    for name, size in (("one at a time", 1), (f"batched ({batch})", batch)):
        t0 = time.perf_counter()
        for start in range(0, items, size):
            backend.generate("base", rows[start : start + size])
        out[name] = items / (time.perf_counter() - t0)
    return out


def bench_bootstrap(n: int, samples: int) -> dict[str, float]:
    from vlkd.metrics.summary import score_item, summarize

    rng = random.Random(0)
    refs = [rng.choice(["刹车片", "35 N·m", "不存在", "机油滤清器", "P0301"]) for _ in range(n)]
    preds = []
    for i, ref in enumerate(refs):
        for system, p_right in (("base", 0.4), ("tuned", 0.8)):
            answer = ref if rng.random() < p_right else "不存在"
            preds.append(
                {
                    "system": system,
                    "id": str(i),
                    "category": ["a", "b", "c"][i % 3],
                    "scores": score_item(answer, ref, negative=ref == "不存在"),
                }
            )
    t0 = time.perf_counter()
    summarize(preds, systems=["base", "tuned"], samples=samples)
    return {"summarize (2 rows x 4 groups + paired deltas), s": time.perf_counter() - t0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=24)
    parser.add_argument("--side", type=int, default=448, help="image width in pixels")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--bootstrap-items", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=1000)
    args = parser.parse_args()

    gen = bench_generation(args.items, args.side, args.batch)
    base = gen["one at a time"]
    print(f"generation, tiny Qwen2-VL on CPU, {args.items} items, {args.side}px images, 16 new tokens:")
    for name, rate in gen.items():
        print(f"  {name:<16} {rate:6.2f} answers/s   {rate / base:5.2f}x")
    boot = bench_bootstrap(args.bootstrap_items, args.samples)
    print(f"bootstrap, {args.bootstrap_items} items, {args.samples} resamples, 7 metrics:")
    for name, secs in boot.items():
        print(f"  {name}: {secs:.2f}")


if __name__ == "__main__":
    main()

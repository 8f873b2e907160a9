"""Seconds per training step of on-policy distillation against logit_kd and plain SFT, side by side.

    python benchmarks/bench_on_policy.py                      # tiny Qwen2-VL student, 2x teacher, CPU
    python benchmarks/bench_on_policy.py --steps 2 --samples 4

The tiny student (``vlkd student tiny``) and a tiny teacher of its family (``build_tiny(scale=2)``)
are built once; every configuration then trains the same steps on the same dataset through the
peft trainer's own code (``vlkd.plugins.train.standalone``), one after another in this process:

- ``sft``: no distill block;
- ``logit_kd``: the teacher's top-k cached first (``cache s``: the stage's wall time less the
  training loop's), then training from the cache;
- ``on_policy lmbda=1``: every batch sampled by the student (``max_new_tokens``), scored by the
  teacher in memory;
- ``on_policy lmbda=0``: the teacher in memory scores the reviewed answers (no sampling).

``s/step`` is the transformers Trainer's ``train_runtime`` over the steps (the training loop only);
the last column is the ratio to ``logit_kd``. The load average is printed with the figures: on a
shared machine they move with it. Measured, never asserted.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def dataset(root: Path, n: int) -> Path:
    from PIL import Image, ImageDraw

    (root / "images").mkdir(parents=True)
    rows = []
    for i in range(n):
        image = Image.new("RGB", (56, 56), ((i * 40) % 256, 80, 160))
        ImageDraw.Draw(image).rectangle([4, 4, 20 + i, 30], outline=(255, 255, 255))
        image.save(root / "images" / f"{i}.png")
        rows.append(
            {
                "messages": [
                    {"role": "user", "content": "<image>Which warning light is on?"},
                    {"role": "assistant", "content": "the ABS warning light"},
                ],
                "images": [f"images/{i}.png"],
            }
        )
    (root / "train.json").write_text(json.dumps(rows))
    info = {"vlkd_train": {"file_name": "train.json", "formatting": "sharegpt", "columns": {"messages": "messages", "images": "images"}, "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant", "system_tag": "system"}}}  # fmt: skip
    (root / "dataset_info.json").write_text(json.dumps(info))
    card = {"format": "llamafactory", "splits": {"train": "train.json"}, "dataset_info": "dataset_info.json"}
    (root / "vlkd_dataset.json").write_text(
        json.dumps({**card, "media_dir": str(root), "pairs": n, "images": n})
    )
    return root


def report(results: dict[str, dict[str, float]], args: argparse.Namespace) -> None:
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else ["?"] * 3
    kd = results["logit_kd"]
    print(f"{args.steps} steps, batch {args.batch_size}, max_new_tokens {args.max_new_tokens}, CPU")
    print(f"load average {' '.join(load)}")
    print(f"{'config':<20} {'s/step':>8} {'stage wall s':>13} {'x logit_kd':>11}")
    for name, r in results.items():
        print(f"{name:<20} {r['s_step']:>8.2f} {r['wall']:>13.1f} {r['s_step'] / kd['s_step']:>11.2f}")
    print(f"logit_kd's teacher cache (stage wall - loop): {kd['wall'] - kd['loop']:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--max-new-tokens", type=int, default=16)
    args = parser.parse_args()

    from vlkd.core.progress import Reporter
    from vlkd.plugins.train import standalone
    from vlkd.students.qwen2_vl import Qwen2VL

    work = Path(tempfile.mkdtemp(prefix="bench_on_policy-"))
    try:
        student = Qwen2VL().build_tiny(work / "student")
        teacher = Qwen2VL().build_tiny(work / "teacher", scale=2)
        data = dataset(work / "dataset", args.samples)
        options = {
            "max_steps": args.steps,
            "per_device_train_batch_size": args.batch_size,
            "gradient_accumulation_steps": 1,
            "learning_rate": 5e-3,
            "logging_steps": 1,
            "save_steps": 10_000,
            "warmup_ratio": 0.0,
            "report_to": [],
            "lora_target": "all-linear",
            "modules_to_save": ["lm_head"],
        }
        section = {
            "model": str(student),
            "cutoff_len": 256,
            "image_max_pixels": 56 * 56,
            "image_min_pixels": 28 * 28,
        }
        base = {"teacher": str(teacher), "alpha": 0.5, "beta": 0.5}
        configs = {
            "sft": None,
            "logit_kd": {"method": "logit_kd", "top_k": 20, **base},
            "on_policy lmbda=1": {
                "method": "on_policy",
                "lmbda": 1.0,
                "max_new_tokens": args.max_new_tokens,
                **base,
            },
            "on_policy lmbda=0": {"method": "on_policy", "lmbda": 0.0, **base},
        }
        results = {}
        for name, distill in configs.items():
            extra = {"distill": distill} if distill else {}
            trainer = standalone.make_trainer("peft", student=section, dataset=str(data), **options, **extra)
            ctx = standalone.standalone_context(
                work / "runs" / name.replace(" ", "_"), reporter=Reporter(quiet=True)
            )
            start = time.perf_counter()
            trainer.run(ctx)
            wall = time.perf_counter() - start
            loop = ctx.facts["train_runtime"]
            results[name] = {"s_step": loop / ctx.facts["global_step"], "wall": wall, "loop": loop}
        report(results, args)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

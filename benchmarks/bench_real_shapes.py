"""Two training steps of each trainer on a randomly initialised student of a real 2B shape, on the CPU
(issue #25, item 8: what only real shapes show, without a GPU).

    python benchmarks/bench_real_shapes.py                     # Qwen2-VL-2B's shape, every layer
    python benchmarks/bench_real_shapes.py --layers 4          # the first 4 text and 4 vision layers
    python benchmarks/bench_real_shapes.py --shape tiny        # the tiny offline student (a smoke run)

The student is the family's tiny offline student (its tokenizer, processor and chat template) with
its weights swapped for a random model of the released checkpoint's shape (``bench_train.GPU_SHAPES``:
Qwen2-VL-2B-Instruct's config.json, every layer, the real module names), built from transformers'
config class, nothing downloaded. Each path trains ``--steps`` optimizer steps (batch 1, gradient
checkpointing, fp32 as the peft trainer uses on a CPU, LoRA on every linear layer) in a fresh worker
process, through the code ``vlkd run`` uses (``vlkd.plugins.train.standalone``):

- ``peft``: LoRA SFT on the answers;
- ``logit_kd``: the same with ``distill: {method: logit_kd, top_k: 20}``, the teacher's top-k
  log-probabilities fabricated in the run's cache at the real vocabulary's ids and the answers' real
  token counts (the teacher is never loaded: the cache is what a student's training reads);
- ``llamafactory``: ``llamafactory-cli train`` on the same dataset (its child process measured).

Reported per path: the whole stage's wall time, the trainer's seconds per step, and peak RSS (the
heaviest process). Before anything loads, the script checks ``MemAvailable`` against what the shape
needs and stops with the figure when it does not fit. Measured, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_train import GPU_SHAPES, make_dataset, random_2b_config

PATHS = ("peft", "logit_kd", "llamafactory")
TOP_K = 20


def build_student(tiny: Path, out_dir: Path, family: str, layers: int | None) -> tuple[Path, int]:
    """The real shape (or its first ``layers`` text and vision blocks) with random bf16 weights
    and the tiny student's tokenizer and processor; returns the directory and its parameter count."""
    import torch

    from vlkd.api import make_student

    config = random_2b_config(tiny, family)
    if layers:
        config.text_config.num_hidden_layers = layers
        config.text_config.max_window_layers = layers
        if getattr(config.text_config, "layer_types", None):
            config.text_config.layer_types = config.text_config.layer_types[:layers]
        config.vision_config.depth = layers
    model_class = make_student(f"tiny:{family}").family.model_class_object()
    torch.manual_seed(0)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)  # built in bf16: half the memory of fp32, then saved
    try:
        model = model_class(config)
    finally:
        torch.set_default_dtype(previous)
    params = sum(p.numel() for p in model.parameters())
    model.save_pretrained(out_dir)
    del model
    for f in tiny.iterdir():
        if f.is_file() and f.name not in ("config.json", "model.safetensors", "generation_config.json"):
            shutil.copy2(f, out_dir / f.name)
    return out_dir, params


def fabricate_cache(job: dict, samples: list, family_name: str) -> int:
    """The cache entries a logit_kd training reads, for every sample, of the right shapes: the
    answer's token count (from the student's own collator) x ``top_k`` sorted log-probabilities
    over random ids of the real vocabulary. Returns how many answer tokens they cover."""
    import torch

    from vlkd.api import family_of
    from vlkd.plugins.train.peft_collator import IGNORE_INDEX, ChatCollator
    from vlkd.plugins.train.teacher_cache import cache_for

    o = job["options"]
    family = family_of(job["student"], family_name)
    processor = family.load_processor(job["student"], o["image_min_pixels"], o["image_max_pixels"])
    collator = ChatCollator(processor, family, o["cutoff_len"])
    cache = cache_for(job)
    vocab = json.loads((Path(job["student"]) / "config.json").read_text())["text_config"]["vocab_size"]
    generator = torch.Generator().manual_seed(0)
    tokens = 0
    for sample in samples:
        labels = collator([sample])["labels"][0]
        n = int((labels[1:] != IGNORE_INDEX).sum())
        ids = torch.randint(0, vocab, (n, TOP_K), generator=generator, dtype=torch.int32)
        log_probs = torch.log_softmax(torch.randn(n, vocab // 1000 + TOP_K, generator=generator), -1)
        cache.save(sample, ids, log_probs.topk(TOP_K, dim=-1).values)
        tokens += n
    return tokens


def worker(task: dict) -> dict:
    """One path, one process: train, then the figures."""
    from vlkd.plugins.train.dataset import load_dataset_dir
    from vlkd.plugins.train.standalone import make_trainer, standalone_context

    path, run_dir = task["path"], Path(task["run_dir"])
    student = {
        "model": task["student"],
        "family": task["family"],
        "cutoff_len": 1024,
        "image_min_pixels": task["pixels"],
        "image_max_pixels": task["pixels"],
    }
    options = {
        "dataset": task["dataset"],
        "max_steps": task["steps"],
        "lora_target": "all-linear",
        "lora_rank": 8,
        "per_device_train_batch_size": 1,
        "gradient_accumulation_steps": 1,
        "gradient_checkpointing": True,
        "learning_rate": 1e-4,
        "warmup_ratio": 0.0,
        "logging_steps": 1,
        "save_steps": 10**6,
        "report_to": [],
        "precision": "fp32",
    }
    name = "llamafactory" if path == "llamafactory" else "peft"
    if path == "logit_kd":
        # the student's own directory as the teacher: same family and vocabulary, so validation passes;
        # every sample is in the cache, so it is never loaded
        options["distill"] = {"method": "logit_kd", "teacher": task["student"], "top_k": TOP_K, "alpha": 0.5}
    if path == "llamafactory":
        options["use_liger_kernel"] = False
    trainer = make_trainer(name, student, **options)
    ctx = standalone_context(run_dir)
    figures: dict = {"path": path}
    if path == "logit_kd":
        from vlkd.plugins.train.base import TrainPlan
        from vlkd.plugins.train.hardware import Hardware, resolve_precision

        data = load_dataset_dir(task["dataset"])
        plan = TrainPlan(
            task["student"],
            data,
            resolve_precision("fp32", None, Hardware.detect()),
            Hardware.detect(),
            ctx.dir / "output",
            ctx.dir / "model",
            None,
            run_dir,
        )
        figures["teacher_tokens"] = fabricate_cache(trainer.job(plan), data.splits["train"], task["family"])
    started = time.perf_counter()
    trainer.run(ctx)
    figures["wall_s"] = time.perf_counter() - started
    log = ctx.dir / "output" / "trainer_log.jsonl"
    rows = [json.loads(x) for x in log.read_text().splitlines() if x.strip()] if log.is_file() else []
    times = [r["elapsed_time"] for r in rows if "elapsed_time" in r and r.get("loss") is not None]
    runtime = ctx.facts.get("train_runtime")
    if runtime is None and (ctx.dir / "output" / "all_results.json").is_file():
        runtime = json.loads((ctx.dir / "output" / "all_results.json").read_text()).get("train_runtime")
    figures["train_runtime_s"] = runtime
    figures["s_per_step"] = runtime / task["steps"] if runtime else None
    figures["step_times"] = times
    figures["teacher_samples_computed"] = ctx.facts.get("teacher_samples_computed")
    figures["peak_rss_mib"] = (
        max(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
        )
        / 1024
    )
    return figures


def run_worker(task: dict) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "--worker", json.dumps(task)], capture_output=True, text=True
    )
    lines = [x for x in done.stdout.splitlines() if x.startswith("BENCH ")]
    if done.returncode != 0 or not lines:
        return {"path": task["path"], "error": (done.stderr or done.stdout)[-1500:]}
    return json.loads(lines[-1][6:])


def mem_available_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 2**20
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--family", default="qwen2_vl", choices=sorted(GPU_SHAPES))
    parser.add_argument("--shape", default="real", choices=("real", "tiny"), help="tiny: a smoke run")
    parser.add_argument("--layers", type=int, default=None, help="text and vision blocks kept [every one]")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--image-size", type=int, default=224, help="square images (224: 64 visual tokens)")
    parser.add_argument("--paths", default=",".join(PATHS))
    parser.add_argument("--keep", type=Path, default=None, help="work directory to keep")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print("BENCH " + json.dumps(worker(json.loads(args.worker))), flush=True)
        return
    from vlkd.api import make_student

    work = args.keep or Path(tempfile.mkdtemp(prefix="vlkd-bench-shapes-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        family = make_student(f"tiny:{args.family}").family
        student = Path(family.build_tiny(work / f"tiny-{args.family}"))
        label = "tiny:" + args.family
        if args.shape == "real":
            # bf16 weights to build and save; fp32 to train (x2) with LoRA's and the optimizer's share
            params = 2.3e9 if args.layers is None else None
            need = (params or 0) * 2 / 2**30 * 3.2
            free = mem_available_gib()
            if need and free < need:
                sys.exit(
                    f"MemAvailable {free:.1f} GiB < about {need:.1f} GiB that a {GPU_SHAPES[args.family][0]} "
                    "training step needs on the CPU (fp32 weights, activations): free memory, or use --layers N"
                )
            t0 = time.perf_counter()
            student, params = build_student(student, work / "real", args.family, args.layers)
            label = (
                f"random {GPU_SHAPES[args.family][0]} shape"
                + (f", first {args.layers} text and vision blocks" if args.layers else ", every layer")
                + f" ({params / 1e9:.2f}B parameters, built in {time.perf_counter() - t0:.0f} s)"
            )
        dataset = make_dataset(work / "dataset", args.samples, args.image_size)
        side = args.image_size
        print(f"load average before: {os.getloadavg()}; MemAvailable {mem_available_gib():.1f} GiB")
        print(
            f"student: {label}; CPU ({os.cpu_count()} cores), fp32, gradient checkpointing, batch 1, "
            f"{args.steps} steps, {side}px images ({family.image_tokens(side, side, side * side, side * side)} "
            "visual tokens), LoRA r=8 all-linear"
        )
        results = []
        for path in args.paths.split(","):
            task = {
                "path": path,
                "student": str(student),
                "family": args.family,
                "dataset": str(dataset),
                "run_dir": str(work / f"run-{path}"),
                "steps": args.steps,
                "pixels": side * side,
            }
            results.append(run_worker(task))
            print(f"  {path}: {json.dumps(results[-1])[:300]}", flush=True)
        print(f"load average after: {os.getloadavg()}")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    print(f"{'path':14} {'wall s':>8} {'s/step':>8} {'peak RSS MiB':>13}  note")
    for r in results:
        if "error" in r:
            print(
                f"{r['path']:14} {'-':>8} {'-':>8} {'-':>13}  failed: {r['error'].strip().splitlines()[-1]}"
            )
            continue
        note = f"teacher: {r['teacher_tokens']} cached answer tokens" if r.get("teacher_tokens") else ""
        s_step = "-" if r["s_per_step"] is None else f"{r['s_per_step']:.1f}"
        print(f"{r['path']:14} {r['wall_s']:8.1f} {s_step:>8} {r['peak_rss_mib']:13.0f}  {note}")
    if any("error" in r for r in results):
        sys.exit(1)


if __name__ == "__main__":
    main()

"""Two training steps of each trainer on a randomly initialised student of a real 2B shape, on the CPU
(issue #25, item 8: what only real shapes show, without a GPU).

    python benchmarks/bench_real_shapes.py                     # Qwen2-VL-2B's shape, every layer
    python benchmarks/bench_real_shapes.py --keep /tmp/shapes  # keep (and next time reuse) the built model
    python benchmarks/bench_real_shapes.py --layers 4          # the first 4 text and 4 vision layers
    python benchmarks/bench_real_shapes.py --shape tiny --steps 1 --samples 2 --image-size 56  # smoke run

The student is the family's tiny offline student (its tokenizer, processor and chat template) with
its weights swapped for a random model of the released checkpoint's shape (``bench_train.GPU_SHAPES``:
Qwen2-VL-2B-Instruct's config.json, every layer, the real module names), built from transformers'
config class, nothing downloaded. The sequence is short on purpose (56 px images: 4 visual tokens,
and some 40 tokens in all), so a step costs what the parameters cost. Each path trains ``--steps``
optimizer steps (batch 1, gradient checkpointing, fp32 as the peft trainer uses on a CPU, LoRA on
every linear layer of the language model) in a fresh worker process, one at a time, through the code
``vlkd run`` uses (``vlkd.plugins.train.standalone``):

- ``profile`` (first, real shape only): one peft step taken apart: forward and backward of the
  vision tower, the text layers and lm_head + loss, the optimizer step, wall and CPU seconds, and
  resident memory after loading (parameters), at the backward's peak (activations) and after the
  optimizer step;
- ``peft``: LoRA SFT on the answers;
- ``logit_kd``: the same with ``distill: {method: logit_kd, top_k: 20}``, the teacher's top-k
  log-probabilities fabricated in the run's cache at the real vocabulary's ids and the answers' real
  token counts (the teacher is never loaded: the cache is what a student's training reads);
- ``llamafactory``: ``llamafactory-cli train`` on the same dataset (its child process measured).

Reported per path: the whole stage's wall time, the trainer's seconds per step, and peak RSS (the
heaviest process). Before anything loads, the script checks ``MemAvailable`` against what the shape
needs and stops with the figure when it does not fit; while a worker runs, it is stopped when
``MemAvailable`` drops under ``--floor-gib`` (the machine is shared). Measured, never asserted.
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

    if (out_dir / "params.json").is_file():  # built by an earlier run with --keep
        return out_dir, json.loads((out_dir / "params.json").read_text())["params"]
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
    (out_dir / "params.json").write_text(json.dumps({"params": params}))
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


def rss_mib() -> tuple[float, float]:
    """(current, peak since the last reset) resident memory of this process, MiB."""
    status = dict(x.split(":", 1) for x in Path("/proc/self/status").read_text().splitlines() if ":" in x)
    return int(status["VmRSS"].split()[0]) / 1024, int(status["VmHWM"].split()[0]) / 1024


def reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS (Linux >= 4.0)


def profile(task: dict, trainer, plan) -> dict:
    """One step of the peft trainer's model, taken apart: forward per part (vision tower, text
    layers, lm_head + loss), backward per part (from tensor hooks at the parts' borders), the
    optimizer step, and resident memory after each (parameters, then activations, then the
    optimizer's state). The model is prepared as ``peft_worker.train`` prepares it."""
    import torch
    from peft import LoraConfig, get_peft_model

    from vlkd.plugins.train.dataset import load_dataset_dir
    from vlkd.plugins.train.peft_collator import ChatCollator
    from vlkd.plugins.train.peft_worker import job_family, load_student, target_modules

    job = trainer.job(plan)
    o = job["options"]
    family = job_family(job)
    before_load = rss_mib()[0]
    processor, model = load_student(job, family)
    model.enable_input_require_grads()
    model.config.use_cache = False
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": True})
    lora = LoraConfig(
        r=o["lora_rank"],
        lora_alpha=o["lora_alpha"],
        target_modules=target_modules(o["lora_target"], model),
        task_type="CAUSAL_LM",
    )
    model = get_peft_model(model, lora)
    model.train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    n_all = sum(p.numel() for p in model.parameters())
    n_train = sum(p.numel() for p in trainable)
    optimizer = torch.optim.AdamW(trainable, lr=1e-4)
    samples = load_dataset_dir(task["dataset"]).splits["train"]
    batch = ChatCollator(processor, family, o["cutoff_len"])([samples[0]])
    loaded = rss_mib()[0]

    marks: dict[str, float] = {}
    spans: dict[str, float] = {}

    def timed(name: str, module) -> None:
        def pre(_m, _a):
            marks[name] = time.perf_counter()

        def post(_m, _a, out):
            spans[name] = spans.get(name, 0.0) + time.perf_counter() - marks[name]
            tensor = (
                out
                if torch.is_tensor(out)
                else next(
                    (
                        t
                        for t in (
                            getattr(out, "pooler_output", None),
                            getattr(out, "last_hidden_state", None),
                        )
                        if torch.is_tensor(t)
                    ),
                    None,
                )
            )
            if tensor is not None and tensor.requires_grad and torch.is_grad_enabled():
                tensor.register_hook(lambda g: marks.__setitem__(f"grad@{name}", time.perf_counter()))

        module.register_forward_pre_hook(pre)
        module.register_forward_hook(post)

    modules = dict(model.named_modules())
    vision = next(m for n, m in modules.items() if n.split(".")[-1] in ("visual", "vision_tower"))
    text = next(m for n, m in modules.items() if n.endswith("language_model") and hasattr(m, "layers"))
    head = next(m for n, m in modules.items() if n.endswith("lm_head"))
    timed("vision", vision)
    timed("text", text)
    timed("head", head)
    rows = []
    for _ in range(2):  # the second step is reported: the first one allocates
        spans.clear()
        marks.clear()
        reset_peak()
        c0 = time.process_time()
        t0 = time.perf_counter()
        loss = model(**batch).loss
        t1 = time.perf_counter()
        after_forward = rss_mib()
        loss.backward()
        t2 = time.perf_counter()
        after_backward = rss_mib()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        t3 = time.perf_counter()
        rows.append(
            {
                "forward_s": t1 - t0,
                "fwd_vision_s": spans.get("vision", 0.0),
                "fwd_text_s": spans.get("text", 0.0),
                "fwd_head_loss_s": (t1 - t0) - spans.get("vision", 0.0) - spans.get("text", 0.0),
                "backward_s": t2 - t1,
                # backward runs lm_head+loss first, then the text layers, then the vision tower
                "bwd_head_loss_s": marks.get("grad@text", t2) - t1,
                "bwd_text_s": marks.get("grad@vision", t2) - marks.get("grad@text", t1),
                "bwd_vision_s": t2 - marks.get("grad@vision", t2),
                "optimizer_s": t3 - t2,
                "step_s": t3 - t0,
                "cpu_s": time.process_time() - c0,  # both threads: 2 x step_s when idle on 2 cores
                "peak_forward_mib": after_forward[1],
                "peak_backward_mib": after_backward[1],
                "rss_after_step_mib": rss_mib()[0],
            }
        )
    return {
        "path": "profile",
        "tokens": int(batch["input_ids"].shape[1]),
        "visual_tokens": int((batch["input_ids"] == model.config.image_token_id).sum()),
        "params": n_all,
        "trainable": n_train,
        "threads": torch.get_num_threads(),
        "rss_before_load_mib": before_load,
        "rss_loaded_mib": loaded,
        "steps": rows,
    }


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
    if path in ("logit_kd", "profile"):
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
        if path == "profile":
            return profile(task, trainer, plan)
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


def run_worker(task: dict, floor_gib: float) -> dict:
    """The worker in its own process group, stopped (with its children: llamafactory-cli) when the
    machine's ``MemAvailable`` drops under ``floor_gib``: the machine is shared."""
    import signal

    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(
            [sys.executable, __file__, "--worker", json.dumps(task)],
            stdout=out,
            stderr=err,
            text=True,
            start_new_session=True,
        )
        lowest = mem_available_gib()
        while proc.poll() is None:
            time.sleep(1)
            lowest = min(lowest, mem_available_gib())
            if lowest < floor_gib:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                return {
                    "path": task["path"],
                    "error": f"stopped: MemAvailable {lowest:.1f} GiB < {floor_gib} GiB",
                }
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    lines = [x for x in stdout.splitlines() if x.startswith("BENCH ")]
    if proc.returncode != 0 or not lines:
        return {"path": task["path"], "error": (stderr or stdout)[-1500:]}
    return {**json.loads(lines[-1][6:]), "lowest_available_gib": round(lowest, 1)}


def mem_available_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 2**20
    return float("nan")


def print_profile(r: dict) -> None:
    """One peft step taken apart (the second of two: the first allocates)."""
    step = r["steps"][-1]
    print(
        f"profile: {r['params'] / 1e9:.2f}B parameters ({r['trainable'] / 1e6:.1f}M trainable), "
        f"{r['tokens']} tokens of which {r['visual_tokens']} visual; step {step['step_s']:.1f} s wall, "
        f"{step['cpu_s']:.1f} s CPU (torch threads: {r['threads']})"
    )
    for what, key in (
        ("forward: vision tower", "fwd_vision_s"),
        ("forward: text layers", "fwd_text_s"),
        ("forward: lm_head + loss", "fwd_head_loss_s"),
        ("backward: lm_head + loss", "bwd_head_loss_s"),
        ("backward: text layers", "bwd_text_s"),
        ("backward: vision tower", "bwd_vision_s"),
        ("optimizer step", "optimizer_s"),
    ):
        print(f"  {what:26} {step[key]:7.2f} s  {100 * step[key] / step['step_s']:5.1f}%")
    params = r["rss_loaded_mib"] - r["rss_before_load_mib"]
    print(
        f"  memory: {r['rss_before_load_mib']:.0f} MiB before the model, +{params:.0f} MiB parameters "
        f"(fp32), forward peak {step['peak_forward_mib']:.0f} MiB, backward peak "
        f"{step['peak_backward_mib']:.0f} MiB (activations: +{step['peak_backward_mib'] - r['rss_loaded_mib']:.0f}), "
        f"after the optimizer step {step['rss_after_step_mib']:.0f} MiB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--family", default="qwen2_vl", choices=sorted(GPU_SHAPES))
    parser.add_argument("--shape", default="real", choices=("real", "tiny"), help="tiny: a smoke run")
    parser.add_argument("--layers", type=int, default=None, help="text and vision blocks kept [every one]")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--samples", type=int, default=2)
    parser.add_argument("--image-size", type=int, default=56, help="square images (56: 4 visual tokens)")
    parser.add_argument(
        "--paths", default=None, help=f"[profile,{','.join(PATHS)}; with --shape tiny: {','.join(PATHS)}]"
    )
    parser.add_argument("--floor-gib", type=float, default=4.0, help="stop a worker under this MemAvailable")
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
        paths = args.paths or ",".join(PATHS if args.shape == "tiny" else ("profile", *PATHS))
        for path in paths.split(","):
            task = {
                "path": path,
                "student": str(student),
                "family": args.family,
                "dataset": str(dataset),
                "run_dir": str(work / f"run-{path}"),
                "steps": args.steps,
                "pixels": side * side,
            }
            results.append(run_worker(task, args.floor_gib))
            print(f"  {path}: {json.dumps(results[-1])[:300]}", flush=True)
        print(f"load average after: {os.getloadavg()}")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    for r in results:
        if r["path"] == "profile" and "steps" in r:
            print_profile(r)
    print(f"{'path':14} {'wall s':>8} {'s/step':>8} {'peak RSS MiB':>13}  note")
    for r in results:
        if r["path"] == "profile" and "steps" in r:
            continue
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

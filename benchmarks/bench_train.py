"""Steps/s, tokens/s and peak memory of the two trainers, side by side in one run.

    python benchmarks/bench_train.py                 # CPU: the tiny offline Qwen2-VL
    python benchmarks/bench_train.py --gpu           # CUDA: a randomly initialised Qwen2-VL-2B-shaped model
    python benchmarks/bench_train.py --gpu --family qwen2_5_vl   # ... Qwen2.5-VL-3B's shape
    python benchmarks/bench_train.py --gpu --family qwen3_vl     # ... Qwen3-VL-2B's shape
    python benchmarks/bench_train.py --gpu --qlora   # each trainer with LoRA and with 4-bit QLoRA

``--gpu`` builds the family's tiny student (its tokenizer and processor) and swaps in a random
bf16 model of the real checkpoint's shape (``GPU_SHAPES``). ``--qlora`` adds a pass of each
trainer with ``quantization_bit: 4`` (bitsandbytes; CUDA only).

Each trainer runs in a fresh worker process (so one's memory does not count for the other)
on the same dataset, student and options, through the same code path as ``vlkd run``
(``vlkd.plugins.train.standalone``). Reported per trainer:

- wall: the whole stage (imports, checks, model load, training, saving), as a user waits;
- steps/s and tokens/s: the transformers Trainer's own ``train_runtime`` (training loop only);
- peak RSS of the heaviest process (for llamafactory: the llamafactory-cli child) and, with
  ``--gpu``, peak GPU memory (torch's max allocated; LLaMA-Factory's RECORD_VRAM log).

The last column is llamafactory / peft. Figures are measured, never asserted.
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

#: Qwen2-VL-2B-Instruct's shape (config.json of the hub checkpoint)
QWEN2_VL_2B: dict = {
    "text": {
        "hidden_size": 1536,
        "intermediate_size": 8960,
        "num_hidden_layers": 28,
        "num_attention_heads": 12,
        "num_key_value_heads": 2,
        "vocab_size": 151936,
        "max_position_embeddings": 32768,
        "max_window_layers": 28,
        "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [16, 24, 24]},
    },
    "vision": {
        "depth": 32,
        "embed_dim": 1280,
        "hidden_size": 1536,
        "mlp_ratio": 4,
        "num_heads": 16,
        "in_channels": 3,
        "patch_size": 14,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
    },
}

#: Qwen2.5-VL-3B-Instruct's shape (the smallest Qwen2.5-VL). Text sizes, vocab, rope and tied
#: embeddings: the hub config.json (hidden_size 2048, intermediate_size 11008, 36 layers, 16 heads,
#: 2 kv heads, mrope_section 16/24/24); its vision_config names only hidden_size 1280 and
#: out_hidden_size 2048 and leaves the rest to transformers' Qwen2_5_VLVisionConfig defaults
#: (depth 32, intermediate_size 3420, 16 heads, window 112, full attention in blocks 7/15/23/31),
#: which a printed module tree of a released Qwen2.5-VL confirms (32 blocks, MLP 1280 -> 3420).
QWEN2_5_VL_3B: dict = {
    "text": {
        "hidden_size": 2048,
        "intermediate_size": 11008,
        "num_hidden_layers": 36,
        "num_attention_heads": 16,
        "num_key_value_heads": 2,
        "vocab_size": 151936,
        "max_position_embeddings": 128000,
        "max_window_layers": 70,
        "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [16, 24, 24]},
    },
    "vision": {
        "depth": 32,
        "hidden_size": 1280,
        "intermediate_size": 3420,
        "num_heads": 16,
        "out_hidden_size": 2048,
        "in_channels": 3,
        "patch_size": 14,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
        "window_size": 112,
        "fullatt_block_indexes": [7, 15, 23, 31],
    },
}

#: Qwen3-VL-2B-Instruct's shape. No copy of its config.json was at hand; the numbers come from
#: public descriptions of it: hidden_size 2048, intermediate_size 6144, 28 layers, head_dim 128
#: (a vLLM benchmark note's table of Qwen3-VL-2B-Instruct/config.json), 16 attention heads and vocab
#: 151936 (a third-party Qwen3-VL-2B config class); 8 kv heads and tied embeddings are the Qwen3-1.7B
#: language model's (not confirmed here); rope 5e6 with interleaved mrope 24/20/20 as in every
#: released Qwen3-VL config.json; vision (depth 24, width 1024, intermediate 4096, 16 heads, out
#: 2048, 2304 position embeddings, deepstack 5/11/17) from sgl-jax's Qwen3VLVisionConfig defaults
#: for the 2B. Check against the hub file before quoting a figure as Qwen3-VL-2B's.
QWEN3_VL_2B: dict = {
    "text": {
        "hidden_size": 2048,
        "intermediate_size": 6144,
        "num_hidden_layers": 28,
        "num_attention_heads": 16,
        "num_key_value_heads": 8,
        "head_dim": 128,
        "vocab_size": 151936,
        "max_position_embeddings": 262144,
        "rope_parameters": {
            "rope_type": "default",
            "rope_theta": 5000000.0,
            "mrope_section": [24, 20, 20],
            "mrope_interleaved": True,
        },
    },
    "vision": {
        "depth": 24,
        "hidden_size": 1024,
        "intermediate_size": 4096,
        "num_heads": 16,
        "out_hidden_size": 2048,
        "in_channels": 3,
        "patch_size": 16,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
        "num_position_embeddings": 2304,
        "deepstack_visual_indexes": [5, 11, 17],
    },
}

#: family -> (what the report calls it, its 2B-scale shape)
GPU_SHAPES: dict[str, tuple[str, dict]] = {
    "qwen2_vl": ("Qwen2-VL-2B", QWEN2_VL_2B),
    "qwen2_5_vl": ("Qwen2.5-VL-3B", QWEN2_5_VL_3B),
    "qwen3_vl": ("Qwen3-VL-2B", QWEN3_VL_2B),
}


def random_2b_config(tiny: Path, family: str) -> object:
    """The family's 2B-scale config (``GPU_SHAPES``) with the tiny student's special-token ids, in
    the tiny's own config class (Qwen2VLConfig, Qwen2_5_VLConfig, Qwen3VLConfig)."""
    from transformers import AutoConfig

    shape = GPU_SHAPES[family][1]
    tiny_cfg = AutoConfig.from_pretrained(tiny)
    ids = {
        k: getattr(tiny_cfg, k)
        for k in ("image_token_id", "video_token_id", "vision_start_token_id", "vision_end_token_id")
    }
    text = {
        **shape["text"],
        "bos_token_id": tiny_cfg.text_config.bos_token_id,
        "eos_token_id": tiny_cfg.text_config.eos_token_id,
        "pad_token_id": tiny_cfg.text_config.pad_token_id,
        "tie_word_embeddings": True,
    }
    return type(tiny_cfg)(text_config=text, vision_config=shape["vision"], tie_word_embeddings=True, **ids)


def build_random_2b(tiny: Path, out_dir: Path, family: str = "qwen2_vl") -> Path:
    """The family's 2B-scale architecture with random bf16 weights and the tiny student's
    tokenizer/processor (built by the family's own tiny builder)."""
    import torch

    from vlkd.core.student import make_student

    if (out_dir / "model.safetensors.index.json").exists() or (out_dir / "model.safetensors").exists():
        return out_dir
    config = random_2b_config(tiny, family)
    model_class = make_student(f"tiny:{family}").family.model_class_object()
    torch.manual_seed(0)
    with torch.device("cuda" if torch.cuda.is_available() else "cpu"):
        model = model_class(config).to(torch.bfloat16)
    model.save_pretrained(out_dir)
    for f in tiny.iterdir():
        if f.name not in ("config.json", "model.safetensors", "generation_config.json") and f.is_file():
            shutil.copy2(f, out_dir / f.name)
    del model
    return out_dir


def make_dataset(root: Path, n: int, size: int) -> Path:
    from PIL import Image, ImageDraw

    questions = [
        ("What part is shown?", "brake pad"),
        ("图中是什么零件?", "刹车片"),
        ("Which warning light is on?", "ABS"),
        ("Is a spark plug present?", "不存在"),
    ]
    (root / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        image = Image.new("RGB", (size, size), ((i * 37) % 256, 90, 160))
        ImageDraw.Draw(image).rectangle([4, 4, size // 2 + i, size // 3], outline=(255, 255, 255))
        image.save(root / "images" / f"{i:03d}.png")
        q, a = questions[i % len(questions)]
        rows.append(
            {
                "messages": [{"role": "user", "content": f"<image>{q}"}, {"role": "assistant", "content": a}],
                "images": [f"images/{i:03d}.png"],
            }
        )
    (root / "train.json").write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    (root / "dataset_info.json").write_text(
        json.dumps(
            {
                "vlkd_train": {
                    "file_name": "train.json",
                    "formatting": "sharegpt",
                    "columns": {"messages": "messages", "images": "images"},
                    "tags": {
                        "role_tag": "role",
                        "content_tag": "content",
                        "user_tag": "user",
                        "assistant_tag": "assistant",
                        "system_tag": "system",
                    },
                }
            }
        ),
        encoding="utf-8",
    )
    (root / "vlkd_dataset.json").write_text(
        json.dumps(
            {
                "format": "llamafactory",
                "splits": {"train": "train.json"},
                "dataset_info": "dataset_info.json",
                "media_dir": str(root),
                "pairs": n,
                "images": n,
            }
        ),
        encoding="utf-8",
    )
    return root


def trainer_options(args: argparse.Namespace, student: str, dataset: str) -> dict:
    options = {
        "dataset": dataset,
        "max_steps": args.steps,
        "lora_target": "all-linear",
        "per_device_train_batch_size": args.batch_size,
        "gradient_accumulation_steps": 1,
        "learning_rate": 1e-4,
        "warmup_ratio": 0.0,
        "logging_steps": 1,
        "save_steps": 10**6,
        "report_to": [],
        "loraplus_lr_ratio": None,
        "optim": "adamw_torch",
    }
    if args.quantization_bit:
        options["quantization_bit"] = args.quantization_bit
    return options


def worker(args: argparse.Namespace) -> None:
    """One trainer, one process: train, then print the figures as one JSON line."""
    from vlkd.plugins.train.standalone import make_trainer, standalone_context

    options = trainer_options(args, args.student, args.dataset)
    if args.worker == "llamafactory":
        options["args"] = {"include_num_input_tokens_seen": True}
        options["use_liger_kernel"] = False  # like for like: the peft trainer has no Liger kernels
        if args.gpu:
            os.environ["RECORD_VRAM"] = "1"
    student = {
        "model": args.student,
        "family": args.family,
        "cutoff_len": 2048,
        # every image at its own size (was a floor of Qwen2-VL's 28x28 block for every family)
        "image_min_pixels": args.image_size * args.image_size,
        "image_max_pixels": args.image_size * args.image_size,
    }
    trainer = make_trainer(args.worker, student, **options)
    ctx = standalone_context(Path(args.run_dir))
    t0 = time.perf_counter()
    trainer.run(ctx)
    wall = time.perf_counter() - t0
    out = ctx.dir / "output"
    figures = {"trainer": args.worker + (" qlora" if args.quantization_bit else ""), "wall_s": wall}
    if args.worker == "peft":
        runtime, steps_s = ctx.facts["train_runtime"], ctx.facts["train_steps_per_second"]
        tokens, gpu = ctx.facts.get("num_input_tokens_seen"), ctx.facts.get("peak_gpu_memory_gib")
    else:
        results = json.loads((out / "all_results.json").read_text())
        runtime, steps_s = results["train_runtime"], results["train_steps_per_second"]
        tokens = results.get("num_input_tokens_seen")
        log = [json.loads(x) for x in (out / "trainer_log.jsonl").read_text().splitlines()]
        vram = [r["vram_allocated"] for r in log if "vram_allocated" in r]
        gpu = max(vram) if vram else None
    figures.update(
        train_runtime_s=runtime,
        steps_per_s=steps_s,
        tokens_per_s=tokens / runtime if tokens and runtime else None,
        peak_gpu_gib=gpu,
        peak_rss_mib=max(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
        )
        / 1024,
    )
    print("BENCH " + json.dumps(figures), flush=True)


def median(values: list) -> object:
    nums = sorted(v for v in values if isinstance(v, int | float))
    if not nums:
        return values[0]
    mid = len(nums) // 2
    return nums[mid] if len(nums) % 2 else (nums[mid - 1] + nums[mid]) / 2


def run_worker(
    name: str, args: argparse.Namespace, student: Path, dataset: Path, work: Path, qlora: bool = False
) -> dict:
    run_dir = work / f"run-{name}{'-qlora' if qlora else ''}"
    cmd = (
        [
            sys.executable,
            __file__,
            "--worker",
            name,
            "--student",
            str(student),
            "--dataset",
            str(dataset),
            "--run-dir",
            str(run_dir),
            "--steps",
            str(args.steps),
            "--batch-size",
            str(args.batch_size),
            "--image-size",
            str(args.image_size),
            "--family",
            args.family,
        ]
        + (["--gpu"] if args.gpu else [])
        + (["--quantization-bit", "4"] if qlora else [])
    )
    proc = subprocess.run(cmd, capture_output=True, text=True)
    lines = [x for x in proc.stdout.splitlines() if x.startswith("BENCH ")]
    if proc.returncode != 0 or not lines:
        sys.exit(f"{name} failed (exit {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1][6:])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--gpu",
        action="store_true",
        help="a random model of the family's 2B-scale shape on CUDA ("
        + ", ".join(f"{f}: {n}" for f, (n, _) in GPU_SHAPES.items())
        + ")",
    )
    parser.add_argument(
        "--qlora",
        action="store_true",
        help="also run each trainer with 4-bit QLoRA (bitsandbytes, CUDA only)",
    )
    parser.add_argument("--steps", type=int, default=None, help="optimiser steps [20 CPU, 30 GPU]")
    parser.add_argument("--batch-size", type=int, default=None, help="[4 CPU, 2 GPU]")
    parser.add_argument(
        "--image-size", type=int, default=None, help="square images, pixels a side [224 CPU, 448 GPU]"
    )
    parser.add_argument("--samples", type=int, default=32)
    parser.add_argument("--trainers", default="peft,llamafactory")
    parser.add_argument("--repeat", type=int, default=1, help="runs per trainer, interleaved; medians shown")
    parser.add_argument(
        "--keep", type=Path, default=None, help="work directory to keep (default: a temporary one)"
    )
    parser.add_argument("--family", default="qwen2_vl", help="student family (vlkd student families)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--student", help=argparse.SUPPRESS)
    parser.add_argument("--dataset", help=argparse.SUPPRESS)
    parser.add_argument("--run-dir", help=argparse.SUPPRESS)
    parser.add_argument("--quantization-bit", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.steps = args.steps or (30 if args.gpu else 20)
    args.batch_size = args.batch_size or (2 if args.gpu else 4)
    args.image_size = args.image_size or (448 if args.gpu else 224)
    if args.worker:
        worker(args)
        return

    import torch

    from vlkd.core.student import make_student

    if args.gpu and not torch.cuda.is_available():
        sys.exit("--gpu: no CUDA device is visible")
    if args.gpu and args.family not in GPU_SHAPES:
        sys.exit(f"--gpu --family {args.family}: no 2B-scale shape for it; one of {', '.join(GPU_SHAPES)}")
    if args.qlora and not torch.cuda.is_available():
        sys.exit(
            "--qlora: 4-bit QLoRA (bitsandbytes) needs a CUDA GPU and none is visible; run without --qlora"
        )
    if args.qlora:
        from vlkd.core.errors import VlkdError
        from vlkd.plugins.train.hardware import Hardware, check_quantization

        try:
            check_quantization(4, Hardware.detect())
        except VlkdError as exc:
            sys.exit(f"--qlora: {exc}")
    work = args.keep or Path(tempfile.mkdtemp(prefix="vlkd-bench-train-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        family = make_student(f"tiny:{args.family}").family
        student = Path(family.build_tiny(work / f"tiny-{args.family}"))
        if args.gpu:
            student = build_random_2b(student, work / f"{args.family}-2b-random", args.family)
        dataset = make_dataset(work / "dataset", args.samples, args.image_size)
        device = torch.cuda.get_device_name(0) if args.gpu else f"CPU ({os.cpu_count()} cores)"
        side = args.image_size
        tokens = family.image_tokens(side, side, side * side, side * side)  # as worker() sets them
        print(
            f"student: {'random ' + GPU_SHAPES[args.family][0] + ' shape' if args.gpu else 'tiny:' + args.family}; "
            f"device: {device}; "
            f"{args.steps} steps x batch {args.batch_size}; {args.image_size}px images ({tokens} visual tokens); "
            f"LoRA all-linear r=8; torch {torch.__version__}; medians of {args.repeat} interleaved run(s)"
        )
        passes = [
            (name, qlora)
            for qlora in ([False, True] if args.qlora else [False])
            for name in args.trainers.split(",")
        ]
        runs: dict[str, list[dict]] = {name + (" qlora" if qlora else ""): [] for name, qlora in passes}
        for _ in range(args.repeat):  # interleaved, so a busy moment of the machine hits both
            for name, qlora in passes:
                runs[name + (" qlora" if qlora else "")].append(
                    run_worker(name, args, student, dataset, work, qlora)
                )
        results = {name: {key: median([r[key] for r in rs]) for key in rs[0]} for name, rs in runs.items()}
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    rows = [
        ("wall (whole stage), s", "wall_s", "{:.1f}"),
        ("train loop, s", "train_runtime_s", "{:.2f}"),
        ("steps/s", "steps_per_s", "{:.3f}"),
        ("tokens/s", "tokens_per_s", "{:.0f}"),
        ("peak RSS, MiB", "peak_rss_mib", "{:.0f}"),
    ]
    if args.gpu:
        rows.append(("peak GPU memory, GiB", "peak_gpu_gib", "{:.2f}"))
    names = list(results)
    width = max(14, *(len(n) + 2 for n in names))
    print(
        f"{'':24}"
        + "".join(f"{n:>{width}}" for n in names)
        + ("   llamafactory/peft" if len(names) == 2 else "")
    )
    for label, key, fmt in rows:
        values = [results[n].get(key) for n in names]
        cells = "".join(f"{(fmt.format(v) if v is not None else '-'):>{width}}" for v in values)
        ratio = ""
        if len(values) == 2 and all(isinstance(v, int | float) and v for v in values):
            ratio = f"{values[1] / values[0]:>19.2f}x"
        print(f"{label:24}{cells}{ratio}")


if __name__ == "__main__":
    main()

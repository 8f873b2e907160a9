"""vlkd's resize chain vs the seed's ``resize_image``, measured side by side (run by hand).

    python benchmarks/bench_images.py [--n 200] [--n-memory 2000] [--workers N] [--size 4000x3000]

1. makes ``--n`` distinct 4000x3000 JPEGs in a temporary directory (photo-like: gradients,
   shapes, text and sensor noise);
2. the seed's way: copies them, then calls the article's ``resize_image(path, 1024)`` on
   each copy one by one (it overwrites the file, as the seed does), timed (wall and CPU);
3. vlkd's way: ``ingest`` (files, verify on) + ``preprocess`` (``resize`` max_side 1024,
   JPEG output at the seed's quality 75) through the engine, in child processes, timed
   (wall, and CPU of the main process and its workers); 2 and 3 alternate over
   ``--rounds`` slices of the images so a busy machine slows both alike;
4. the mean absolute pixel difference between the two outputs (0..255 per channel);
5. peak memory of vlkd for ``--n`` and ``--n-memory`` images (the 2,000 are the same
   pictures with a distinct JPEG comment each, so their SHA-256 ids differ), to show it is
   flat: main process and largest worker, from ``getrusage``.

Everything is written under a temporary directory, removed at the end (``--keep`` keeps it).
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

HERE = Path(__file__).resolve().parent
SIZE = (4000, 3000)


# -- the seed's function, as the article writes it (4.1.1) --------------------------------
def resize_image(image_path, max_size=1024):
    """调整图像大小,同时保持宽高比"""
    from PIL import Image

    with Image.open(image_path) as img:
        aspect_ratio = img.width / img.height
        if img.width > img.height:
            new_width = max_size
            new_height = int(max_size / aspect_ratio)
        else:
            new_height = max_size
            new_width = int(max_size * aspect_ratio)
        resized_img = img.resize((new_width, new_height), Image.Resampling.LANCZOS)
        resized_img.save(image_path)
        print(f"已调整并保存: {image_path} 到 {new_width}x{new_height}")


# -- test images ------------------------------------------------------------------------
def make_image(index: int, path: Path) -> None:
    import numpy as np
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(index)
    w, h = SIZE
    # smooth colour field at low resolution, upsampled: like a lit workshop scene
    low = rng.integers(40, 220, size=(12, 16, 3), dtype=np.uint8)
    image = Image.fromarray(low).resize(SIZE, Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(image)
    for _ in range(40):
        x, y = int(rng.integers(0, w - 400)), int(rng.integers(0, h - 300))
        colour = tuple(int(c) for c in rng.integers(0, 255, 3))
        if rng.random() < 0.5:
            draw.rectangle(
                [x, y, x + int(rng.integers(50, 400)), y + int(rng.integers(30, 300))], fill=colour
            )
        else:
            draw.ellipse(
                [x, y, x + int(rng.integers(50, 400)), y + int(rng.integers(50, 300))],
                outline=colour,
                width=8,
            )
    for line in range(30):
        draw.text(
            (100, 100 + line * 90),
            f"PART 04465-{index:05d}-{line:02d}  TORQUE 103 N.m",
            fill=(10, 10, 10),
            font_size=60,
        )
    arr = np.asarray(image, dtype=np.int16) + rng.normal(0, 6, size=(h, w, 1)).astype(np.int16)
    Image.fromarray(arr.clip(0, 255).astype(np.uint8)).save(path, "JPEG", quality=90)


def variant(source: bytes, tag: int) -> bytes:
    """The same JPEG with a distinct comment segment: other bytes (another id), same pixels."""
    comment = f"vlkd bench copy {tag}".encode()
    return source[:2] + b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment + source[2:]


def make_set(base_dir: Path, n: int, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    bases = sorted(base_dir.glob("base_*.jpg"))[:n]
    files = []
    for i in range(n):
        path = out / f"img_{i:05d}.jpg"
        path.write_bytes(variant(bases[i % len(bases)].read_bytes(), i))
        files.append(path)
    return files


# -- the two ways --------------------------------------------------------------------------
def run_seed(files: list[Path], work: Path) -> tuple[float, float, list[Path]]:
    work.mkdir(parents=True, exist_ok=True)
    copies = []
    for path in files:
        copies.append(work / path.name)
        shutil.copyfile(path, copies[-1])
    t0, cpu0 = time.perf_counter(), time.process_time()
    with open(os.devnull, "w") as devnull:
        stdout, sys.stdout = sys.stdout, devnull
        try:
            for path in copies:
                resize_image(str(path), max_size=1024)
        finally:
            sys.stdout = stdout
    return time.perf_counter() - t0, time.process_time() - cpu0, copies


RECIPE = """name: bench
ingest:
  plugin: files
  inputs: {inputs}
preprocess:
  steps:
    - plugin: resize
      max_side: 1024
  output_format: jpeg
  quality: 75
{workers}
"""


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (the worker processes)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def child(inputs: str, run_dir: str, workers: int | None, stage: str) -> None:
    """Run one vlkd stage in this (child) process; print its time, CPU time and peak memory as JSON."""
    import vlkd.plugins.ingest
    import vlkd.plugins.preprocess
    from vlkd.core.engine import Engine
    from vlkd.core.progress import Reporter
    from vlkd.core.recipe import load_recipe
    from vlkd.core.registry import Registry, get_plugin_manager

    pm = get_plugin_manager(builtins=False, autoload=False)
    pm.register(vlkd.plugins.ingest)
    pm.register(vlkd.plugins.preprocess)
    recipe_path = Path(run_dir).parent / "bench.yaml"
    recipe_path.write_text(RECIPE.format(inputs=inputs, workers=f"  workers: {workers}" if workers else ""))
    recipe = load_recipe(recipe_path, registry=Registry(pm))
    cpu0 = cpu_seconds()
    if stage == "ingest":
        engine = Engine(recipe, run_dir, fresh=True, to_stage="ingest", reporter=Reporter(quiet=True))
    else:
        engine = Engine(recipe, run_dir, from_stage="preprocess", reporter=Reporter(quiet=True))
    manifest = engine.run()
    cpu = cpu_seconds() - cpu0
    # VmHWM, not RUSAGE_SELF: on Linux ru_maxrss keeps the high-water mark from before exec
    self_kb = next(
        int(line.split()[1])
        for line in Path("/proc/self/status").read_text().splitlines()
        if line.startswith("VmHWM:")
    )
    child_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    entry = manifest["stages"][stage]
    print(
        json.dumps(
            {
                "wall_s": entry["wall_time_s"],
                "cpu_s": cpu,
                "ok": entry["counts"]["ok"],
                "main_mb": self_kb / 1024,
                "worker_mb": child_kb / 1024,
            }
        )
    )


def _burn(n: int) -> int:
    total = 0
    for i in range(n):
        total += i * i
    return total


def free_cores(workers: int) -> float:
    """How many cores ``workers`` busy processes really get now (other jobs share the machine)."""
    import concurrent.futures as cf

    def timed(w: int) -> float:
        with cf.ProcessPoolExecutor(w) as pool:
            t0 = time.perf_counter()
            list(pool.map(_burn, [2_000_000] * (4 * w)))
            return time.perf_counter() - t0

    per_task_one = timed(1) / 4
    per_task_many = timed(workers) / (4 * workers)
    return per_task_one / per_task_many


def run_vlkd(inputs: Path, run_dir: Path, workers: int | None) -> dict:
    out = {}
    for stage in ("ingest", "preprocess"):
        cmd = [sys.executable, __file__, "--child", str(inputs), str(run_dir), stage]
        if workers:
            cmd += ["--workers", str(workers)]
        text = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        out[stage] = json.loads(text.strip().splitlines()[-1])
    return out


def mean_abs_diff(a_files: list[Path], b_dirs: list[Path]) -> tuple[float, float]:
    import numpy as np
    from PIL import Image

    from vlkd.core.jsonl import read_jsonl

    # A record's path is relative to its run directory (run directories can move).
    by_name = {
        Path(r["sources"][0]["path"]).name: b_dir / r["path"]
        for b_dir in b_dirs
        for r in read_jsonl(b_dir / "preprocess" / "images.jsonl")
    }
    diffs = []
    for a in a_files:
        b = by_name[a.name]
        x = np.asarray(Image.open(a).convert("RGB"), dtype=np.int16)
        y = np.asarray(Image.open(b).convert("RGB"), dtype=np.int16)
        if x.shape != y.shape:
            raise SystemExit(f"sizes differ: {a} {x.shape} vs {b} {y.shape}")
        diffs.append(float(np.abs(x - y).mean()))
    return sum(diffs) / len(diffs), max(diffs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="images for the speed comparison")
    parser.add_argument(
        "--n-memory", type=int, default=2000, help="images for the second memory figure (0: skip)"
    )
    parser.add_argument("--workers", type=int, default=None, help="vlkd worker processes [default: CPUs]")
    parser.add_argument(
        "--rounds",
        type=int,
        default=4,
        help="alternate seed and vlkd over this many slices of the images, so that other jobs "
        "on the machine slow both alike",
    )
    parser.add_argument(
        "--size", default="4000x3000", help="generated pictures' WIDTHxHEIGHT (smaller: a quick smoke run)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument(
        "--base-dir", type=Path, help="keep the generated pictures here and reuse them next time"
    )
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    global SIZE
    SIZE = tuple(int(v) for v in args.size.lower().split("x"))  # type: ignore[assignment]
    if args.child:
        child(args.child[0], args.child[1], args.workers, args.child[2])
        return
    tmp = Path(tempfile.mkdtemp(prefix="vlkd-bench-images-"))
    try:
        base = args.base_dir or tmp / "base"
        base.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        n_base = min(args.n, 200)
        for i in range(n_base):
            if not (base / f"base_{i:04d}.jpg").exists():
                make_image(i, base / f"base_{i:04d}.jpg")
        used = sorted(base.glob("base_*.jpg"))[:n_base]
        print(
            f"{n_base} distinct {SIZE[0]}x{SIZE[1]} JPEGs ready in {time.perf_counter() - t0:.0f} s "
            f"({sum(p.stat().st_size for p in used) / n_base / 1e6:.2f} MB each)",
            flush=True,
        )
        files = make_set(base, args.n, tmp / f"set_{args.n}")
        # Interleaved rounds: other jobs on a shared machine load both ways alike.
        rounds = max(1, min(args.rounds, args.n))
        seed_s = seed_cpu = 0.0
        seed_out: list[Path] = []
        ing = {"wall_s": 0.0, "cpu_s": 0.0}
        pre = {"wall_s": 0.0, "cpu_s": 0.0}
        for r in range(rounds):
            chunk = files[r::rounds]
            chunk_dir = tmp / f"round_{r}"
            chunk_dir.mkdir()
            for path in chunk:
                os.link(path, chunk_dir / path.name)
            wall, cpu, out = run_seed(chunk, tmp / "seed")
            seed_s, seed_cpu, seed_out = seed_s + wall, seed_cpu + cpu, seed_out + out
            got = run_vlkd(chunk_dir, tmp / f"run_round_{r}", args.workers)
            for total, part in ((ing, got["ingest"]), (pre, got["preprocess"])):
                total["wall_s"] += part["wall_s"]
                total["cpu_s"] += part["cpu_s"]
        mad, mad_max = mean_abs_diff(seed_out, [tmp / f"run_round_{r}" for r in range(rounds)])
        cpus = os.cpu_count()
        load = os.getloadavg()[0]
        cores = free_cores(args.workers or cpus or 1)
        print(
            f"\n{args.n} images of {SIZE[0]}x{SIZE[1]} -> longest side 1024, {cpus} CPUs, "
            f"vlkd workers {args.workers or cpus}, {rounds} interleaved rounds, load average {load:.1f} at the end; "
            f"{args.workers or cpus} busy processes got {cores:.2f} cores' worth of CPU just now"
        )
        print(
            f"  seed resize_image, one by one:  {seed_s:7.1f} s wall  {seed_cpu:7.1f} s CPU  "
            f"({seed_s / args.n * 1000:6.1f} ms/image)"
        )
        print(
            f"  vlkd preprocess stage:          {pre['wall_s']:7.1f} s wall  {pre['cpu_s']:7.1f} s CPU  "
            f"({pre['wall_s'] / args.n * 1000:6.1f} ms/image)"
        )
        print(
            f"    -> {seed_s / pre['wall_s']:.2f}x faster in wall time (target >= 3x), "
            f"{seed_cpu / pre['cpu_s']:.2f}x less CPU"
        )
        both_wall, both_cpu = ing["wall_s"] + pre["wall_s"], ing["cpu_s"] + pre["cpu_s"]
        print(
            f"  vlkd ingest + preprocess:       {both_wall:7.1f} s wall  {both_cpu:7.1f} s CPU  -> "
            f"{seed_s / both_wall:.2f}x faster (ingest hashes and verifies every file; the seed does not)"
        )
        print(
            f"  mean absolute pixel difference vs the seed's output: {mad:.2f} / 255 (worst image {mad_max:.2f})",
            flush=True,
        )
        whole = run_vlkd(tmp / f"set_{args.n}", tmp / "run_small", args.workers)
        ing, pre = whole["ingest"], whole["preprocess"]
        print(
            f"  peak memory, {args.n} images in one run: main {pre['main_mb']:.0f} MB, largest worker "
            f"{pre['worker_mb']:.0f} MB (ingest: {ing['main_mb']:.0f} / {ing['worker_mb']:.0f} MB)",
            flush=True,
        )
        shutil.rmtree(tmp / "seed")
        if args.n_memory:
            shutil.rmtree(tmp / "run_small")
            make_set(base, args.n_memory, tmp / f"set_{args.n_memory}")
            big = run_vlkd(tmp / f"set_{args.n_memory}", tmp / "run_big", args.workers)
            bi, bp = big["ingest"], big["preprocess"]
            print(
                f"  peak memory, {args.n_memory} images: main {bp['main_mb']:.0f} MB, largest worker "
                f"{bp['worker_mb']:.0f} MB (ingest: {bi['main_mb']:.0f} / {bi['worker_mb']:.0f} MB); "
                f"ratio to {args.n} images: main {bp['main_mb'] / pre['main_mb']:.2f}x, "
                f"worker {bp['worker_mb'] / pre['worker_mb']:.2f}x; "
                f"{bp['wall_s'] / args.n_memory * 1000:.1f} ms/image"
            )
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Export 100,000 pairs over 20,000 images to every format; compare with the 10 s limit.

What is measured, per format, on one warm process: reading ``pairs.jsonl`` and
``images.jsonl`` from disk, grouping the pairs into samples, and writing the dataset
directory (JSON/JSONL files, ``dataset_info.json``, ``vlkd_dataset.json``; for
``hf_datasets`` the Arrow dataset with embedded image bytes via ``save_to_disk`` plus one
parquet file per split). ``llamafactory`` is also timed with its pre-flight check, which
decodes every image once. The 20,000 images are distinct 8x8 PNG files (about 80 bytes
each), so the figures measure the export, not image I/O. Pairs are split 80/10/10 by
image with the ``by_image`` rule, 5 per image, grouped ``per_image`` (the default).

    python benchmarks/bench_formats.py [--pairs 100000] [--images 20000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from PIL import Image

from vlkd.core.artifacts import read_pairs
from vlkd.core.jsonl import write_jsonl_atomic
from vlkd.plugins.formats.inputs import build_samples, load_image_paths
from vlkd.plugins.split.by_image import assign_split

LIMIT_S = 10.0


def make_inputs(root: Path, n_images: int, n_pairs: int) -> tuple[Path, Path]:
    images_dir = root / "images"
    images_dir.mkdir(parents=True)
    images = []
    for i in range(n_images):
        path = images_dir / f"{i:06d}.png"
        Image.new("RGB", (8, 8), (i % 256, (i // 256) % 256, (i // 65536) % 256)).save(path)
        images.append({"id": f"{i:064x}", "path": str(path), "width": 8, "height": 8})
    per_image = n_pairs // n_images
    pairs = []
    for i, image in enumerate(images):
        split = assign_split(0, image["id"], 0.8, 0.1)
        for j in range(per_image):
            pairs.append(
                {
                    "id": f"{i:08d}{j:08d}",
                    "image_id": image["id"],
                    "question": f"刹车片的型号是什么? part {j}",
                    "answer": f"The brake pad number is BP-{i}-{j}; 扭矩 120 Nm.",
                    "category": "part_recognition",
                    "negative": False,
                    "provenance": {"plugin": "bench"},
                    "review": "approved",
                    "split": split,
                }
            )
    write_jsonl_atomic(root / "images.jsonl", images)
    write_jsonl_atomic(root / "pairs.jsonl", pairs)
    return root / "pairs.jsonl", root / "images.jsonl"


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=100_000)
    parser.add_argument("--images", type=int, default=20_000)
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs per format; the median and worst are shown"
    )
    args = parser.parse_args()
    from datasets.utils.logging import disable_progress_bar

    disable_progress_bar()
    root = Path(tempfile.mkdtemp(prefix="vlkd-bench-formats-"))
    try:
        t_setup = timed(lambda: make_inputs(root, args.images, args.pairs))
        pairs_file, images_file = root / "pairs.jsonl", root / "images.jsonl"
        print(f"inputs: {args.pairs:,} pairs over {args.images:,} images (8x8 PNG), made in {t_setup:.1f}s")

        def load():
            return build_samples(
                read_pairs(pairs_file), load_image_paths(images_file, root), "per_image", pairs_file
            )

        from vlkd.llamafactory.preflight import check_dataset
        from vlkd.plugins.formats.hf_datasets import HfDatasetsOptions, export_hf_datasets
        from vlkd.plugins.formats.llamafactory import LlamaFactoryOptions, export_llamafactory
        from vlkd.plugins.formats.messages_jsonl import MessagesJsonlOptions, export_messages_jsonl
        from vlkd.students.qwen2_vl import Qwen2VL

        runs = {
            "llamafactory": lambda out: export_llamafactory(
                load(), out, LlamaFactoryOptions(plugin="llamafactory")
            ),
            "llamafactory + pre-flight": lambda out: (
                export_llamafactory(load(), out, LlamaFactoryOptions(plugin="llamafactory")),
                check_dataset(out, family=Qwen2VL(), backup=False),
            ),
            "messages_jsonl": lambda out: export_messages_jsonl(
                load(), out, MessagesJsonlOptions(plugin="m")
            ),
            "hf_datasets": lambda out: export_hf_datasets(load(), out, HfDatasetsOptions(plugin="h")),
        }
        print(f"{'format':<28}{'median s':>9}{'worst s':>9}{'median/limit':>14}{'worst/limit':>13}")
        for name, fn in runs.items():
            times = []
            for i in range(args.repeat):
                out = root / "out" / f"{name.replace(' ', '_').replace('+', '')}_{i}"
                times.append(timed(lambda fn=fn, out=out: fn(out)))
                shutil.rmtree(out)
            med, worst = statistics.median(times), max(times)
            limit = "" if name == "hf_datasets" else "  (limit applies)"
            print(
                f"{name:<28}{med:>9.2f}{worst:>9.2f}{med / LIMIT_S:>13.2f}x{worst / LIMIT_S:>12.2f}x{limit}"
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()

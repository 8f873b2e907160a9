"""The verify stage's ocr_grounding: speed per page, OCR once per image, and how well it flags.

    python benchmarks/bench_verify.py [--pages 200] [--out benchmarks/out/verify]

1. The demo (recipes/demo.yaml up to verify): teach (the OCR teacher) then verify, and the
   number of pages the OCR engine read in the process (goal: once per image across both).
2. ``--pages`` generated pages (Pillow's own font, no font needed) with known text: verify alone
   on a cold cache (so its time includes reading every page), seconds per page (goal <= 1 s on
   2 cores), and the precision and recall of ``ungrounded`` and ``negative_suspect`` against the
   truth (answers drawn on the page or not; negatives about fields drawn or not; goal >= 0.9).

Measured, not asserted; figures go in the README.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SUPPLIERS = ["Aisin Seiki", "Denso", "Bosch", "Brembo", "Valeo", "Continental", "ZF Sachs", "Mahle"]
PARTS = ["Brake caliper", "Oil filter", "Spark plug", "Cabin air filter", "Wheel hub", "Radiator"]
#: fields a page may print: (label on the page, question, value maker)
FIELDS = [
    (
        "Part number",
        "What is the part number shown in the image?",
        lambda r: f"{r.randint(10000, 99999)}-{r.randint(10000, 99999)}",
    ),
    ("Torque", "What is the torque shown in the image?", lambda r: f"{r.randint(8, 250)} Nm"),
    ("Supplier", "Who is the supplier?", lambda r: r.choice(SUPPLIERS)),
    (
        "Warranty date",
        "What is the warranty date shown in the image?",
        lambda r: f"20{r.randint(20, 29)}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}",
    ),
    ("Pressure", "What is the pressure shown in the image?", lambda r: f"{r.randint(150, 320)} kPa"),
    ("Description", "What is the description shown in the image?", lambda r: r.choice(PARTS)),
]


def wrong_value(label: str, value: str, r: random.Random) -> str:
    """A plausible answer that is not the one printed (what a hallucinating teacher writes)."""
    if label == "Supplier":
        return r.choice([s for s in SUPPLIERS if s != value])
    if label == "Description":
        return r.choice([p for p in PARTS if p != value])
    digits = [i for i, c in enumerate(value) if c.isdigit()]
    out = list(value)
    for i in r.sample(digits, k=min(2, len(digits))):
        out[i] = str((int(out[i]) + r.randint(1, 8)) % 10)
    return "".join(out)


def make_pages(folder: Path, n: int, seed: int = 7) -> tuple[list[tuple[str, str, str]], dict]:
    """Pages and pairs; the truth of each pair: 'ungrounded', 'negative_suspect' or ''."""
    from vlkd.testing.verify import make_page

    r = random.Random(seed)
    rows, truth = [], {}
    for i in range(n):
        shown = r.sample(FIELDS, k=4)
        values = {label: make(r) for label, _, make in shown}
        lines = [f"SERVICE SHEET {i:04d}"] + [f"{label}: {values[label]}" for label, _, _ in shown]
        name = f"page_{i:04d}.png"
        make_page(folder / name, lines, font_size=r.choice([22, 26, 30]))
        for label, question, _ in shown:
            right = r.random() < 0.5
            answer = values[label] if right else wrong_value(label, values[label], r)
            rows.append((name, question, answer))
            truth[(name, question)] = "" if right else "ungrounded"
        # negatives: one about a field the page prints (suspect), one about a field it does not
        absent = [f for f in FIELDS if f not in shown]
        for label, question, _ in (r.choice(shown), r.choice(absent)):
            q = question.replace("?", " ?")  # another question than the positive one
            rows.append((name, q, "不存在"))
            truth[(name, q)] = "negative_suspect" if label in values else ""
    return rows, truth


def run(recipe: dict, run_dir: Path, **kwargs) -> tuple[dict, float]:
    from vlkd.core.engine import Engine
    from vlkd.core.progress import Reporter
    from vlkd.core.recipe import load_recipe
    from vlkd.core.registry import load_registry

    path = run_dir.parent / f"{run_dir.name}.json"
    path.write_text(json.dumps(recipe, ensure_ascii=False), encoding="utf-8")
    recipe_ = load_recipe(path, registry=load_registry(autoload=False))
    c0 = _cpu()
    manifest = Engine(recipe_, run_dir, reporter=Reporter(quiet=True), **kwargs).run()
    return manifest, _cpu() - c0


def _cpu() -> float:
    """CPU seconds of this process, every thread (OCR runs in the engine's threads)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def bench_demo(out: Path) -> dict:
    import yaml

    from vlkd import ocr as ocr_engine

    demo = yaml.safe_load((ROOT / "recipes" / "demo.yaml").read_text(encoding="utf-8"))
    recipe = {
        k: v for k, v in demo.items() if k in ("name", "student", "ingest", "preprocess", "teach", "verify")
    }
    recipe["ingest"]["manifest"] = str(ROOT / "recipes" / "data" / "demo" / "manifest.csv")
    rd = out / "demo"
    shutil.rmtree(rd, ignore_errors=True)
    before = ocr_engine.reads
    manifest, _ = run(recipe, rd)
    reads = ocr_engine.reads - before
    images = manifest["stages"]["preprocess"]["facts"]["images_out"]
    stages = manifest["stages"]
    # verify again on a cold OCR cache: the time of reading the pages itself
    shutil.rmtree(rd / "cache" / "ocr")
    cold, cold_cpu = run(recipe, rd, from_stage="verify")
    return {
        "pages": images,
        "ocr_reads_per_page_teach_and_verify": round(reads / images, 2),
        "teach_s_per_page": round(stages["teach"]["wall_time_s"] / images, 3),
        "verify_s_per_page_ocr_cached": round(stages["verify"]["wall_time_s"] / images, 4),
        "verify_s_per_page_cold": round(cold["stages"]["verify"]["wall_time_s"] / images, 3),
        "verify_cpu_s_per_page_cold": round(cold_cpu / images, 3),
        "flags": stages["verify"]["facts"]["flags"],
    }


def bench_generated(out: Path, n: int) -> dict:
    folder = out / "pages"
    shutil.rmtree(folder, ignore_errors=True)
    rows, truth = make_pages(folder, n)
    pairs_csv = out / "pairs.csv"
    with pairs_csv.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["图像名称", "问题", "答案"])
        w.writerows(rows)
    rd = out / "generated"
    shutil.rmtree(rd, ignore_errors=True)
    recipe = {
        "name": "bench-verify",
        "ingest": {"plugin": "files", "inputs": str(folder)},
        "teach": {"plugin": "annotations", "path": str(pairs_csv)},
        "verify": [{"plugin": "ocr_grounding"}],
    }
    manifest, cpu = run(recipe, rd)
    names = {}
    for line in (rd / "ingest" / "images.jsonl").read_text(encoding="utf-8").splitlines():
        image = json.loads(line)
        names[image["id"]] = Path(image["path"]).name
    got = {}
    for line in (rd / "verify" / "pairs.jsonl").read_text(encoding="utf-8").splitlines():
        p = json.loads(line)
        got[(names[p["image_id"]], p["question"])] = {f["flag"] for f in p["flags"]}
    result = {
        "pages": n,
        "pairs": len(got),
        "verify_s_per_page_cold": round(manifest["stages"]["verify"]["wall_time_s"] / n, 3),
        "cpu_s_per_page_ingest_teach_verify": round(cpu / n, 3),
        "unverifiable": sum("unverifiable" in f for f in got.values()),
    }
    for flag in ("ungrounded", "negative_suspect"):
        tp = sum(1 for k, f in got.items() if flag in f and truth[k] == flag)
        fp = sum(1 for k, f in got.items() if flag in f and truth[k] != flag)
        fn = sum(1 for k, f in got.items() if flag not in f and truth[k] == flag)
        result[flag] = {
            "precision": round(tp / (tp + fp), 3) if tp + fp else None,
            "recall": round(tp / (tp + fn), 3) if tp + fn else None,
            "tp": tp,
            "fp": fp,
            "fn": fn,
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "verify")
    parser.add_argument("--skip-demo", action="store_true", help="only the generated pages (quick)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"cores: {os.cpu_count()} (load average {os.getloadavg()[0]:.1f})")
    if not args.skip_demo:
        print("demo:", json.dumps(bench_demo(args.out), ensure_ascii=False))
    print("generated:", json.dumps(bench_generated(args.out, args.pages), ensure_ascii=False))
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()

"""The distillation ladder on the warning-light photos, side by side in one run (issue #25, item 7).

    python benchmarks/bench_distill.py                       # 128 unlabelled photos, 60 student steps per rung
    python benchmarks/bench_distill.py --steps 120 --photos 128 --test 80

A tiny *teacher* (a tiny Qwen2-VL at ``scale=2``: wider and deeper, the student's tokenizer) is
LoRA-tuned on labelled photos first. New photos that no expert labelled get the teacher's answers
(its text, greedy). Then the small tiny student climbs the ladder at equal steps, each rung in a
fresh worker process (so one's memory does not count for another), through the trainer plugin a
recipe runs (``vlkd.plugins.train.standalone``):

- base: the student untrained;
- sft: LoRA on the teacher's text (black-box, sequence-level distillation: the seed's method);
- logit_kd: ``distill: {method: logit_kd, alpha: 0.5, top_k: 20}`` (the teacher's top-k,
  computed once into the run's cache: its wall includes running the teacher over the photos);
- logit_kd (cached): the same training again in the same run directory, the teacher never loaded;
- on_policy: ``distill: {method: on_policy}`` when this vlkd has it (the student samples, the
  teacher scores).

Reported per rung: held-out accuracy (chance is 25%) with the paired 95% bootstrap interval of
its difference to sft (the same photos), the whole stage's wall time, the trainer's own
train_runtime, the teacher's seconds (logit cache), and the worker's peak RSS. Figures are
measured, never asserted; quote them with the load average this prints.
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

PIXELS = 224 * 224
ROOT = Path(__file__).resolve().parent.parent


def demo_training() -> dict:
    """The demo's training settings (``recipes/demo.yaml``'s train section); the steps come from --steps."""
    import yaml

    train = yaml.safe_load((ROOT / "recipes" / "demo.yaml").read_text(encoding="utf-8"))["train"]
    drop = ("plugin", "num_train_epochs", "eval_steps", "save_steps", "logging_steps")
    return {**{k: v for k, v in train.items() if k not in drop}, "save_steps": 10**6, "report_to": []}


KD = {"method": "logit_kd", "alpha": 0.5, "temperature": 1.0, "top_k": 20}
ON_POLICY = {"method": "on_policy", "alpha": 0.5, "temperature": 1.0, "lmbda": 0.5, "max_new_tokens": 16}


def student_section(model: str) -> dict:
    return {
        "model": model,
        "family": "qwen2_vl",
        "image_min_pixels": PIXELS,
        "image_max_pixels": PIXELS,
        "cutoff_len": 512,
    }


def write_photos(root: Path, n: int, seed: int, answers: list[str] | None = None) -> Path:
    """``n`` cluster photos (each light equally often) as a dataset of the format stage's layout;
    the answers are the lights' names, or ``answers`` (a teacher's) when given."""
    from vlkd.images.warning_lights import QUESTION, balanced, dashboard
    from vlkd.llamafactory.sample import dataset_info_entry

    (root / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for i, light in enumerate(balanced(n, seed=seed)):
        rel = f"images/{i:03d}.png"
        dashboard(light, seed=seed * 100_000 + i).save(root / rel)
        answer = light.answer if answers is None else answers[i]
        rows.append(
            {
                "messages": [
                    {"role": "user", "content": f"<image>{QUESTION}"},
                    {"role": "assistant", "content": answer},
                ],
                "images": [rel],
            }
        )
    (root / "train.json").write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    (root / "dataset_info.json").write_text(json.dumps({"vlkd_train": dataset_info_entry("train.json")}))
    card = {"format": "llamafactory", "splits": {"train": "train.json"}, "media_dir": str(root)}
    (root / "vlkd_dataset.json").write_text(json.dumps({**card, "pairs": n, "images": n}), encoding="utf-8")
    return root


def photo_items(root: Path, n: int, seed: int) -> list:
    """Photos as evaluate items (reference: the light's name)."""
    from vlkd.answering.items import EvalItem
    from vlkd.images.warning_lights import QUESTION, balanced

    write_photos(root, n, seed)
    return [
        EvalItem(
            str(i), str(i), str(root / f"images/{i:03d}.png"), QUESTION, light.answer, "warning_lights", False
        )
        for i, light in enumerate(balanced(n, seed=seed))
    ]


def answer(
    model_dir: Path, items: list, systems: tuple[str, ...] = ("base", "tuned")
) -> dict[str, list[str]]:
    """Greedy answers of the base and the tuned student of a train stage's model directory."""
    from vlkd.answering.items import load_model_info
    from vlkd.answering.local_backend import LocalStudent

    backend = LocalStudent(load_model_info(model_dir), max_new_tokens=12, system_prompt=None)
    return {
        s: [a for start in range(0, len(items), 8) for a in backend.generate(s, items[start : start + 8])]
        for s in systems
    }


def train(student: str, dataset: Path, run_dir: Path, **options) -> dict:
    from vlkd.plugins.train.standalone import make_trainer, standalone_context

    trainer = make_trainer(
        "peft", student_section(student), dataset=str(dataset), **{**demo_training(), **options}
    )
    ctx = standalone_context(run_dir)
    trainer.run(ctx)
    return dict(ctx.facts)


def worker(task: dict) -> dict:
    """One rung (or the teacher's preparation and labelling) in this process."""
    work, rung = Path(task["work"]), task["rung"]
    started = time.perf_counter()
    items = photo_items(work / f"held_out-{rung}", task["test"], seed=2)  # the same photos for every rung
    out: dict = {}
    teacher_model = work / "t" / "train" / "model"
    if rung == "teacher":  # then, in the same process, its answers to the unlabelled photos
        facts = train(
            task["teacher"],
            write_photos(work / "labelled", task["labelled"], seed=1),
            work / "t",
            max_steps=task["teacher_steps"],
        )
        said = answer(teacher_model, items, ("tuned",))
        # the teacher's figures, before the labelling (its wall and memory are not a rung's)
        out["wall_s"] = round(time.perf_counter() - started, 1)
        out["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        unlabelled = photo_items(work / "unlabelled-probe", task["photos"], seed=3)
        texts = answer(teacher_model, unlabelled, ("tuned",))["tuned"]
        out["labelled"] = str(write_photos(work / "teacher-text", task["photos"], seed=3, answers=texts))
        out["teacher_right"] = sum(a == it.reference for a, it in zip(texts, unlabelled, strict=True))
    else:
        options: dict = {"max_steps": task["steps"]}
        run = work / ("kd" if rung.startswith("logit_kd") else rung)
        if rung != "sft":
            if rung.startswith("logit_kd"):
                options["distill"] = {**KD, "teacher": str(teacher_model)}
            else:  # on_policy: top_k is logit_kd's alone (on-policy compares the whole vocabulary)
                options["distill"] = {**ON_POLICY, "teacher": str(teacher_model)}
        if rung == "logit_kd_cached":
            shutil.rmtree(run / "train")  # the training again; cache/ stays
        facts = train(task["student"], Path(task["dataset"]), run, **options)
        # the untrained student once (the base row): the same for every rung
        said = answer(run / "train" / "model", items, ("base", "tuned") if rung == "sft" else ("tuned",))
    for system, answers in said.items():
        out[system] = [a == it.reference for a, it in zip(answers, items, strict=True)]
    out["train_runtime"] = facts.get("train_runtime")
    out["teacher_computed"] = facts.get("teacher_samples_computed")
    out["teacher_seconds"] = facts.get("teacher_seconds")
    out.setdefault("wall_s", round(time.perf_counter() - started, 1))
    out.setdefault("peak_rss_mib", round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1))
    # kept beside the work: a run stopped before its last rung still shows the finished ones
    (work / "results").mkdir(exist_ok=True)
    (work / "results" / f"{rung}.json").write_text(json.dumps(out), encoding="utf-8")
    return out


def run_worker(task: dict) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "--worker", json.dumps(task)], capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"worker {task['rung']} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def has_on_policy() -> bool:
    from vlkd.plugins.train.distill_options import DistillOptions

    try:
        DistillOptions.model_validate({"method": "on_policy", "teacher": "x"})
    except ValueError:
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=60, help="student steps per rung (batch 8)")
    parser.add_argument("--photos", type=int, default=128, help="unlabelled photos the teacher answers")
    parser.add_argument("--labelled", type=int, default=128, help="labelled photos the teacher learns from")
    parser.add_argument("--teacher-steps", type=int, default=200)
    parser.add_argument("--test", type=int, default=40, help="held-out photos")
    parser.add_argument("--keep", type=Path, default=None, help="work directory to keep")
    parser.add_argument(
        "--table-from", type=Path, default=None, help="print the finished rungs of a stopped --keep run"
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return
    if args.table_from:
        table_from(args.table_from, args)
        return
    from vlkd.students.qwen2_vl import Qwen2VL

    print(f"load average before: {os.getloadavg()}")
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench_distill."))
    work.mkdir(parents=True, exist_ok=True)
    try:
        base = {
            "work": str(work),
            "steps": args.steps,
            "photos": args.photos,
            "labelled": args.labelled,
            "teacher_steps": args.teacher_steps,
            "test": args.test,
            "teacher": str(Qwen2VL().build_tiny(work / "teacher-base", scale=2)),
            "student": str(Qwen2VL().build_tiny(work / "student-base")),
        }
        prep = run_worker({**base, "rung": "teacher"})
        rungs = ["sft", "logit_kd", "logit_kd_cached"] + (["on_policy"] if has_on_policy() else [])
        done = {rung: run_worker({**base, "rung": rung, "dataset": prep["labelled"]}) for rung in rungs}
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    print(f"load average after: {os.getloadavg()}")
    print_table(prep, done, args)


def print_table(prep: dict | None, done: dict, args: argparse.Namespace) -> None:
    from vlkd.metrics.bootstrap import paired_bootstrap_delta

    rows = {
        **({"teacher (reference)": {**prep, "correct": prep["tuned"]}} if prep else {}),
        "base": {"correct": done["sft"]["base"]},
        **{k: {**v, "correct": v["tuned"]} for k, v in done.items()},
    }
    right = prep.get("teacher_right", "?") if prep else "?"
    print(
        f"student steps per rung: {args.steps} (batch 8); teacher: {args.teacher_steps} steps on "
        f"{args.labelled} labelled photos, then answered {args.photos} unlabelled ones "
        f"({right} right); held-out photos: {args.test}, chance 0.25"
    )
    print(
        f"{'rung':20} {'accuracy':>8} {'vs sft (95% CI)':>20} {'wall s':>7} {'train s':>8} "
        f"{'teacher s':>9} {'peak MiB':>9}"
    )
    sft = [(float(c), 1.0) for c in rows["sft"]["correct"]]
    for rung, r in rows.items():
        mine = [(float(c), 1.0) for c in r["correct"]]
        interval = paired_bootstrap_delta(sft, mine, lambda s: {"acc": s[0] / s[1]}).get("acc")
        shown = f"[{interval[0]:+.2f}, {interval[1]:+.2f}]" if interval and rung != "sft" else "-"
        teacher_s = r.get("teacher_seconds")
        print(
            f"{rung:20} {sum(r['correct']) / len(r['correct']):8.2f} {shown:>20} {r.get('wall_s', 0):7.1f} "
            f"{r.get('train_runtime') or 0:8.1f} {'-' if teacher_s is None else f'{teacher_s:.1f}':>9} "
            f"{r.get('peak_rss_mib', 0):9.1f}"
        )


def table_from(work: Path, args: argparse.Namespace) -> None:
    """The table of the rungs a stopped run (``--keep``) finished, from ``WORK/results``."""
    results = {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in (work / "results").glob("*.json")}
    if "sft" not in results:
        raise SystemExit(f"{work / 'results'}: no finished sft rung to compare with")
    order = ("sft", "logit_kd", "logit_kd_cached", "on_policy")
    done = {rung: results[rung] for rung in order if rung in results}
    print(
        f"finished rungs in {work}: {', '.join(done)} (missing: {', '.join(r for r in order if r not in done) or 'none'})"
    )
    print_table(results.get("teacher"), done, args)


if __name__ == "__main__":
    main()

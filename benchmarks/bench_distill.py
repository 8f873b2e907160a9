"""The distillation ladder on the warning-light photos, side by side in one run (issue #25, item 7).

    python benchmarks/bench_distill.py                 # 128 unlabelled photos, 60 student steps per rung
    python benchmarks/bench_distill.py --steps 120 --photos 128 --test 80

A tiny *teacher* (a tiny Qwen2-VL at ``scale=2``: wider and deeper, the student's tokenizer) is
LoRA-tuned on labelled photos first. New photos that no expert labelled get the teacher's answers
(its text). Then the small tiny student climbs the ladder at equal steps, each rung in a fresh
worker process (so one's memory does not count for another), through ``vlkd.plugins.train``:

- base: the student untrained;
- sft: LoRA on the teacher's text (black-box, sequence-level distillation: what vlkd did before);
- logit_kd: ``distill: {method: logit_kd, alpha: 0.5, top_k: 20}`` (the teacher's cached top-k);
  its wall includes running the teacher once over the photos to fill the cache;
- logit_kd (cached): the same training again in the same run directory, the teacher never loaded.

Reported per rung: held-out accuracy (chance is 25%) with the paired 95% bootstrap interval of
its difference to sft, the whole stage's wall time, the trainer's own train_runtime, the teacher's
share, and the worker's peak RSS. On-policy distillation is not built yet (no rung). Figures are
measured, never asserted; quote them with the load average this prints.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def worker(task: dict) -> dict:
    """One rung (or the teacher's preparation) in this process; returns its figures."""
    sys.path.insert(0, str(ROOT))
    from tests.students.test_learning import held_out, lights_dataset, train_and_answer

    work = Path(task["work"])
    started = time.perf_counter()
    out: dict = {}
    items = held_out(work / f"held_out-{task['rung']}")  # the same photos (seeds) for every rung
    if task["rung"] == "label":
        from tests.students.test_distill_learning import teacher_labelled

        teacher = work / "t" / "train" / "model"
        out["labelled"] = str(teacher_labelled(work / "unlabelled", teacher, blanked=False, n=task["photos"]))
    else:
        details: dict = {}
        if task["rung"] == "teacher":
            student, dataset, run = (
                task["teacher"],
                lights_dataset(work / "labelled", blanked=False),
                work / "t",
            )
            extra: dict = {}
        else:
            student, dataset = task["student"], Path(task["dataset"])
            extra = {"max_steps": task["steps"]}
            kd = task["rung"].startswith("logit_kd")
            run = work / ("kd" if kd else task["rung"])
            if kd:
                teacher = str(work / "t" / "train" / "model")
                extra["distill"] = {"method": "logit_kd", "teacher": teacher, "alpha": 0.5, "top_k": 20}
            if task["rung"] == "logit_kd_cached":
                import shutil

                shutil.rmtree(run / "train")  # the training again; cache/ stays
        train_and_answer(student, dataset, run, items, details, **extra)
        for system in ("base", "tuned"):
            out[system] = [a == it.reference for a, it in zip(details[system], items, strict=True)]
        facts = details["facts"]
        out["train_runtime"] = facts.get("train_runtime")
        out["teacher_computed"] = facts.get("teacher_samples_computed")
    out["wall_s"] = round(time.perf_counter() - started, 1)
    out["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return out


def run_worker(task: dict) -> dict:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    done = subprocess.run(
        [sys.executable, __file__, "--worker", json.dumps(task)], env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"worker {task['rung']} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=60, help="student steps per rung (batch 8)")
    parser.add_argument("--photos", type=int, default=128, help="unlabelled photos the teacher answers")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return
    from vlkd.metrics.bootstrap import paired_bootstrap_delta
    from vlkd.students.qwen2_vl import Qwen2VL

    print(f"load average before: {os.getloadavg()}")
    work = Path(tempfile.mkdtemp(prefix="bench_distill."))
    pixels = 224 * 224
    section = {
        "family": "qwen2_vl",
        "image_min_pixels": pixels,
        "image_max_pixels": pixels,
        "cutoff_len": 512,
    }
    teacher = {**section, "model": str(Qwen2VL().build_tiny(work / "teacher-base", scale=2))}
    student = {**section, "model": str(Qwen2VL().build_tiny(work / "student-base"))}
    base = {
        "work": str(work),
        "steps": args.steps,
        "photos": args.photos,
        "teacher": teacher,
        "student": student,
    }
    prep = run_worker({**base, "rung": "teacher"})
    labelled = run_worker({**base, "rung": "label"})["labelled"]
    rows = {}
    for rung in ("sft", "logit_kd", "logit_kd_cached"):
        rows[rung] = run_worker({**base, "rung": rung, "dataset": labelled})
    rows = {
        "teacher (reference)": {**prep, "correct": prep["tuned"]},
        "base": {"correct": rows["sft"]["base"], "wall_s": 0.0, "peak_rss_mib": 0.0},
        **{k: {**v, "correct": v["tuned"]} for k, v in rows.items()},
    }
    print(f"load average after: {os.getloadavg()}")
    print(f"steps per rung: {args.steps} (batch 8); held-out photos: {len(prep['tuned'])}, chance 0.25")
    print(
        f"{'rung':20} {'accuracy':>8} {'vs sft (95% CI)':>20} {'wall s':>7} {'train s':>8} {'teacher':>8} {'peak MiB':>9}"
    )
    sft = [(float(c), 1.0) for c in rows["sft"]["correct"]]
    for rung, r in rows.items():
        mine = [(float(c), 1.0) for c in r["correct"]]
        ci = paired_bootstrap_delta(sft, mine, lambda s: {"acc": s[0] / s[1]}).get("acc")
        shown = f"[{ci[0]:+.2f}, {ci[1]:+.2f}]" if ci and rung != "sft" else "-"
        teacher_runs = r.get("teacher_computed")
        accuracy = sum(r["correct"]) / len(r["correct"])
        print(
            f"{rung:20} {accuracy:8.2f} {shown:>20} {r['wall_s']:7.1f} {r.get('train_runtime') or 0:8.1f} "
            f"{'-' if teacher_runs is None else teacher_runs:>8} {r['peak_rss_mib']:9.1f}"
        )


if __name__ == "__main__":
    main()

"""Logit distillation teaches the student what only the teacher knows (issue #25, item 7).

A tiny *teacher* (a wider, deeper tiny Qwen2-VL of the student's tokenizer, ``scale=2``) is first
LoRA-tuned on the labelled warning-light photos, as ``test_learning`` tunes a student. Then new
photos, which no expert labelled, get the teacher's answers (its text, greedy) and its cached top-k
log-probabilities, and the small student is trained on them with ``distill: {method: logit_kd,
alpha: 1.0}``: the divergence alone, no cross-entropy on any label. On held-out photos the distilled
student answers well above chance (25%); trained the same way on blank images (the teacher's
distributions there carry nothing of the lights) it stays at chance.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("peft")

from tests.plugins.train.conftest import write_dataset
from tests.students.test_learning import PIXELS, held_out, lights_dataset, train_and_answer
from vlkd.images.warning_lights import QUESTION, balanced, blank, dashboard

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]

KD = {"method": "logit_kd", "alpha": 1.0, "temperature": 1.0, "top_k": 20}
#: half the learning test's steps and photos: three trainings (one of a 3x larger model) must fit
TEACHER_STEPS, STUDENT_STEPS, N_UNLABELLED = 60, 60, 64


def student_section(model: Path) -> dict:
    return {
        "model": str(model),
        "family": "qwen2_vl",
        "image_min_pixels": PIXELS,
        "image_max_pixels": PIXELS,
        "cutoff_len": 512,
    }


def teacher_labelled(root: Path, teacher_model: Path, *, blanked: bool, n: int = N_UNLABELLED) -> Path:
    """Unlabelled photos (other seeds than the teacher's), answered by the teacher (also
    ``benchmarks/bench_distill.py``'s data)."""
    from vlkd.plugins.evaluate.items import EvalItem, load_model_info
    from vlkd.plugins.evaluate.local_backend import LocalStudent

    (root / "images").mkdir(parents=True)
    items = []
    for i, light in enumerate(balanced(n, seed=3)):
        rel = f"images/{i:03d}.png"
        (blank() if blanked else dashboard(light, seed=50_000 + i)).save(root / rel)
        items.append(EvalItem(str(i), str(i), str(root / rel), QUESTION, "", "warning_lights", False))
    backend = LocalStudent(load_model_info(teacher_model), max_new_tokens=12, system_prompt=None)
    answers = [
        a for start in range(0, len(items), 8) for a in backend.generate("tuned", items[start : start + 8])
    ]
    rows = [
        {
            "messages": [
                {"role": "user", "content": f"<image>{QUESTION}"},
                {"role": "assistant", "content": answer},
            ],
            "images": [f"images/{i:03d}.png"],
        }
        for i, answer in enumerate(answers)
    ]
    return write_dataset(root, {"train": rows})


def test_student_learns_from_the_teachers_logits_alone(tmp_path):
    from vlkd.students.qwen2_vl import Qwen2VL

    family = Qwen2VL()
    teacher_base = family.build_tiny(tmp_path / "teacher-base", scale=2)
    student_base = family.build_tiny(tmp_path / "student-base")
    items = held_out(tmp_path / "held_out")

    # the teacher learns the lights from expert labels
    teacher = train_and_answer(
        student_section(teacher_base),
        lights_dataset(tmp_path / "labelled", blanked=False),
        tmp_path / "t",
        items,
        max_steps=TEACHER_STEPS,
    )
    assert teacher["tuned"] >= 0.7, teacher
    teacher_model = tmp_path / "t" / "train" / "model"

    results = {}
    for arm, blanked in (("photos", False), ("blank", True)):
        dataset = teacher_labelled(tmp_path / f"unlabelled-{arm}", teacher_model, blanked=blanked)
        run = tmp_path / f"s-{arm}"
        results[arm] = train_and_answer(
            student_section(student_base),
            dataset,
            run,
            items,
            distill={**KD, "teacher": str(teacher_model)},
            max_steps=STUDENT_STEPS,
        )
        facts = json.loads((run / "train" / "peft_job.json").read_text())
        assert facts["options"]["distill"]["alpha"] == 1.0  # no cross-entropy: the teacher's logits alone

    report = f"teacher {teacher}; distilled on photos {results['photos']}; on blank images {results['blank']}"
    print(report)
    assert results["photos"]["base"] <= 0.3, report
    assert results["photos"]["tuned"] >= 0.6, report  # well above chance (0.25)
    assert results["blank"]["tuned"] <= 0.45, report  # at chance
    assert results["photos"]["tuned"] - results["blank"]["tuned"] >= 0.3, report

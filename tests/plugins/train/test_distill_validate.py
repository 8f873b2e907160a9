"""``train.distill`` is checked at ``vlkd validate``, before any weights load: the teacher must share
the student's tokenizer (family and vocabulary), and only the peft trainer distils logits."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

RECIPE = """name: kd
student:
  model: {student}
train:
  plugin: {plugin}
  dataset: {dataset}
  distill:
    method: logit_kd
    teacher: {teacher}
    top_k: 5
"""


def checkpoint(root: Path, model_type: str, vocab: dict[str, int]) -> Path:
    """Just what validation reads of a checkpoint: config.json, tokenizer.json, a processor config."""
    root.mkdir(parents=True)
    (root / "config.json").write_text(json.dumps({"model_type": model_type}))
    (root / "preprocessor_config.json").write_text("{}")
    (root / "tokenizer.json").write_text(
        json.dumps({"model": {"vocab": vocab}, "added_tokens": [{"id": len(vocab), "content": "<|im_end|>"}]})
    )
    return root


def validate(tmp_path: Path, student: Path, teacher: Path | str, plugin: str = "peft"):
    recipe = tmp_path / "kd.yaml"
    (tmp_path / "dataset").mkdir(exist_ok=True)
    recipe.write_text(
        RECIPE.format(student=student, teacher=teacher, plugin=plugin, dataset=tmp_path / "dataset")
    )
    # no vlkd extra may be imported by validation: a stub torch that fails on import proves it
    stubs = tmp_path / "stubs"
    stubs.mkdir(exist_ok=True)
    for name in ("torch", "transformers"):
        (stubs / f"{name}.py").write_text(f"raise ImportError('validate imported {name}')\n")
    env = {
        **os.environ,
        "PYTHONPATH": f"{stubs}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        "COLUMNS": "200",
    }
    return subprocess.run(
        [sys.executable, "-m", "vlkd", "validate", str(recipe)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


VOCAB = {"a": 0, "b": 1, "c": 2}


def test_teacher_of_the_same_family_and_vocabulary_passes(tmp_path):
    student = checkpoint(tmp_path / "student", "qwen2_vl", VOCAB)
    teacher = checkpoint(tmp_path / "teacher", "qwen2_vl", VOCAB)
    result = validate(tmp_path, student, teacher)
    assert result.returncode == 0, result.stderr + result.stdout


def test_teacher_of_another_family_names_both_and_the_teachers_that_work(tmp_path):
    student = checkpoint(tmp_path / "student", "qwen2_vl", VOCAB)
    teacher = checkpoint(tmp_path / "teacher", "qwen3_vl", VOCAB)
    result = validate(tmp_path, student, teacher)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    message = result.stderr
    assert "kd.yaml:9:" in message and "train.distill.teacher" in message  # the teacher's line
    assert "is qwen3_vl" in message and "is qwen2_vl" in message
    assert "Qwen2-VL (72B -> 2B/7B)" in message


def test_teacher_with_another_vocabulary_names_both_vocabularies(tmp_path):
    student = checkpoint(tmp_path / "student", "qwen2_vl", VOCAB)
    teacher = checkpoint(tmp_path / "teacher", "qwen2_vl", {**VOCAB, "d": 3})
    result = validate(tmp_path, student, teacher)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "vocabulary (5 tokens" in result.stderr and "student's (4 tokens" in result.stderr


def test_teacher_not_here_yet_is_checked_by_its_hub_name(tmp_path):
    """A teacher an earlier recipe trains, or one downloaded where training runs, is no error yet
    (the train stage checks it before the student loads); a hub name of another family already is."""
    student = checkpoint(tmp_path / "student", "qwen2_vl", VOCAB)
    assert validate(tmp_path, student, tmp_path / "runs/teacher/train/model").returncode == 0
    assert validate(tmp_path, student, "Qwen/Qwen2-VL-72B-Instruct").returncode == 0
    result = validate(tmp_path, student, "Qwen/Qwen3-VL-32B-Instruct")
    assert result.returncode == 2 and "Qwen/Qwen3-VL-32B-Instruct is qwen3_vl" in result.stderr


def test_missing_teacher_stops_the_train_stage_before_the_student_loads(tiny_student, make_dataset, tmp_path):
    from tests.plugins.train.conftest import make_trainer, stage_context
    from vlkd.core.errors import StageError

    distill = {"method": "logit_kd", "teacher": str(tmp_path / "nowhere")}
    trainer = make_trainer("peft", student=str(tiny_student), dataset=str(make_dataset()), distill=distill)
    ctx = stage_context(tmp_path / "run")
    try:
        trainer.run(ctx)
    except StageError as exc:
        assert "nowhere is neither a directory nor a hub model" in str(exc)
        assert "run its recipe first" in str(exc)
    else:
        raise AssertionError("a missing teacher must stop the stage")
    assert not (ctx.dir / "model" / "adapter").exists()


def test_the_llamafactory_trainer_does_not_distil(tmp_path):
    student = checkpoint(tmp_path / "student", "qwen2_vl", VOCAB)
    teacher = checkpoint(tmp_path / "teacher", "qwen2_vl", VOCAB)
    result = validate(tmp_path, student, teacher, plugin="llamafactory")
    assert result.returncode == 2 and "set train.plugin: peft" in result.stderr


def test_a_temperature_that_would_make_the_loss_nan_or_teach_nothing_is_refused(tmp_path):
    """1e-300 made the divergence NaN in float32 (a NaN adapter, no message); .inf made both
    distributions uniform (kd_loss 0: the teacher teaches nothing)."""
    student = checkpoint(tmp_path / "student", "qwen2_vl", VOCAB)
    teacher = checkpoint(tmp_path / "teacher", "qwen2_vl", VOCAB)
    for value, words in (
        ("1.0e-300", "greater than or equal to 0.01"),
        (".inf", "less than or equal to 100"),
    ):
        recipe = tmp_path / "kd.yaml"
        validate(tmp_path, student, teacher)  # writes the recipe
        recipe.write_text(recipe.read_text() + f"    temperature: {value}\n")
        result = subprocess.run(
            [sys.executable, "-m", "vlkd", "validate", str(recipe)],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "COLUMNS": "200"},
        )
        assert result.returncode == 2, result.stderr
        assert "kd.yaml:" in result.stderr and "train.distill.temperature" in result.stderr
        assert words in result.stderr and "Traceback" not in result.stderr


def trained_model_dir(run: Path, base_vocab: dict[str, int]) -> Path:
    """A run's train/model/ as a train stage writes it: the card names its student relative to itself."""
    checkpoint(run / "students" / "tiny-qwen2_vl", "qwen2_vl", base_vocab)
    model = run / "train" / "model"
    (model / "adapter").mkdir(parents=True)
    card = {"trainer": "peft", "base_model": "../../students/tiny-qwen2_vl", "family": "qwen2_vl"}
    (model / "vlkd_model.json").write_text(json.dumps({**card, "adapter": "adapter"}))
    return model


def test_a_trained_model_as_teacher_resolves_its_student_against_its_card(tmp_path, monkeypatch):
    """distill-demo's teacher is runs/demo/train/model: its card names the student relative to the
    card, which from_pretrained read relative to the working directory (a 40-line traceback),
    and the vocabulary check, finding no tokenizer there, was skipped."""
    from vlkd.api import StageError
    from vlkd.plugins.train.teacher import resolve_teacher

    model = trained_model_dir(tmp_path / "runs" / "demo", VOCAB)
    monkeypatch.chdir(tmp_path / "runs")  # anywhere but beside the students/ folder's parent
    teacher = resolve_teacher(str(model))
    assert teacher.base == str((tmp_path / "runs" / "demo" / "students" / "tiny-qwen2_vl").resolve())
    assert teacher.adapter == str((model / "adapter").resolve())
    # a run copied without its students/ folder: one line naming the card and what is missing
    import shutil

    shutil.rmtree(tmp_path / "runs" / "demo" / "students")
    with pytest.raises(StageError) as exc:
        resolve_teacher(str(model))
    assert "vlkd_model.json names" in str(exc.value) and "is missing" in str(exc.value)


def test_a_trained_model_of_another_vocabulary_is_refused_at_validate(tmp_path):
    student = checkpoint(tmp_path / "student", "qwen2_vl", VOCAB)
    model = trained_model_dir(tmp_path / "runs" / "demo", {"x": 0, "y": 1})
    result = validate(tmp_path, student, model)
    assert result.returncode == 2 and "the teacher's vocabulary" in result.stderr, result.stderr


def test_an_empty_teacher_is_refused_not_read_as_the_working_directory():
    from pydantic import ValidationError

    from vlkd.plugins.train.distill_options import DistillOptions

    with pytest.raises(ValidationError) as exc:
        DistillOptions(method="logit_kd", teacher="")
    assert exc.value.errors()[0]["loc"] == ("teacher",)

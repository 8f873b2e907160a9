"""``distill: {method: logit_kd}`` trains the tiny student against a larger tiny teacher's cached
top-k: the teacher runs once, before the student loads; a repeated training reads the cache only,
and an edited answer is the one sample computed again."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("peft")

from tests.plugins.train.conftest import FAST, make_trainer, stage_context


@pytest.fixture(scope="module")
def tiny_teacher(tmp_path_factory):
    from vlkd.students.qwen2_vl import Qwen2VL

    return Qwen2VL().build_tiny(tmp_path_factory.mktemp("teacher") / "tiny-qwen2_vl-x2", scale=2)


def kd_trainer(student, dataset, teacher, **extra):
    options = {**FAST, "lora_target": "all-linear", "modules_to_save": ["lm_head"], **extra}
    distill = {"method": "logit_kd", "teacher": str(teacher), "alpha": 0.7, "temperature": 2.0, "top_k": 5}
    return make_trainer("peft", student=str(student), dataset=str(dataset), distill=distill, **options)


def cache_files(run_dir):
    return sorted((run_dir / "cache" / "teacher_logits").rglob("*.safetensors"))


def test_logit_kd_trains_from_the_cached_teacher_and_never_runs_it_twice(
    tiny_student, tiny_teacher, make_dataset, tmp_path
):
    from safetensors.torch import load_file

    dataset = make_dataset(n_train=6, n_val=2)
    run = tmp_path / "run"
    ctx = stage_context(run)
    kd_trainer(tiny_student, dataset, tiny_teacher, max_steps=4).run(ctx)
    assert ctx.facts["teacher_samples_computed"] == 8 and ctx.facts["teacher_samples_cached"] == 0
    files = cache_files(run)
    assert len(files) == 8  # one per train and val sample
    entry = load_file(str(files[0]))
    assert entry["ids"].shape[1] == 5 and entry["ids"].shape == entry["log_probs"].shape
    assert (entry["log_probs"] <= 0).all() and entry["log_probs"].exp().sum(-1).max() <= 1.0 + 1e-5
    log = [json.loads(line) for line in (ctx.dir / "output" / "trainer_log.jsonl").read_text().splitlines()]
    parts = [r for r in log if "kd_loss" in r]
    assert parts and all(r["kd_loss"] > 0 and r["ce_loss"] > 0 for r in parts)
    assert abs(parts[0]["loss"] - (0.7 * parts[0]["kd_loss"] + 0.3 * parts[0]["ce_loss"])) < 1e-3
    assert (ctx.dir / "model" / "adapter" / "adapter_config.json").is_file()

    # the same training again, from scratch in the same run directory: every entry from the cache
    import shutil

    shutil.rmtree(ctx.dir)
    again = stage_context(run)
    kd_trainer(tiny_student, dataset, tiny_teacher, max_steps=1).run(again)
    assert again.facts["teacher_samples_computed"] == 0 and again.facts["teacher_samples_cached"] == 8
    assert cache_files(run) == files

    # an expert edits one answer: that sample alone goes through the teacher
    rows = json.loads((dataset / "train.json").read_text())
    rows[0]["messages"][1]["content"] = "brake disc"
    (dataset / "train.json").write_text(json.dumps(rows, ensure_ascii=False))
    shutil.rmtree(again.dir)
    third = stage_context(run)
    kd_trainer(tiny_student, dataset, tiny_teacher, max_steps=1).run(third)
    assert third.facts["teacher_samples_computed"] == 1 and third.facts["teacher_samples_cached"] == 7


def test_alpha_zero_is_plain_cross_entropy(tiny_student, tiny_teacher, make_dataset, tmp_path):
    """alpha 0: the loss is the cross-entropy on the answers alone, as without distill."""
    dataset = make_dataset(n_train=4, n_val=0)
    ctx = stage_context(tmp_path / "kd")
    distill = {"method": "logit_kd", "teacher": str(tiny_teacher), "alpha": 0.0, "top_k": 5}
    options = {**FAST, "max_steps": 2, "lora_target": "all-linear", "seed": 3}
    make_trainer("peft", student=str(tiny_student), dataset=str(dataset), distill=distill, **options).run(ctx)
    plain = stage_context(tmp_path / "plain")
    make_trainer("peft", student=str(tiny_student), dataset=str(dataset), **options).run(plain)

    def losses(c):
        path = c.dir / "output" / "trainer_log.jsonl"
        return [json.loads(line)["loss"] for line in path.read_text().splitlines() if '"loss"' in line]

    assert losses(ctx) == pytest.approx(losses(plain), rel=1e-4)


def test_a_trained_model_teaches_with_its_adapter_merged(tiny_student, tmp_path):
    """distill-demo's teacher is a vlkd model directory (base + adapter): loading it imported a
    module that does not exist (ModuleNotFoundError, a traceback, at the train stage)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForImageTextToText

    from vlkd.plugins.train.teacher import TeacherModel
    from vlkd.plugins.train.teacher_cache import _load_teacher

    base = AutoModelForImageTextToText.from_pretrained(str(tiny_student))
    lora = get_peft_model(base, LoraConfig(r=2, target_modules=["q_proj"], init_lora_weights=False))
    lora.save_pretrained(tmp_path / "adapter")
    teacher = TeacherModel("t", str(tiny_student), str(tmp_path / "adapter"), "qwen2_vl")
    merged = _load_teacher(teacher, "fp32")
    plain = AutoModelForImageTextToText.from_pretrained(str(tiny_student))
    name = next(n for n, _ in merged.named_parameters() if "q_proj.weight" in n)
    assert not any("lora_" in n for n, _ in merged.named_parameters())  # merged into the base weights
    assert not torch.equal(dict(merged.named_parameters())[name], dict(plain.named_parameters())[name])

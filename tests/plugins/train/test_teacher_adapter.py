"""A tuned teacher (a train stage's ``model/``: base + LoRA adapter) is loaded with its adapter.

The offline proof (``tests/students/test_distill_learning.py``) distils from such a teacher; the
cache's loader imported the adapters service from a module that had moved, so any teacher with an
adapter failed when its log-probabilities were first computed.
"""

from __future__ import annotations

import pytest

pytest.importorskip("peft")


def test_a_teacher_model_directory_loads_with_its_adapter_merged(vlkd_tiny_student, tmp_path):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForImageTextToText

    from vlkd.api import ModelCard
    from vlkd.plugins.train.teacher import resolve_teacher
    from vlkd.plugins.train.teacher_cache import load_teacher

    base = vlkd_tiny_student("qwen2_vl")
    model = AutoModelForImageTextToText.from_pretrained(base)
    lora = LoraConfig(r=4, target_modules=["q_proj"], modules_to_save=["lm_head"])
    tuned = get_peft_model(model, lora)
    with torch.no_grad():  # the adapter's own lm_head: what the teacher must answer with
        tuned.base_model.model.lm_head.modules_to_save["default"].weight.mul_(-1)
    folder = tmp_path / "model"
    tuned.save_pretrained(folder / "adapter")
    ModelCard(trainer="peft", base_model=str(base), family="qwen2_vl", adapter="adapter").write(folder)

    teacher = resolve_teacher(str(folder))
    assert teacher.adapter == str(folder / "adapter")
    loaded = load_teacher(teacher, "fp32")
    plain = AutoModelForImageTextToText.from_pretrained(base)
    assert torch.equal(loaded.get_output_embeddings().weight, -plain.get_output_embeddings().weight)

"""One step of the peft trainer, gradient checkpointing on (the default): every LoRA weight of the
language model changed, and PyTorch's "None of the inputs have requires_grad" did not appear.

LoRA's B matrices start at zero and its A matrices get no gradient while B is zero, so after
one step a B that is still zero is a LoRA layer the gradient never reached (as happens with
reentrant checkpointing when a layer with trainable weights gets no input that needs a
gradient). Qwen3-VL and Qwen3.5 printed that warning for their frozen vision towers; the frozen
layers now run without checkpointing (``vlkd.plugins.train.checkpointing``).
"""

from __future__ import annotations

import warnings

import pytest

pytest.importorskip("peft")

from tests.students.test_train_every_family import FAMILIES, ONE_STEP, dataset, student
from vlkd.plugins.train.standalone import make_trainer, standalone_context

NO_GRAD_WARNING = "None of the inputs have requires_grad=True"


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_one_step_changes_every_lora_weight_of_the_language_model(name, vlkd_tiny_student, tmp_path):
    from safetensors.torch import load_file

    plugin = make_trainer(
        "peft",
        student(vlkd_tiny_student(name)),
        dataset=str(dataset(tmp_path / "data")),
        **{**ONE_STEP, "gradient_checkpointing": True, "learning_rate": 1e-2, "warmup_ratio": 0.0},
    )
    ctx = standalone_context(tmp_path / "run")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        plugin.run(ctx)
    weights = load_file(ctx.dir / "model" / "adapter" / "adapter_model.safetensors")
    lora_b = {k: v for k, v in weights.items() if "lora_B" in k}
    assert lora_b, sorted(weights)
    assert not [k for k in lora_b if ".visual." in k or "vision_tower" in k]  # all-linear: the language model
    unchanged = sorted(k for k, v in lora_b.items() if not v.abs().sum() > 0)
    assert not unchanged, (
        f"{len(unchanged)} of {len(lora_b)} LoRA B matrices got no gradient: {unchanged[:4]}"
    )
    assert not [w for w in caught if NO_GRAD_WARNING in str(w.message)]

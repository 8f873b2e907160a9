"""Both trainers train every built-in family's tiny student: an adapter that loads and generates,
and a model card naming the family and its LLaMA-Factory template. (That the student *learns*
from the pixels is the learning test's job; this one proves each family's wiring runs.)"""

from __future__ import annotations

import json

import pytest

pytest.importorskip("peft")

from vlkd.core.registry import load_registry
from vlkd.llamafactory.families import template as lf_template
from vlkd.plugins.train.standalone import make_trainer, standalone_context

FAMILIES = load_registry(autoload=False).families()
TRAINERS = ("peft", "llamafactory")
#: one step on the two-image dataset, LoRA on every linear layer of the language model
ONE_STEP = {
    "max_steps": 1,
    "per_device_train_batch_size": 2,
    "gradient_accumulation_steps": 1,
    "logging_steps": 1,
    "save_steps": 100,
    "report_to": [],
    "lora_target": "all-linear",
}


def student(path) -> dict:
    return {"model": str(path), "cutoff_len": 1024, "image_max_pixels": 128 * 128}


def dataset(root):
    from PIL import Image

    from tests.plugins.train.conftest import write_dataset

    (root / "images").mkdir(parents=True)
    rows = []
    for i in range(2):
        Image.new("RGB", (64, 48), (i * 90, 80, 160)).save(root / "images" / f"{i}.png")
        rows.append(
            {
                "messages": [
                    {"role": "user", "content": "<image>What part is shown?"},
                    {"role": "assistant", "content": "刹车片"},
                ],
                "images": [f"images/{i}.png"],
            }
        )
    return write_dataset(root, {"train": rows})


@pytest.mark.slow
@pytest.mark.parametrize("trainer", TRAINERS)
@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_trainer_trains_the_family(name, trainer, vlkd_tiny_student, tmp_path):
    if trainer == "llamafactory":
        pytest.importorskip("llamafactory")
    family = FAMILIES[name]
    plugin = make_trainer(
        trainer, student(vlkd_tiny_student(name)), dataset=str(dataset(tmp_path / "data")), **ONE_STEP
    )
    ctx = standalone_context(tmp_path / "run")
    plugin.run(ctx)
    card = json.loads((ctx.dir / "model" / "vlkd_model.json").read_text())
    assert (card["family"], card["template"]) == (name, lf_template(family))
    import torch
    from peft import PeftModel
    from PIL import Image
    from transformers import AutoModelForImageTextToText

    processor = family.load_processor(card["base_model"], card["image_min_pixels"], card["image_max_pixels"])
    model = PeftModel.from_pretrained(
        AutoModelForImageTextToText.from_pretrained(card["base_model"]), str(ctx.dir / "model" / "adapter")
    )
    chat = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What part is shown?"}]}]
    text = processor.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
    batch = processor(
        text=[text], images=[[Image.new("RGB", (64, 48))]], return_tensors="pt", add_special_tokens=False
    )
    with torch.inference_mode():
        out = model.generate(**batch, max_new_tokens=2, do_sample=False)
    assert out.shape[1] > batch["input_ids"].shape[1]

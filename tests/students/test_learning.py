"""Every student family learns to read an image: the test that its pixels, visual tokens, labels
and LoRA are wired end to end.

A falling loss proves little: a model lowers it on answer priors alone. Here a tiny random
student of each family is LoRA-tuned by the ``peft`` trainer plugin (the code a recipe runs:
its dataset reader, collator, label masking, LoRA targets and ``modules_to_save``) on cluster
photos with one of four warning lights lit (``vlkd.images.warning_lights``; one fixed
question, so only the pixels tell the answers apart), then answers held-out photos through the
evaluate stage's own backend (adapter applied, greedy, the training's image settings). Trained
on the photos it must answer well above chance (25%); trained the same way on blank images it
must stay at chance. The blank arm is a check of the experiment, not of a family: balanced lights
and one fixed question leave the answers' words nothing to go on whatever the family, so it runs
once, for the seed's family (``BLANK_CONTROL``), on the same student and settings as its photos.
A family that loses the pixels fails the photo arm on its own: held-out photos at chance.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("peft")

from tests.plugins.train.conftest import write_dataset
from vlkd.images.warning_lights import QUESTION, balanced, blank, dashboard

#: a minute or so per family on 2 idle cores; far longer when other jobs share them
pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]

N_TRAIN, N_TEST = 128, 40
PIXELS = 224 * 224
#: the family whose test also trains on blank images (the experiment's control; see above)
BLANK_CONTROL = "qwen2_vl"
#: the demo's training settings (recipes/demo.yaml), fewer steps
TRAIN = {
    "lora_target": "all-linear",
    "lora_rank": 16,
    "lora_alpha": 32,
    "lora_dropout": 0.0,
    "modules_to_save": ["lm_head"],
    "max_steps": 200,  # 120 left qwen2_5_vl at 50% once LoRA's init was seeded (seed 42); 200 reach 70%+
    "per_device_train_batch_size": 8,
    "gradient_accumulation_steps": 1,
    "learning_rate": 3e-3,
    "lr_scheduler_type": "cosine",
    "warmup_ratio": 0.1,
    "max_grad_norm": 1.0,
    "gradient_checkpointing": False,
    "logging_steps": 20,
    "save_steps": 1000,
    "report_to": [],
}


def families() -> list[str]:
    from vlkd.core.registry import load_registry

    return list(load_registry().families())


def lights_dataset(root: Path, *, blanked: bool) -> Path:
    """Train photos (or blank images in their place) in the format stage's LLaMA-Factory layout."""
    (root / "images").mkdir(parents=True)
    rows = []
    for i, light in enumerate(balanced(N_TRAIN, seed=1)):
        rel = f"images/{i:03d}.png"
        (blank() if blanked else dashboard(light, seed=i)).save(root / rel)
        rows.append(
            {
                "messages": [
                    {"role": "user", "content": f"<image>{QUESTION}"},
                    {"role": "assistant", "content": light.answer},
                ],
                "images": [rel],
            }
        )
    return write_dataset(root, {"train": rows})


def held_out(root: Path) -> list:
    """Photos never trained on (other seeds), each light equally often: chance is 25%."""
    from vlkd.answering.items import EvalItem

    root.mkdir(parents=True)
    items = []
    for i, light in enumerate(balanced(N_TEST, seed=2)):
        path = root / f"{i:03d}.png"
        dashboard(light, seed=100_000 + i).save(path)
        items.append(EvalItem(str(i), str(i), str(path), QUESTION, light.answer, "warning_lights", False))
    return items


def answers(model_dir: Path, system: str, items: list) -> list[str]:
    """What a train stage's model (``base`` or ``tuned``) answers to ``items``, through the evaluate
    stage's own backend (adapter applied, greedy, the training's image settings)."""
    from vlkd.answering.items import load_model_info
    from vlkd.answering.local_backend import LocalStudent

    backend = LocalStudent(load_model_info(model_dir), max_new_tokens=12, system_prompt=None)
    return [
        a for start in range(0, len(items), 8) for a in backend.generate(system, items[start : start + 8])
    ]


def train_and_answer(
    student: dict, dataset: Path, run_dir: Path, items: list, systems=("base", "tuned"), **options
) -> dict[str, float]:
    """Accuracy of the base and the tuned student on ``items`` (only the ``systems`` a test reads:
    the base student answers alike in every arm; ``options``: trainer options over ``TRAIN``,
    e.g. ``distill:``, ``seed``)."""
    from vlkd.plugins.train.standalone import make_trainer, standalone_context

    trainer = make_trainer("peft", student, dataset=str(dataset), **{**TRAIN, **options})
    ctx = standalone_context(run_dir)
    trainer.run(ctx)
    adapter = json.loads((ctx.dir / "model" / "adapter" / "adapter_config.json").read_text())
    assert adapter["modules_to_save"] == ["lm_head"]
    accuracy = {}
    for system in systems:
        said = answers(ctx.dir / "model", system, items)
        accuracy[system] = sum(a == it.reference for a, it in zip(said, items, strict=True)) / len(items)
        accuracy[f"{system}_answers"] = sorted(set(said))
    return accuracy


@pytest.mark.parametrize("family", families())
def test_student_learns_from_pixels_and_not_from_blank_images(family, tmp_path):
    from vlkd.core.registry import load_registry

    built = load_registry().families()[family].build_tiny(tmp_path / "student")
    student = {
        "model": str(built),
        "family": family,
        "image_min_pixels": PIXELS,
        "image_max_pixels": PIXELS,
        "cutoff_len": 512,  # gemma3 spends 256 tokens on any image
    }
    items = held_out(tmp_path / "held_out")

    seen = train_and_answer(
        student, lights_dataset(tmp_path / "photos", blanked=False), tmp_path / "a", items
    )
    report = f"{family}: with photos {seen}"
    assert seen["base"] <= 0.3, report  # the random student knows none of the lights
    assert seen["tuned"] >= 0.7, report  # well above chance (0.25): it reads the icon
    if family != BLANK_CONTROL:
        print(report)  # the figures, for pytest -rP
        return
    blank = lights_dataset(tmp_path / "blank", blanked=True)
    blind = train_and_answer(student, blank, tmp_path / "b", items, systems=("tuned",))
    report += f", with blank images {blind}"
    print(report)
    assert blind["tuned"] <= 0.45, report  # at chance: the answers' words alone do not do it
    assert seen["tuned"] - blind["tuned"] >= 0.3, report

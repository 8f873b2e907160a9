"""Every bad input the trainers know of stops the stage with a clear message before training."""

from __future__ import annotations

import json
import shutil

import pytest

pytest.importorskip("transformers")

from tests.plugins.train.conftest import make_trainer, stage_context, write_dataset
from vlkd.core.errors import StageError
from vlkd.plugins.train.hardware import Hardware


def fails_before_training(trainer, tmp_path, match, hardware=None):
    ctx = stage_context(tmp_path / "run")
    with pytest.raises(StageError, match=match) as info:
        trainer.prepare(ctx, hardware=hardware)
    assert not (ctx.dir / "output").exists() and not (ctx.dir / "model").exists()
    return str(info.value)


@pytest.mark.parametrize("plugin", ["peft", "llamafactory"])
def test_student_without_processor(plugin, tiny_student, make_dataset, tmp_path):
    student = tmp_path / "text-only"
    shutil.copytree(tiny_student, student)
    for name in ("processor_config.json", "preprocessor_config.json"):
        (student / name).unlink(missing_ok=True)
    trainer = make_trainer(plugin, student=str(student), dataset=str(make_dataset()))
    message = fails_before_training(trainer, tmp_path, "has no processor")
    assert str(student) in message and "AutoProcessor.from_pretrained" in message


def test_student_path_that_does_not_exist(make_dataset, tmp_path):
    trainer = make_trainer(
        "peft", student=str(tmp_path / "nowhere"), family="qwen2_vl", dataset=str(make_dataset())
    )
    fails_before_training(trainer, tmp_path, "no such directory .*nowhere.*tiny:qwen2_vl")


def test_image_tags_that_do_not_match_the_images(tiny_student, make_dataset, tmp_path):
    dataset = make_dataset()
    rows = json.loads((dataset / "train.json").read_text())
    rows[1]["images"] = []  # one <image> tag, no image
    rows[2]["messages"][0]["content"] = "<image><image>two?"  # two tags, one image
    (dataset / "train.json").write_text(json.dumps(rows))
    trainer = make_trainer("peft", student=str(tiny_student), dataset=str(dataset))
    message = fails_before_training(trainer, tmp_path, "fails the pre-flight check")
    assert "train.json: sample [1]: image_count: 1 <image> tag(s) but 0 image(s)" in message
    assert "train.json: sample [2]: image_count: 2 <image> tag(s) but 1 image(s)" in message
    assert f"vlkd check-dataset {dataset} --fix --family qwen2_vl --cutoff-len 2048" in message


def test_missing_image_file(tiny_student, make_dataset, tmp_path):
    dataset = make_dataset()
    (dataset / "images" / "003.png").unlink()
    trainer = make_trainer("llamafactory", student=str(tiny_student), dataset=str(dataset))
    fails_before_training(
        trainer, tmp_path, r"train.json: sample \[3\]: missing_image: image .*003.png not found"
    )


def test_dataset_without_the_contract_file(tiny_student, tmp_path):
    (tmp_path / "plain").mkdir()
    trainer = make_trainer("peft", student=str(tiny_student), dataset=str(tmp_path / "plain"))
    fails_before_training(trainer, tmp_path, "no vlkd_dataset.json")


def test_cutoff_len_smaller_than_one_images_visual_tokens(tiny_student, make_dataset, tmp_path):
    dataset = make_dataset(size=(560, 560))  # 20x20 = 400 visual tokens at these pixel limits
    trainer = make_trainer(
        "peft", student=str(tiny_student), dataset=str(dataset), cutoff_len=256, image_max_pixels=560 * 560
    )
    message = fails_before_training(trainer, tmp_path, r"sample \[0\]: too_long: \d+ tokens \(400 visual")
    assert "> cutoff_len 256" in message and "Image features and image tokens do not match" in message
    assert "Raise student.cutoff_len or lower student.image_max_pixels" in message
    # the same images at a lower image_max_pixels fit
    ok = make_trainer(
        "peft", student=str(tiny_student), dataset=str(dataset), cutoff_len=256, image_max_pixels=280 * 280
    )
    ok.prepare(stage_context(tmp_path / "run2"))


@pytest.mark.parametrize("plugin", ["peft", "llamafactory"])
def test_qlora_without_cuda(plugin, tiny_student, make_dataset, tmp_path):
    trainer = make_trainer(plugin, student=str(tiny_student), dataset=str(make_dataset()), quantization_bit=4)
    fails_before_training(
        trainer, tmp_path, r"quantization_bit: 4 \(QLoRA\) needs a CUDA GPU", hardware=Hardware(cuda=False)
    )


def test_half_precision_without_cuda(tiny_student, make_dataset, tmp_path):
    trainer = make_trainer("peft", student=str(tiny_student), dataset=str(make_dataset()), precision="bf16")
    fails_before_training(
        trainer, tmp_path, "precision: bf16 needs a CUDA GPU", hardware=Hardware(cuda=False)
    )


@pytest.mark.parametrize("plugin", ["peft", "llamafactory"])
def test_unknown_target_module_lists_the_linear_layers(plugin, tiny_student, make_dataset, tmp_path):
    trainer = make_trainer(
        plugin,
        student=str(tiny_student),
        dataset=str(make_dataset()),
        lora_target=["q_proj", "query_key_value"],
    )
    message = fails_before_training(trainer, tmp_path, "lora_target: query_key_value is not a linear layer")
    assert "Its language model has: down_proj, gate_proj, k_proj, o_proj, q_proj, up_proj, v_proj" in message
    assert "its vision tower: fc1, fc2, mlp.0, mlp.2, proj, qkv" in message


def test_llamafactory_not_installed(tiny_student, make_dataset, tmp_path):
    trainer = make_trainer(
        "llamafactory",
        student=str(tiny_student),
        dataset=str(make_dataset()),
        executable="llamafactory-cli-not-here",
    )
    message = fails_before_training(trainer, tmp_path, "LLaMA-Factory is not installed")
    assert 'pip install "vlkd[llamafactory]"' in message and "llamafactory-cli-not-here" in message


def test_dataset_with_a_broken_json_file(tiny_student, tmp_path):
    root = write_dataset(tmp_path / "ds", {"train": []})
    (root / "train.json").write_text('[{"messages": [}')
    trainer = make_trainer("peft", student=str(tiny_student), dataset=str(root))
    fails_before_training(trainer, tmp_path, r"train.json:1:\d+: not valid JSON")


def test_text_past_cutoff_len_is_a_warning_not_an_error(tiny_student, make_dataset, tmp_path):
    import io

    from rich.console import Console

    from vlkd.core.progress import Reporter

    dataset = make_dataset()
    rows = json.loads((dataset / "train.json").read_text())
    rows[0]["messages"][1]["content"] = "brake pad " * 60
    (dataset / "train.json").write_text(json.dumps(rows))
    out = io.StringIO()
    ctx = stage_context(tmp_path / "run")
    ctx.run.reporter = Reporter(console=Console(file=out, width=400))
    make_trainer("peft", student=str(tiny_student), dataset=str(dataset), cutoff_len=64).prepare(ctx)
    assert "1 sample(s) would be truncated or dropped (too_long)" in out.getvalue()
    assert ctx.facts["preflight_warnings"] == 1


def test_the_trainer_log_reader_skips_a_line_torn_inside_a_character(tmp_path):
    from vlkd.plugins.train.base import read_trainer_log

    path = tmp_path / "trainer_log.jsonl"
    path.write_bytes(b'{"current_steps": 1, "loss": 2.5}\n' + '{"note": "损失'.encode()[:-1])
    assert read_trainer_log(path) == [{"current_steps": 1, "loss": 2.5}]

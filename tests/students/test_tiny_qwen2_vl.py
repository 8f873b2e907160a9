"""The tiny offline student loads with the Auto classes, trains a step and generates."""

from __future__ import annotations

import hashlib
import json

import pytest

pytest.importorskip("transformers")

from typer.testing import CliRunner

from vlkd.students.tiny_qwen2_vl import build_tiny_qwen2_vl, is_built


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    return build_tiny_qwen2_vl(tmp_path_factory.mktemp("students") / "tiny-qwen2-vl")


def test_loads_with_auto_classes_and_generates(student):
    import torch
    from PIL import Image
    from transformers import AutoModelForImageTextToText, AutoProcessor

    processor = AutoProcessor.from_pretrained(student)
    model = AutoModelForImageTextToText.from_pretrained(student)
    assert type(model).__name__ == "Qwen2VLForConditionalGeneration"
    config = model.config
    head_dim = config.text_config.hidden_size // config.text_config.num_attention_heads
    assert sum(config.text_config.rope_parameters["mrope_section"]) == head_dim // 2

    messages = [
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "刹车片 brake pad?"}]}
    ]
    text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert text == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
        "<|vision_start|><|image_pad|><|vision_end|>刹车片 brake pad?<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    batch = processor(text=[text], images=[Image.new("RGB", (56, 56), "red")], return_tensors="pt")
    # one visual token per 28x28 block: a 56x56 image gives 4 <|image_pad|> tokens
    assert int((batch["input_ids"] == config.image_token_id).sum()) == 4
    out = model(**batch, labels=batch["input_ids"])
    assert torch.isfinite(out.loss)
    generated = model.generate(**batch, max_new_tokens=4, do_sample=False)
    assert generated.shape[1] > batch["input_ids"].shape[1]


def test_tokenizer_has_qwen_special_tokens_and_round_trips(student):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(student)
    for token in ("<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|image_pad|>", "<|video_pad|>"):
        ids = tokenizer.encode(token, add_special_tokens=False)
        assert len(ids) == 1, token
    text = "图中不存在该零件. Torque 120 Nm."
    assert tokenizer.decode(tokenizer.encode(text, add_special_tokens=False)) == text


def test_is_small_cached_and_deterministic(student, tmp_path):
    size = sum(f.stat().st_size for f in student.iterdir())
    assert size < 3_000_000
    assert is_built(student)
    stamp = (student / "model.safetensors").stat().st_mtime_ns
    assert build_tiny_qwen2_vl(student) == student
    assert (student / "model.safetensors").stat().st_mtime_ns == stamp  # not rebuilt

    # a second build elsewhere from the same seed gives the same weights and vocabulary
    other = build_tiny_qwen2_vl(tmp_path / "again")
    for name in ("model.safetensors", "tokenizer.json"):
        assert (
            hashlib.sha256((other / name).read_bytes()).hexdigest()
            == hashlib.sha256((student / name).read_bytes()).hexdigest()
        ), name


def test_half_built_directory_is_rebuilt(tmp_path):
    target = tmp_path / "tiny"
    target.mkdir()
    (target / "config.json").write_text(json.dumps({"broken": True}))
    build_tiny_qwen2_vl(target)
    assert is_built(target)
    assert json.loads((target / "config.json").read_text())["model_type"] == "qwen2_vl"


def test_cli_builds_it(tmp_path):
    import typer

    from vlkd.commands import COMMAND_MODULES
    from vlkd.commands.student import vlkd_register_commands

    assert "vlkd.commands.student" in COMMAND_MODULES
    app = typer.Typer()
    app.command()(lambda: None)  # a second command keeps "student" a sub-command
    vlkd_register_commands(app)
    result = CliRunner().invoke(app, ["student", "tiny-qwen2-vl", str(tmp_path / "s")])
    assert result.exit_code == 0, result.output
    assert is_built(tmp_path / "s")
    assert str(tmp_path / "s") in result.output

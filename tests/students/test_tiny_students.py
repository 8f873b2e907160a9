"""Every family's tiny offline student loads with the Auto classes, counts its visual tokens as
the family says, generates, and is built once, deterministically."""

from __future__ import annotations

import hashlib
import json

import pytest

pytest.importorskip("transformers")

from typer.testing import CliRunner

from vlkd.core.registry import load_registry
from vlkd.students.tiny import MIN_HEAD_DIM, is_built

FAMILIES = load_registry(autoload=False).families()


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_loads_with_auto_classes_and_generates(vlkd_tiny_student, name):
    import torch
    from PIL import Image
    from transformers import AutoModelForImageTextToText, AutoProcessor

    family = FAMILIES[name]
    path = vlkd_tiny_student(name)
    processor = AutoProcessor.from_pretrained(path)
    model = AutoModelForImageTextToText.from_pretrained(path)
    assert type(model).__name__ == family.model_class
    assert json.loads((path / "config.json").read_text())["model_type"] in family.model_types
    text_config = model.config.get_text_config()
    head_dim = (
        getattr(text_config, "head_dim", None) or text_config.hidden_size // text_config.num_attention_heads
    )
    assert head_dim >= MIN_HEAD_DIM  # vLLM's CPU backend serves it

    messages = [
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "刹车片 brake pad?"}]}
    ]
    text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert text.endswith(family.assistant_prefix + family.answer_prefix)
    assert family.image_placeholder in text
    side = 4 * family.block
    batch = processor(text=[text], images=[Image.new("RGB", (side, side), "red")], return_tensors="pt")
    image_id = processor.tokenizer.convert_tokens_to_ids(family.image_token)
    expected = family.image_tokens(side, side, family.default_min_pixels, family.default_max_pixels)
    assert int((batch["input_ids"] == image_id).sum()) == expected
    out = model(**batch, labels=batch["input_ids"])
    assert torch.isfinite(out.loss)
    generated = model.generate(**batch, max_new_tokens=4, do_sample=False)
    assert generated.shape[1] > batch["input_ids"].shape[1]


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_the_untrained_students_answer_depends_on_the_image(vlkd_tiny_student, name):
    """The pixels reach the language model before any training: without that no LoRA run can
    learn from them (the tiny Gemma 3's projector was all zeros, as transformers initialises it,
    and its logits were identical for a photo and a blank image)."""
    import torch
    from transformers import AutoModelForImageTextToText

    from vlkd.images.warning_lights import LIGHTS, QUESTION, blank, dashboard

    family, path = FAMILIES[name], vlkd_tiny_student(name)
    processor = family.load_processor(str(path), 224 * 224, 224 * 224)
    model = AutoModelForImageTextToText.from_pretrained(path).eval()
    chat = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": QUESTION}]}]
    text = processor.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)

    def last_logits(image):
        batch = processor(text=[text], images=[[image]], return_tensors="pt", add_special_tokens=False)
        with torch.inference_mode():
            return model(**batch).logits[0, -1]

    photo, other, empty = (
        last_logits(dashboard(LIGHTS[0], seed=1)),
        last_logits(dashboard(LIGHTS[2], seed=5)),
        last_logits(blank()),
    )
    assert (photo - empty).abs().max() > 1e-3
    assert (photo - other).abs().max() > 1e-3


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_tokenizer_has_the_special_tokens_and_round_trips(vlkd_tiny_student, name):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(vlkd_tiny_student(name))
    for token in FAMILIES[name].special_tokens:
        assert len(tokenizer.encode(token, add_special_tokens=False)) == 1, token
    text = "图中不存在该零件. Torque 120 Nm."
    assert tokenizer.decode(tokenizer.encode(text, add_special_tokens=False)) == text


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_the_rendered_template_matches_the_chat_template(vlkd_tiny_student, name):
    """The family's render() (token counting) is the chat template's text (what peft trains on)."""
    from transformers import AutoProcessor

    family = FAMILIES[name]
    processor = AutoProcessor.from_pretrained(vlkd_tiny_student(name))
    turns = [
        ("user", "<image>What part?"),
        ("assistant", "刹车片"),
        ("user", "Torque?"),
        ("assistant", "120 Nm"),
    ]
    chat = [
        {
            "role": role,
            "content": [{"type": "image"}, {"type": "text", "text": c[len("<image>") :]}]
            if c.startswith("<image>")
            else [{"type": "text", "text": c}],
        }
        for role, c in turns
    ]
    rendered = processor.apply_chat_template(chat, tokenize=False)
    assert family.render(turns, None) == family.rendered_chat(rendered)


def test_is_small_cached_and_deterministic(vlkd_tiny_student, tmp_path):
    family = FAMILIES["qwen2_vl"]
    student = vlkd_tiny_student("qwen2_vl")
    size = sum(f.stat().st_size for f in student.iterdir())
    assert size < 5_000_000
    assert is_built(student, "qwen2_vl", family.tiny_version)
    stamp = (student / "model.safetensors").stat().st_mtime_ns
    assert family.build_tiny(student) == student
    assert (student / "model.safetensors").stat().st_mtime_ns == stamp  # not rebuilt

    # a second build elsewhere from the same seed gives the same weights and vocabulary
    other = family.build_tiny(tmp_path / "again")
    for name in ("model.safetensors", "tokenizer.json"):
        assert (
            hashlib.sha256((other / name).read_bytes()).hexdigest()
            == hashlib.sha256((student / name).read_bytes()).hexdigest()
        ), name


def test_an_older_build_is_rebuilt_and_a_checkpoint_it_did_not_build_is_kept(tmp_path):
    from vlkd.core.errors import VlkdError
    from vlkd.students.tiny import MARKER

    family = FAMILIES["qwen2_vl"]
    target = tmp_path / "tiny"
    target.mkdir()
    (target / "config.json").write_text(json.dumps({"broken": True}))
    (target / MARKER).write_text(json.dumps({"family": "qwen2_vl", "version": 0}))  # an older build
    family.build_tiny(target)
    assert is_built(target, "qwen2_vl", family.tiny_version)
    assert json.loads((target / "config.json").read_text())["model_type"] == "qwen2_vl"
    # no marker: someone's checkpoint (a real Qwen2-VL-7B, say), never deleted to make room
    real = tmp_path / "Qwen2-VL-7B"
    real.mkdir()
    (real / "config.json").write_text(json.dumps({"model_type": "qwen2_vl"}))
    with pytest.raises(VlkdError, match="holds no tiny student"):
        family.build_tiny(real)
    assert [p.name for p in real.iterdir()] == ["config.json"]


def _app():
    import typer

    from vlkd.commands import COMMAND_MODULES
    from vlkd.commands.student import vlkd_register_commands

    assert "vlkd.commands.student" in COMMAND_MODULES
    app = typer.Typer()
    app.command()(lambda: None)  # a second command keeps "student" a sub-command
    vlkd_register_commands(app)
    return app


def test_cli_builds_one_and_lists_the_families(tmp_path):
    result = CliRunner().invoke(_app(), ["student", "tiny", "qwen2_vl", str(tmp_path / "s")])
    assert result.exit_code == 0, result.output
    assert is_built(tmp_path / "s", "qwen2_vl", FAMILIES["qwen2_vl"].tiny_version)
    assert str(tmp_path / "s") in result.output
    listed = CliRunner().invoke(_app(), ["student", "families", "--json"])
    rows = {r["name"]: r for r in json.loads(listed.output)}
    assert set(rows) == set(FAMILIES)
    assert rows["qwen2_vl"]["block"] == 28
    assert rows["qwen2_vl"]["llamafactory_template"] == "qwen2_vl"
    assert rows["qwen2_vl"]["model_class"] == "Qwen2VLForConditionalGeneration"


def test_cli_unknown_family_lists_the_families(tmp_path):
    from vlkd.core.errors import VlkdError

    result = CliRunner().invoke(_app(), ["student", "tiny", "qwen2vl", str(tmp_path / "s")])
    assert isinstance(result.exception, VlkdError)
    assert "unknown student family 'qwen2vl' (did you mean 'qwen2_vl'?)" in str(result.exception)


def test_a_rebuild_over_an_earlier_build_never_deletes_files_put_there(vlkd_tiny_student, tmp_path, capsys):
    """``vlkd student tiny qwen3_vl st/new`` over its own earlier qwen2_vl build, where a person
    put notes and a fine-tuned model: refused, naming them; nothing deleted."""
    import shutil

    from vlkd.testing.fake_run import run_cli

    target = tmp_path / "st" / "new"
    shutil.copytree(vlkd_tiny_student("qwen2_vl"), target)
    (target / "my_notes.txt").write_text("lr 3e-3 worked")
    (target / "finetuned").mkdir()
    (target / "finetuned" / "model.bin").write_bytes(b"weights")
    before = sorted(p.relative_to(target) for p in target.rglob("*"))
    code, out = run_cli(capsys, "student", "tiny", "qwen3_vl", str(target))
    assert code == 2 and "Traceback" not in out
    assert "holds files the tiny student build did not write (finetuned/model.bin, my_notes.txt)" in out
    assert sorted(p.relative_to(target) for p in target.rglob("*")) == before
    # moved out: the folder is the build's alone, and it is replaced
    (target / "my_notes.txt").unlink()
    shutil.rmtree(target / "finetuned")
    code, out = run_cli(capsys, "student", "tiny", "qwen3_vl", str(target))
    assert code == 0, out
    assert is_built(target, "qwen3_vl", FAMILIES["qwen3_vl"].tiny_version)

"""Using the result: ``vlkd predict`` answers as the evaluation did; ``vlkd export`` writes the adapter
or merged weights (PEFT, or llamafactory-cli export for that trainer). Real tiny student, real adapter."""

import json
import shutil

import pytest

from vlkd.plugins.evaluate.student import StudentEvalOptions, StudentEvaluator

from .conftest import cli, stage_context

pytest.importorskip("peft")


def test_predict_answers_as_the_evaluation_did(run_layout, tiny_student, tiny_adapter, capsys):
    run_dir = run_layout(student=tiny_student, adapter=tiny_adapter)
    plugin = StudentEvaluator(
        StudentEvalOptions(plugin="student", systems=["base", "tuned"], max_new_tokens=6, bootstrap_samples=0)
    )
    ctx, _ = stage_context(run_dir, plugin)
    plugin.run(ctx)
    preds = [json.loads(line) for line in (ctx.dir / "predictions.jsonl").read_text().splitlines()]
    item = preds[0]
    said = {}
    for system in ("tuned", "base"):
        flags = ["--base"] if system == "base" else []
        code, out, err = cli(
            capsys, "predict", str(run_dir), item["image"], item["question"], "--max-new-tokens", "6", *flags
        )
        assert code == 0, err
        said[system] = out.rstrip("\n")
    for system in ("tuned", "base"):
        expected = next(p["prediction"] for p in preds if p["system"] == system and p["id"] == item["id"])
        assert said[system] == expected


def test_predict_errors_are_one_line(run_layout, tiny_student, tiny_adapter, capsys, tmp_path):
    run_dir = run_layout()  # no train stage
    code, _, err = cli(capsys, "predict", str(run_dir), "x.png", "q")
    assert code == 2 and "no trained student (train/model/vlkd_model.json is missing)" in err
    run_dir = run_layout(student=tiny_student, adapter=tiny_adapter)
    code, _, err = cli(capsys, "predict", str(run_dir), str(tmp_path / "nope.png"), "q")
    assert code == 2 and "nope.png: no such image file" in err and "Traceback" not in err


@pytest.mark.parametrize("family", ["qwen2_vl", "gemma3"])
def test_export_merged_weights_answer_like_the_adapter(
    family, run_layout, vlkd_tiny_student, adapter_for, capsys, tmp_path
):
    """Each family's own processor (Gemma 3's takes no min/max pixels: it resizes to its square)."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from vlkd.plugins.evaluate.items import load_model_info

    student = vlkd_tiny_student(family)
    run_dir = run_layout(student=student, adapter=adapter_for(student), family=family)
    code, _, err = cli(capsys, "export", str(run_dir), str(tmp_path / "merged"), "--merged")
    assert code == 0, err
    assert "merged weights" in err
    merged = AutoModelForImageTextToText.from_pretrained(tmp_path / "merged").eval()
    assert not [n for n, _ in merged.named_modules() if "lora" in n]
    peft_model = PeftModel.from_pretrained(
        AutoModelForImageTextToText.from_pretrained(student), str(run_dir / "train/model/adapter")
    ).eval()
    ids = torch.tensor([[1, 2, 3, 4, 5, 6]])
    with torch.inference_mode():
        assert torch.allclose(merged(input_ids=ids).logits, peft_model(input_ids=ids).logits, atol=1e-4)
    # the processor travels with the weights, set as training and evaluation set it
    info = load_model_info(run_dir / "train" / "model")
    expected = info.family.load_processor(str(student), info.min_pixels, info.max_pixels).image_processor
    exported = AutoProcessor.from_pretrained(tmp_path / "merged").image_processor
    assert exported.to_dict() == expected.to_dict()


def test_export_without_merged_copies_the_adapter(run_layout, tiny_student, tiny_adapter, capsys, tmp_path):
    run_dir = run_layout(student=tiny_student, adapter=tiny_adapter)
    code, _, err = cli(capsys, "export", str(run_dir), str(tmp_path / "lora"))
    assert code == 0, err
    assert (tmp_path / "lora" / "adapter_config.json").exists()
    assert json.loads((tmp_path / "lora" / "vlkd_model.json").read_text())["base_model"] == str(tiny_student)
    code, _, err = cli(capsys, "export", str(run_dir), str(tmp_path / "lora"))  # not over earlier files
    assert code == 2 and "exists and is not an empty folder" in err


@pytest.mark.slow
def test_export_merged_through_llamafactory_for_its_students(
    run_layout, tiny_student, tiny_adapter, capsys, tmp_path
):
    if shutil.which("llamafactory-cli") is None:
        pytest.skip("llamafactory-cli not installed")
    from transformers import AutoModelForImageTextToText

    run_dir = run_layout(student=tiny_student, adapter=tiny_adapter)
    info_path = run_dir / "train" / "model" / "vlkd_model.json"
    info = json.loads(info_path.read_text())
    info_path.write_text(json.dumps({**info, "trainer": "llamafactory"}))
    code, _, err = cli(capsys, "export", str(run_dir), str(tmp_path / "merged"), "--merged")
    assert code == 0, err
    model = AutoModelForImageTextToText.from_pretrained(tmp_path / "merged")
    assert not [n for n, _ in model.named_modules() if "lora" in n]

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

    from vlkd.answering.items import load_model_info

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


@pytest.fixture
def hub(monkeypatch):
    """A local stand-in of the Hub's HTTP API; HF_ENDPOINT points at it, HF_TOKEN may write."""
    pytest.importorskip("huggingface_hub")
    from vlkd.testing.fake_hub import FakeHub

    with FakeHub(tokens={"hf_write_0123456789": "write", "hf_read_0123456789": "read"}) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        monkeypatch.setenv("HF_TOKEN", "hf_write_0123456789")
        yield server


def evaluated_run(run_layout, tiny_student, tiny_adapter):
    run_dir = run_layout(student=tiny_student, adapter=tiny_adapter)
    plugin = StudentEvaluator(
        StudentEvalOptions(plugin="student", systems=["base", "tuned"], max_new_tokens=4, bootstrap_samples=0)
    )
    ctx, _ = stage_context(run_dir, plugin)
    plugin.run(ctx)
    return run_dir


def test_export_pushes_the_adapter_to_the_hub_privately_with_a_model_card(
    run_layout, tiny_student, tiny_adapter, capsys, hub
):
    run_dir = evaluated_run(run_layout, tiny_student, tiny_adapter)
    code, _, err = cli(capsys, "export", str(run_dir), "--push-to-hub", "me/tiny-student")
    assert code == 0, err
    assert f"pushed the tuned student's adapter to {hub.url}/me/tiny-student (private)" in err
    repo = hub.repos["me/tiny-student"]
    assert repo.private and repo.repo_type == "model"
    local = sorted(p.name for p in tiny_adapter.iterdir() if p.is_file())
    assert sorted(repo.files) == sorted({*local, "vlkd_model.json", "README.md"})
    for name in set(local) - {"README.md"}:  # what reaches the Hub is the files a user would see
        assert repo.files[name] == (tiny_adapter / name).read_bytes()
    # PEFT's placeholder card is replaced by one that says what this student is
    card = repo.files["README.md"].decode()
    assert "library_name: peft" in card and "## Data" in card and "## Evaluation" in card
    assert "| overall (n=" in card and "tuned: Exact match" in card
    assert "hf_write" not in card  # the token goes nowhere but the Authorization header


def test_export_pushes_merged_weights_public_when_asked(run_layout, tiny_student, tiny_adapter, capsys, hub):
    run_dir = run_layout(student=tiny_student, adapter=tiny_adapter)
    code, _, err = cli(capsys, "export", str(run_dir), "--merged", "--push-to-hub", "me/merged", "--public")
    assert code == 0, err
    repo = hub.repos["me/merged"]
    assert not repo.private
    assert {"config.json", "model.safetensors", "README.md"} <= set(repo.files)
    assert "library_name: transformers" in repo.files["README.md"].decode()
    assert "Not evaluated" in repo.files["README.md"].decode()


def test_a_missing_or_read_only_token_fails_before_any_work(
    run_layout, tiny_student, tiny_adapter, capsys, hub, monkeypatch, tmp_path
):
    run_dir = run_layout(student=tiny_student, adapter=tiny_adapter)
    monkeypatch.delenv("HF_TOKEN")
    code, _, err = cli(capsys, "export", str(run_dir), str(tmp_path / "out"), "--push-to-hub", "me/x")
    assert (
        code == 2 and "--push-to-hub needs a Hugging Face token in the environment: export HF_TOKEN=" in err
    )
    monkeypatch.setenv("HF_TOKEN", "hf_read_0123456789")
    code, _, err = cli(capsys, "export", str(run_dir), str(tmp_path / "out"), "--push-to-hub", "me/x")
    assert code == 2 and "the token in HF_TOKEN may only read; pushing needs a write token" in err
    monkeypatch.setenv("HF_TOKEN", "hf_unknown_0123456789")
    code, _, err = cli(capsys, "export", str(run_dir), str(tmp_path / "out"), "--push-to-hub", "me/x")
    assert code == 2 and "the Hub refused the token in HF_TOKEN (401)" in err
    assert not (tmp_path / "out").exists() and not hub.repos  # nothing exported, nothing created
    assert all(
        r == "GET /api/whoami-v2" for r in hub.requests if r.startswith(("GET", "POST")) and "agent" not in r
    )

"""The whole evaluate stage on CPU with the tiny Qwen2-VL student and a real LoRA adapter."""

import json

import pytest

from vlkd.answering.answers import streamed_text
from vlkd.metrics.summary import summarize
from vlkd.plugins.evaluate.student import StudentEvalOptions, StudentEvaluator

from .conftest import stage_context

pytest.importorskip("peft")


def _read(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_base_and_tuned_students_on_the_test_split(run_layout, tiny_student, tiny_adapter):
    run_dir = run_layout(student=tiny_student, adapter=tiny_adapter)
    plugin = StudentEvaluator(
        StudentEvalOptions(plugin="student", batch_size=3, max_new_tokens=6, bootstrap_samples=100)
    )
    ctx, _ = stage_context(run_dir, plugin)
    plugin.run(ctx)
    preds = _read(ctx.dir / "predictions.jsonl")
    by_system = {s: {p["id"]: p for p in preds if p["system"] == s} for s in ("base", "tuned", "teacher")}
    assert all(len(v) == 8 for v in by_system.values())
    # the adapter is applied for the tuned row and switched off for the base row
    assert any(
        by_system["base"][i]["prediction"] != by_system["tuned"][i]["prediction"] for i in by_system["base"]
    )

    # the base row is exactly what the base model alone says for the item (unbatched, no PEFT),
    # with the image handed to the processor as the peft trainer does (RGB, processor bounds)
    import torch
    from PIL import Image
    from transformers import AutoModelForImageTextToText, AutoProcessor

    item = by_system["base"][next(iter(by_system["base"]))]
    processor = AutoProcessor.from_pretrained(tiny_student, min_pixels=32 * 32, max_pixels=128 * 128)
    model = AutoModelForImageTextToText.from_pretrained(tiny_student).eval()
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": item["question"]}]}]
    text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    inputs = processor(text=[text], images=[Image.open(item["image"]).convert("RGB")], return_tensors="pt")
    with torch.inference_mode():
        out = model.generate(**inputs, max_new_tokens=6, do_sample=False)
    # a character cut by max_new_tokens: vLLM holds back the token that began it, and so does the
    # evaluate stage (answers.streamed_text; both backends must agree on the same weights)
    ids = out[0, inputs["input_ids"].shape[1] :].tolist()
    direct = streamed_text(lambda i: processor.tokenizer.decode(i, skip_special_tokens=True), ids)
    assert item["prediction"] == direct.strip()

    # every number in metrics.json can be traced back to predictions.jsonl
    metrics = json.loads((ctx.dir / "metrics.json").read_text())
    again = summarize(preds, systems=["base", "tuned", "teacher"], samples=100)
    assert metrics["results"] == again["results"] and metrics["deltas"] == again["deltas"]
    assert metrics["model"]["adapter"].endswith("adapter")
    assert ctx.counts.to_json()["ok"] == 16


def test_a_finished_evaluation_resumes_without_loading_the_model(run_layout, tiny_student, tiny_adapter):
    run_dir = run_layout(student=tiny_student, adapter=tiny_adapter)
    opts = StudentEvalOptions(
        plugin="student", systems=["base", "tuned"], max_new_tokens=4, bootstrap_samples=0
    )
    ctx, _ = stage_context(run_dir, StudentEvaluator(opts))
    ctx.plugin.run(ctx)
    ctx.close()
    first = (ctx.dir / "predictions.jsonl").read_text()
    # the student disappears: a re-run of the killed-and-resumed stage must not need it
    info_path = run_dir / "train" / "model" / "vlkd_model.json"
    info = json.loads(info_path.read_text())
    info["base_model"] = str(run_dir / "no-such-student")
    info_path.write_text(json.dumps(info))
    ctx2, _ = stage_context(run_dir, StudentEvaluator(opts))
    ctx2.plugin.run(ctx2)
    assert (ctx2.dir / "predictions.jsonl").read_text() == first


def test_an_unreadable_image_skips_its_items_only(run_layout, tiny_student, tiny_adapter):
    run_dir = run_layout(student=tiny_student, adapter=tiny_adapter)
    images = _read(run_dir / "ingest" / "images.jsonl")
    broken = images[1]["path"]
    with open(broken, "wb") as fh:
        fh.write(b"not an image")
    opts = StudentEvalOptions(
        plugin="student", systems=["base"], batch_size=8, max_new_tokens=4, bootstrap_samples=0
    )
    ctx, _ = stage_context(run_dir, StudentEvaluator(opts))
    ctx.plugin.run(ctx)
    counts = ctx.counts.to_json()
    assert counts["ok"] == 4 and counts["skipped"] == 4
    assert f"not an image: {broken}: it is a text file" in json.dumps(counts)
    assert counts["skipped_by_reason"] == {"not an image": 4}  # grouped as ingest groups them
    assert json.loads((ctx.dir / "metrics.json").read_text())["results"]["base"]["overall"]["n"] == 4


def test_the_report_reads_the_evaluate_stage_output(run_layout, tiny_student, tiny_adapter):

    from vlkd.plugins.report.html_report import build_report

    run_dir = run_layout(student=tiny_student, adapter=tiny_adapter)
    opts = StudentEvalOptions(plugin="student", max_new_tokens=4, bootstrap_samples=50)
    ctx, _ = stage_context(run_dir, StudentEvaluator(opts))
    ctx.plugin.run(ctx)
    (run_dir / "manifest.json").write_text(
        json.dumps(
            {
                "recipe": {"name": "t"},
                "stages": {s: {"status": "done"} for s in ("ingest", "teach", "review", "train", "evaluate")},
            }
        )
    )
    files = build_report(run_dir, run_dir / "report")
    from vlkd.testing import read_html

    page = read_html(files.html.read_text(encoding="utf-8"))
    overall = page.tables["headline"][-1]
    metrics = json.loads((ctx.dir / "metrics.json").read_text())
    assert overall[0] == "Overall"
    for column, system in ((1, "base"), (2, "tuned")):
        assert (
            overall[column] == f"{metrics['results'][system]['overall']['exact_match']['value'] * 100:.1f}%"
        )
    teacher = next(r for r in page.tables["metrics"] if r[0] == "Exact match")[3]
    assert teacher == f"{metrics['results']['teacher']['overall']['exact_match']['value'] * 100:.1f}%"

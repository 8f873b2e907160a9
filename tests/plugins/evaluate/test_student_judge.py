"""The optional LLM judge, through the openai teach plugin, against the project's fake provider."""

import json

import pytest

from vlkd.plugins.evaluate.judge import parse_verdict
from vlkd.plugins.evaluate.student import StudentEvalOptions, StudentEvaluator

from .conftest import stage_context

pytest.importorskip("openai")


def test_parse_verdict():
    assert parse_verdict("correct") == 1.0
    assert parse_verdict("Incorrect.") == 0.0
    assert parse_verdict("正确") == 1.0 and parse_verdict("不正确") == 0.0
    assert parse_verdict("maybe") is None


def test_judge_options_are_the_teachers_own():
    with pytest.raises(ValueError, match=r"unknown teacher plugin 'opnai'.*did you mean 'openai'"):
        StudentEvalOptions(plugin="student", judge={"plugin": "opnai"})
    with pytest.raises(ValueError, match=r"judge\.temperature"):
        StudentEvalOptions(plugin="student", judge={"plugin": "openai", "model": "m", "temperature": 9})
    with pytest.raises(ValueError, match=r"judge\.api_key: leave the key out"):
        StudentEvalOptions(plugin="student", judge={"plugin": "openai", "model": "m", "api_key": "sk-x"})
    with pytest.raises(ValueError, match="takes no prompt"):
        StudentEvalOptions(plugin="student", judge={"plugin": "ocr"})


def test_judge_grades_base_and_tuned_answers(run_layout, monkeypatch):
    from vlkd.testing.fake_provider import FakeProvider

    run_dir = run_layout()
    (run_dir / "train" / "model").mkdir(parents=True)
    (run_dir / "train" / "model" / "vlkd_model.json").write_text(
        json.dumps({"trainer": "peft", "base_model": "x"})
    )

    def grade(image, req):  # a judge that accepts only answers equal to the reference
        text = next(p["text"] for p in req["messages"][-1]["content"] if p["type"] == "text")
        ref = text.split("Reference answer: ")[1].split("\n")[0]
        pred = text.split("Student answer: ")[1].split("\n")[0]
        return "correct" if ref == pred else "incorrect"

    from .test_student_openai import students

    with (
        FakeProvider(answer=grade) as judge_server,
        FakeProvider(answer=students, api_key=None) as student_server,
    ):
        monkeypatch.setenv("OPENAI_API_KEY", judge_server.api_key)
        opts = StudentEvalOptions(
            plugin="student",
            backend="openai",
            base_url=student_server.openai_url,
            base_model_name="qwen2-vl-base",
            tuned_model_name="vlkd-lora",
            systems=["base", "tuned"],
            bootstrap_samples=50,
            judge={
                "plugin": "openai",
                "model": "gpt-4o-mini",
                "base_url": judge_server.openai_url,
                "temperature": 0,
                "concurrency": 4,
            },
        )
        ctx, _ = stage_context(run_dir, StudentEvaluator(opts))
        ctx.plugin.run(ctx)
        judged_requests = sum(judge_server.requests.values())
    metrics = json.loads((ctx.dir / "metrics.json").read_text())
    assert metrics["results"]["tuned"]["overall"]["judge_accuracy"]["value"] == 1.0
    assert (
        metrics["results"]["base"]["overall"]["judge_accuracy"]["value"] == 0.25
    )  # right on the 2 negatives
    assert metrics["deltas"]["base->tuned"]["overall"]["judge_accuracy"]["value"] == 0.75
    assert judged_requests == 16
    assert ctx.usage.requests == 16 and ctx.usage.input_tokens > 0 and ctx.usage.cost_usd > 0

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


def _judged_run(run_layout, monkeypatch, verdict, **judge_options):
    """The openai students graded by a judge on a second fake server: (metrics, reporter, ctx, judge requests)."""
    from vlkd.testing.fake_provider import FakeProvider

    from .test_student_openai import students

    run_dir = run_layout()
    (run_dir / "train" / "model").mkdir(parents=True)
    (run_dir / "train" / "model" / "vlkd_model.json").write_text(
        json.dumps({"trainer": "peft", "base_model": "x", "family": "qwen2_vl"})
    )
    with (
        FakeProvider(answer=verdict) as judge_server,
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
                **judge_options,
            },
        )
        ctx, reporter = stage_context(run_dir, StudentEvaluator(opts))
        ctx.plugin.run(ctx)
        requests = sum(judge_server.requests.values())
    return json.loads((ctx.dir / "metrics.json").read_text()), reporter, ctx, requests


def test_judge_grades_base_and_tuned_answers(run_layout, monkeypatch):
    def grade(image, req):  # a judge that accepts only answers equal to the reference
        text = next(p["text"] for p in req["messages"][-1]["content"] if p["type"] == "text")
        ref = text.split("Reference answer: ")[1].split("\n")[0]
        pred = text.split("Student answer: ")[1].split("\n")[0]
        return "correct" if ref == pred else "incorrect"

    metrics, _, ctx, judged_requests = _judged_run(
        run_layout, monkeypatch, grade, temperature=0, concurrency=4
    )
    assert metrics["results"]["tuned"]["overall"]["judge_accuracy"]["value"] == 1.0
    # right on the 2 negatives
    assert metrics["results"]["base"]["overall"]["judge_accuracy"]["value"] == 0.25
    assert metrics["deltas"]["base->tuned"]["overall"]["judge_accuracy"]["value"] == 0.75
    assert judged_requests == 16
    assert ctx.usage.requests == 16 and ctx.usage.input_tokens > 0 and ctx.usage.cost_usd > 0
    assert metrics["judge"]["unreadable"] == 0 and metrics["judge"]["graded"] == 16


def test_unreadable_verdicts_are_reported_and_the_metric_marked_missing(run_layout, monkeypatch):
    metrics, reporter, *_ = _judged_run(
        run_layout, monkeypatch, lambda image, req: "It depends on the lighting."
    )
    judge = metrics["judge"]
    assert judge["asked"] == 16 and judge["unreadable"] == 16 and judge["graded"] == 0
    assert judge["unreadable_examples"][0] == "It depends on the lighting."
    entry = next(m for m in metrics["metrics"] if m["name"] == "judge_accuracy")
    assert entry["missing"].startswith("none of the judge's 16 verdicts could be read")
    assert "judge_accuracy" not in metrics["results"]["tuned"]["overall"]
    assert any("judge accuracy is missing" in n for n in metrics["notes"])
    assert any("judge accuracy is missing" in w for w in reporter.warnings)


def test_some_unreadable_verdicts_are_counted_not_dropped(run_layout, monkeypatch):
    def verdict(image, req):
        text = next(p["text"] for p in req["messages"][-1]["content"] if p["type"] == "text")
        return "hmm" if "不存在" in text.split("Student answer: ")[1] else "correct"

    metrics, reporter, *_ = _judged_run(run_layout, monkeypatch, verdict)
    # 不存在 was said 10 times: by the base on all 8 items, by the tuned on the 2 negatives
    assert metrics["judge"]["unreadable"] == 10 and metrics["judge"]["graded"] == 6
    assert metrics["results"]["tuned"]["overall"]["judge_accuracy"]["n"] == 6
    assert any(
        "judge accuracy counts 6 of 16 answers: 10 verdicts could not be read" in w for w in reporter.warnings
    )

"""The ``openai`` backend with the official SDK against the project's fake provider on 127.0.0.1."""

import json

import pytest

from vlkd.core.errors import StageError
from vlkd.plugins.evaluate.student import StudentEvalOptions, StudentEvaluator
from vlkd.testing.fake_provider import FakeProvider

from .conftest import QUESTIONS, stage_context

pytest.importorskip("openai")
REVIEWED = {q: a for q, a, *_ in QUESTIONS}


def question_of(req) -> str:
    return next(p["text"] for p in req["messages"][-1]["content"] if p["type"] == "text")


def students(image, req) -> str:
    """The lazy base student always says 不存在; the tuned one knows every reviewed answer."""
    return "不存在" if req["model"] == "qwen2-vl-base" else REVIEWED[question_of(req)]


def model_dir(run_dir):
    path = run_dir / "train" / "model"
    path.mkdir(parents=True)
    (path / "vlkd_model.json").write_text(
        json.dumps(
            {
                "trainer": "peft",
                "base_model": "served-elsewhere",
                "image_min_pixels": 32 * 32,
                "image_max_pixels": 48 * 48,
            }
        )
    )


def test_base_and_tuned_model_names_on_one_server(run_layout, monkeypatch):
    run_dir = run_layout()
    model_dir(run_dir)
    with FakeProvider(answer=students, models={"qwen2-vl-base", "vlkd-lora"}) as server:
        monkeypatch.setenv("VLKD_TEST_KEY", server.api_key)  # a wrong key would get a 401
        opts = StudentEvalOptions(
            plugin="student",
            backend="openai",
            base_url=server.openai_url,
            api_key_env="VLKD_TEST_KEY",
            base_model_name="qwen2-vl-base",
            tuned_model_name="vlkd-lora",
            concurrency=4,
            bootstrap_samples=200,
        )
        ctx, _ = stage_context(run_dir, StudentEvaluator(opts))
        ctx.plugin.run(ctx)
    metrics = json.loads((ctx.dir / "metrics.json").read_text())
    base, tuned = metrics["results"]["base"]["overall"], metrics["results"]["tuned"]["overall"]
    assert tuned["exact_match"]["value"] == 1.0 and tuned["not_present_f1"]["value"] == 1.0
    # always 不存在: right on the 2 negatives of 8, recall 1, precision 2/8
    assert base["exact_match"]["value"] == 0.25
    assert base["not_present_precision"]["value"] == 0.25 and base["not_present_recall"]["value"] == 1.0
    delta = metrics["deltas"]["base->tuned"]["overall"]["exact_match"]
    assert delta["value"] == 0.75 and 0 < delta["ci"][0] < 0.75 < delta["ci"][1] <= 1.0
    # what went over the wire: greedy, both model names, each of the 2 test images 8 times
    assert {b["temperature"] for b in server.bodies} == {0}
    assert sorted({b["model"] for b in server.bodies}) == ["qwen2-vl-base", "vlkd-lora"]
    assert sorted(server.requests.values()) == [8, 8]
    assert server.api_key not in (ctx.dir / "metrics.json").read_text()
    assert server.api_key not in (ctx.dir / "predictions.jsonl").read_text()


def test_an_unknown_model_name_stops_with_the_name(run_layout):
    run_dir = run_layout()
    model_dir(run_dir)
    with FakeProvider(answer=students, models={"qwen2-vl-base"}) as server:
        opts = StudentEvalOptions(
            plugin="student",
            backend="openai",
            base_url=server.openai_url,
            api_key=server.api_key,
            base_model_name="qwen2-vl-base",
            tuned_model_name="typo-lora",
            systems=["tuned"],
        )
        ctx, _ = stage_context(run_dir, StudentEvaluator(opts))
        with pytest.raises(
            StageError,
            match=r"the tuned student answered none of the 8 pairs: .*has no model "
            r"'typo-lora'.*tuned_model_name",
        ):
            ctx.plugin.run(ctx)

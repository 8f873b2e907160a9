"""The ``openai`` backend with the official SDK against an OpenAI-compatible server on 127.0.0.1."""

import base64
import io
import json

import pytest

from vlkd.core.errors import StageError
from vlkd.plugins.evaluate.student import StudentEvalOptions, StudentEvaluator

from .conftest import QUESTIONS, stage_context
from .openai_server import ChatServer

pytest.importorskip("openai")
REVIEWED = {q: a for q, a, *_ in QUESTIONS}


def _model_dir(run_dir):
    model_dir = run_dir / "train" / "model"
    model_dir.mkdir(parents=True)
    (model_dir / "vlkd_model.json").write_text(json.dumps({
        "trainer": "peft", "base_model": "served-elsewhere", "image_min_pixels": 32 * 32,
        "image_max_pixels": 48 * 48}))


def test_base_and_tuned_model_names_on_one_server(run_layout, monkeypatch):
    run_dir = run_layout()
    _model_dir(run_dir)
    monkeypatch.setenv("VLKD_TEST_KEY", "sk-test-123")
    answers = {"qwen2-vl-base": lambda q: "不存在",  # the lazy student
               "vlkd-lora": lambda q: REVIEWED[q]}   # the tuned student knows every answer
    with ChatServer(answers) as server:
        opts = StudentEvalOptions(plugin="student", backend="openai", base_url=server.base_url,
                                  api_key_env="VLKD_TEST_KEY", base_model_name="qwen2-vl-base",
                                  tuned_model_name="vlkd-lora", concurrency=4, bootstrap_samples=200)
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
    # what went over the wire: greedy, the key from the environment, an image within the pixel bound
    req = server.requests[0]
    assert req["temperature"] == 0 and req["auth"] == "Bearer sk-test-123"
    url = next(p for p in req["messages"][-1]["content"] if p["type"] == "image_url")["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    from PIL import Image

    image = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert image.width * image.height <= 48 * 48
    assert len(server.requests) == 16
    assert "sk-test-123" not in (ctx.dir / "metrics.json").read_text()


def test_an_unknown_model_name_stops_with_the_name(run_layout):
    run_dir = run_layout()
    _model_dir(run_dir)
    with ChatServer({"base": lambda q: "x"}) as server:
        opts = StudentEvalOptions(plugin="student", backend="openai", base_url=server.base_url, api_key="k",
                                  base_model_name="base", tuned_model_name="typo-lora", systems=["tuned"])
        ctx, _ = stage_context(run_dir, StudentEvaluator(opts))
        with pytest.raises(StageError, match=r"the tuned student answered none of the 8 pairs: .*has no model "
                                             r"'typo-lora'.*tuned_model_name"):
            ctx.plugin.run(ctx)

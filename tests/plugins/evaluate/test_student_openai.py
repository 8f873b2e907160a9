"""The ``openai`` backend with the official SDK against the project's fake provider on 127.0.0.1."""

import json

import pytest

from vlkd.core.errors import StageError
from vlkd.llamafactory.families import prescale as lf_prescale
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
                "family": "qwen2_vl",
                "image_min_pixels": 32 * 32,
                "image_max_pixels": 48 * 48,
            }
        )
    )


def served(server) -> dict:
    """The options naming the fake provider's two students (the key in VLKD_TEST_KEY)."""
    return dict(
        backend="openai",
        base_url=server.openai_url,
        api_key_env="VLKD_TEST_KEY",
        base_model_name="qwen2-vl-base",
        tuned_model_name="vlkd-lora",
    )


def test_base_and_tuned_model_names_on_one_server(run_layout, monkeypatch):
    run_dir = run_layout()
    model_dir(run_dir)
    with FakeProvider(answer=students, models={"qwen2-vl-base", "vlkd-lora"}) as server:
        monkeypatch.setenv("VLKD_TEST_KEY", server.api_key)  # a wrong key would get a 401
        opts = StudentEvalOptions(plugin="student", **served(server), concurrency=4, bootstrap_samples=200)
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


def openai_options(server, **kw) -> StudentEvalOptions:
    defaults = {
        "plugin": "student",
        "backend": "openai",
        "base_url": server.openai_url if server else "http://127.0.0.1:9/v1",
        "api_key": server.api_key if server else "x",
        "base_model_name": "qwen2-vl-base",
        "tuned_model_name": "vlkd-lora",
        "bootstrap_samples": 50,
        "concurrency": 4,
    }
    return StudentEvalOptions(**{**defaults, **kw})


def no_failure_lines(ctx) -> bool:
    return not any(e.get("status") == "failed" for e in ctx.ledger().entries.values())


def test_an_unknown_model_name_stops_at_once_with_the_name(run_layout):
    run_dir = run_layout()
    model_dir(run_dir)
    with FakeProvider(answer=students, models={"qwen2-vl-base"}) as server:
        ctx, _ = stage_context(run_dir, StudentEvaluator(openai_options(server, systems=["tuned"])))
        with pytest.raises(StageError, match=r"has no model 'typo-lora'|has no model 'vlkd-lora'") as err:
            ctx.plugin.run(ctx)
        asked = sum(server.requests.values())
    assert "check evaluate.tuned_model_name" in str(err.value)
    assert "Error code" not in str(err.value)  # the server's words, not the SDK's wrapping
    assert asked == 1  # one question, not one per item
    assert no_failure_lines(ctx)


def test_a_model_list_names_what_the_server_serves(run_layout):
    run_dir = run_layout()
    model_dir(run_dir)
    with FakeProvider(answer=students, models={"qwen2-vl-base", "vlkd-lora"}, list_models=True) as server:
        opts = openai_options(server, tuned_model_name="vlkd-lroa")
        ctx, _ = stage_context(run_dir, StudentEvaluator(opts))
        with pytest.raises(StageError) as err:
            ctx.plugin.run(ctx)
        asked = sum(server.requests.values())
    assert "does not serve 'vlkd-lroa' (evaluate.tuned_model_name) (did you mean 'vlkd-lora'?)" in str(
        err.value
    )
    assert "it serves: qwen2-vl-base, vlkd-lora" in str(err.value)
    assert asked == 0  # no question asked of a model that is not there


def test_a_dead_server_stops_the_stage_at_once(run_layout):
    import socket

    run_dir = run_layout()
    model_dir(run_dir)
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens on it
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    opts = openai_options(None, base_url=f"http://127.0.0.1:{port}/v1")
    ctx, _ = stage_context(run_dir, StudentEvaluator(opts))
    with pytest.raises(StageError) as err:
        ctx.plugin.run(ctx)
    message = str(err.value)
    assert message == (
        f"evaluate stopped: cannot reach the OpenAI-compatible server at http://127.0.0.1:{port}/v1 "
        "(APIConnectionError); start it, or fix evaluate.base_url"
    )
    assert no_failure_lines(ctx) and not ctx.ledger().entries  # nothing recorded per item


def test_a_refused_key_stops_the_stage_at_once(run_layout):
    run_dir = run_layout()
    model_dir(run_dir)
    with FakeProvider(answer=students) as server:
        opts = openai_options(server, api_key="sk-wrong-0000000000", api_key_env="VLKD_NO_SUCH_VARIABLE")
        ctx, _ = stage_context(run_dir, StudentEvaluator(opts))
        with pytest.raises(StageError, match=r"refused the key \(401\); set VLKD_NO_SUCH_VARIABLE"):
            ctx.plugin.run(ctx)
        asked = sum(server.requests.values())
    assert asked == 1
    assert no_failure_lines(ctx)


def test_a_server_lost_mid_run_stops_and_a_rerun_continues(run_layout):
    run_dir = run_layout()
    model_dir(run_dir)
    with FakeProvider(answer=students) as server:
        server.faults = [None, None, None, "404"]  # the 4th question finds the model gone
        opts = openai_options(server, concurrency=1, systems=["base"])
        ctx, _ = stage_context(run_dir, StudentEvaluator(opts))
        with pytest.raises(StageError, match=r"answered 404 \(injected 404\)"):
            ctx.plugin.run(ctx)
        first = sum(server.requests.values())
        done = [k for k, e in ctx.ledger().entries.items() if e.get("status") == "ok"]
        assert first == 4 and len(done) == 3 and no_failure_lines(ctx)
        ctx, _ = stage_context(run_dir, StudentEvaluator(opts))
        ctx.plugin.run(ctx)
        again = sum(server.requests.values()) - first
    assert again == 8 - 3  # the finished answers are not asked again
    metrics = json.loads((ctx.dir / "metrics.json").read_text())
    assert metrics["results"]["base"]["overall"]["n"] == 8


def test_metrics_name_the_server_and_the_model_it_returned(run_layout):
    run_dir = run_layout()
    model_dir(run_dir)  # names a local base model "served-elsewhere" that is never loaded
    with FakeProvider(answer=students, models={"qwen2-vl-base", "vlkd-lora"}) as server:
        opts = openai_options(server)
        ctx, _ = stage_context(run_dir, StudentEvaluator(opts))
        ctx.plugin.run(ctx)
    text = (ctx.dir / "metrics.json").read_text()
    model = json.loads(text)["model"]
    assert model["backend"] == "openai"
    assert model["base_url"] == server.openai_url
    assert model["students"] == {
        "base": {"model_name": "qwen2-vl-base", "server_model": "qwen2-vl-base"},
        "tuned": {"model_name": "vlkd-lora", "server_model": "vlkd-lora"},
    }
    assert "served-elsewhere" not in text


def test_a_server_address_is_shown_without_credentials():
    from vlkd.answering.openai_backend import safe_url

    assert safe_url("http://user:pw@gpu-box:8000/v1?api-key=sk-1") == "http://gpu-box:8000/v1"


def test_a_base_url_without_v1_is_named(run_layout):
    run_dir = run_layout()
    model_dir(run_dir)
    with FakeProvider(answer=students) as server:
        opts = openai_options(server, base_url=server.url)  # no /v1
        ctx, _ = stage_context(run_dir, StudentEvaluator(opts))
        with pytest.raises(
            StageError, match=r"answered 404 .*check evaluate\.base_url \(an OpenAI-compatible"
        ):
            ctx.plugin.run(ctx)
    assert no_failure_lines(ctx)


def test_the_server_is_sent_the_image_at_the_size_the_local_processor_makes(tmp_path):
    """The image as training handed it to the processor (as it is for peft, prescaled for
    LLaMA-Factory), at the size that processor resizes it to: a server resizes by its own pixel
    limits (vLLM: the model's, not the training's), and an image on the grid stays as it is."""
    import base64
    import io

    from PIL import Image

    from vlkd.answering.items import EvalItem, ModelInfo
    from vlkd.answering.openai_backend import OpenAIStudent
    from vlkd.students.qwen2_vl import Qwen2VL

    Image.new("RGB", (1637, 1782), (200, 30, 30)).save(tmp_path / "page.png")
    item = EvalItem("p", "i", str(tmp_path / "page.png"), "q", "a", None, False)
    sizes = []

    def size_sent(image, req) -> str:
        url = next(p for p in req["messages"][-1]["content"] if p["type"] == "image_url")["image_url"]["url"]
        sizes.append(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).size)
        return "ok"

    with FakeProvider(answer=size_sent, models={"b"}) as server:
        for trainer in ("peft", "llamafactory"):
            info = ModelInfo(trainer, "b", None, 3136, 376320, "qwen2_vl", None, family=Qwen2VL())
            backend = OpenAIStudent(
                info,
                base_url=server.openai_url,
                api_key=server.api_key,
                api_key_env="X",
                model_names={"base": "b"},
                max_new_tokens=4,
                system_prompt=None,
                timeout=30,
            )
            assert backend.answer("base", item) == "ok"
    qwen = Qwen2VL()
    prescaled = lf_prescale(qwen, 1637, 1782, 3136, 376320)
    assert sizes == [qwen.resize(1637, 1782, 3136, 376320), qwen.resize(*prescaled, 3136, 376320)]
    # a prescaled image sent as it was: vLLM's own limits (Qwen-VL's 3136 to 12845056 pixels) put it
    # on another grid, with more visual tokens than the training's limit allows
    assert qwen.resize(*prescaled, 3136, 12845056) == (588, 644) != sizes[0] == (560, 616)


def test_base_and_tuned_on_two_servers(run_layout):
    """A merged tuned model served on a port of its own: each student is asked on its server,
    each server's model list is checked, and metrics.json names both servers."""
    run_dir = run_layout()
    model_dir(run_dir)
    with (
        FakeProvider(answer=students, models={"qwen2-vl-base"}, list_models=True) as base,
        FakeProvider(answer=students, models={"merged"}, list_models=True) as tuned,
    ):
        opts = openai_options(
            base,
            tuned_base_url=tuned.openai_url,
            tuned_model_name="merged",
            api_key=base.api_key,
        )
        ctx, _ = stage_context(run_dir, StudentEvaluator(opts))
        ctx.plugin.run(ctx)
        assert {b["model"] for b in base.bodies} == {"qwen2-vl-base"}
        assert {b["model"] for b in tuned.bodies} == {"merged"}
        assert sum(base.requests.values()) == sum(tuned.requests.values()) == 8
    metrics = json.loads((ctx.dir / "metrics.json").read_text())
    assert metrics["results"]["tuned"]["overall"]["exact_match"]["value"] == 1.0
    assert metrics["results"]["base"]["overall"]["exact_match"]["value"] == 0.25
    model = metrics["model"]
    assert model["base_url"] == base.openai_url and model["served_models"] == ["qwen2-vl-base"]
    assert model["students"]["tuned"] == {
        "model_name": "merged",
        "server_model": "merged",
        "base_url": tuned.openai_url,
        "served_models": ["merged"],
    }
    assert "base_url" not in model["students"]["base"]


def test_a_dead_tuned_server_is_named_by_its_own_option(run_layout):
    import socket

    run_dir = run_layout()
    model_dir(run_dir)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with FakeProvider(answer=students, models={"qwen2-vl-base"}, list_models=True) as base:
        opts = openai_options(base, tuned_base_url=f"http://127.0.0.1:{port}/v1")
        ctx, _ = stage_context(run_dir, StudentEvaluator(opts))
        with pytest.raises(StageError) as err:
            ctx.plugin.run(ctx)
    assert str(err.value) == (
        f"evaluate stopped: cannot reach the OpenAI-compatible server at http://127.0.0.1:{port}/v1 "
        "(APIConnectionError); start it, or fix evaluate.tuned_base_url"
    )


def test_a_password_in_a_server_address_is_not_written_out():
    opts = openai_options(
        None,
        base_url="http://bob:s3cret-pass@gpu-box:8000/v1",
        tuned_base_url="http://gpu-box:8001/v1?api-key=sk-live-0123456789",
    )
    dumped = json.dumps(opts.model_dump(mode="json"))
    assert "s3cret-pass" not in dumped and "sk-live-0123456789" not in dumped
    assert "http://bob:***@gpu-box:8000/v1" in dumped

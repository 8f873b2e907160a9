"""The ``ray_llm`` backend: both students through Ray Data LLM's HTTP processor on the session's
local Ray cluster, against the fake provider on 127.0.0.1; the vLLM engines' configuration built
and checked (they need GPUs to run)."""

import json
import shutil

import pytest

from vlkd.plugins.evaluate.student import StudentEvalOptions, StudentEvaluator
from vlkd.testing.fake_provider import FakeProvider

from .conftest import stage_context
from .test_student_openai import model_dir, students

pytestmark = pytest.mark.timeout(1800)
MODELS = {"qwen2-vl-base", "vlkd-lora"}


@pytest.fixture
def on_cluster(vlkd_ray_cluster, monkeypatch):
    import ray

    monkeypatch.setenv("RAY_ADDRESS", vlkd_ray_cluster.address)
    yield vlkd_ray_cluster
    ray.shutdown()


def options(server, backend: str, **kw) -> StudentEvalOptions:
    served = {
        "base_url": server.openai_url,
        "api_key": server.api_key,
        "base_model_name": "qwen2-vl-base",
        "tuned_model_name": "vlkd-lora",
    }
    return StudentEvalOptions(plugin="student", backend=backend, bootstrap_samples=50, **{**served, **kw})


def evaluate(run_dir, opts):
    ctx, _ = stage_context(run_dir, StudentEvaluator(opts))
    try:
        ctx.plugin.run(ctx)
    finally:
        ctx.close()
    return ctx


def asked(server) -> list[tuple[str, str]]:
    """(model, messages, images included) of each question the server was asked, in order
    (``server.keep_raw`` on)."""
    bodies = [json.loads(raw) for raw in server.raw_bodies]
    return [(b["model"], json.dumps(b["messages"], sort_keys=True)) for b in bodies]


def test_predictions_are_the_openai_backends_through_a_failed_run_and_a_rerun(
    run_layout, on_cluster, tmp_path
):
    """Against the same server, the openai backend and then the ray_llm one, whose first Ray Data
    run fails midway: its answers are kept, the next run asks only for the others, and the
    predictions are the openai backend's, item by item; a run after that asks nothing."""
    from vlkd.api import StageError
    from vlkd.distributed.ray_llm import answered, read_answers

    online = run_layout()
    model_dir(online)
    run_dir = tmp_path / "ray"
    shutil.copytree(online, run_dir)
    with FakeProvider(answer=students, models=MODELS) as server:
        server.keep_raw = True
        evaluate(online, options(server, "openai", concurrency=2))
        expected = (online / "evaluate" / "predictions.jsonl").read_bytes()
        openai_asked = asked(server)
        assert len(set(openai_asked)) == 16
        server.raw_bodies.clear()

        # the 7th question gets no answer, and the HTTP processor is told not to retry it
        server.faults = [None] * 6 + ["timeout:2"]
        opts = options(server, "ray_llm", ray_llm={"batch_size": 1, "max_retries": 0})
        with pytest.raises(StageError, match=r"the Ray Data LLM run of 16 questions failed: .*kept in"):
            evaluate(run_dir, opts)
        parts = run_dir / "evaluate" / "ray_llm" / "requests.parts"
        kept = {k for k, line in read_answers(parts).items() if answered(line)}
        assert kept  # answers came before the failure
        bodies = {
            json.loads(x)["custom_id"]: json.loads(x)["body"]
            for x in (parts.parent / "requests.jsonl").read_text().splitlines()
        }
        kept_questions = {
            (bodies[k]["model"], json.dumps(bodies[k]["messages"], sort_keys=True)) for k in kept
        }
        first = len(server.raw_bodies)

        ctx = evaluate(run_dir, opts)
        # item by item the same predictions, from the very questions the openai backend asked
        assert (run_dir / "evaluate" / "predictions.jsonl").read_bytes() == expected
        assert set(asked(server)) == set(openai_asked)
        again = asked(server)[first:]
        assert not kept_questions & set(again)  # no answer received is asked for again
        assert len(again) == 16 - len(kept)
        model = json.loads((ctx.dir / "metrics.json").read_text())["model"]
        assert model["backend"] == "ray_llm" and model["ray_llm"]["engine"] == "http"
        assert model["students"]["tuned"] == {"model_name": "vlkd-lora", "server_model": "vlkd-lora"}
        assert not (ctx.dir / "ray_llm").exists()  # the run's files go once the ledger has it all

        # all answered: a rerun asks nothing (the ledger, as for the openai backend)
        n = len(server.raw_bodies)
        evaluate(run_dir, opts)
        assert len(server.raw_bodies) == n


def test_a_wrong_model_name_or_a_dead_server_is_one_error_before_ray_starts(run_layout):
    """With engine http the server is asked first, as the openai backend asks it: no Ray Data run."""
    import socket

    from vlkd.api import StageError

    run_dir = run_layout()
    model_dir(run_dir)
    with FakeProvider(answer=students, models=MODELS, list_models=True) as server:
        opts = options(server, "ray_llm", tuned_model_name="vlkd-lroa")
        with pytest.raises(StageError, match=r"does not serve 'vlkd-lroa' \(evaluate.tuned_model_name\)"):
            evaluate(run_dir, opts)
        assert not server.bodies
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens on it
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    opts = options(server, "ray_llm").model_copy(update={"base_url": f"http://127.0.0.1:{port}/v1"})
    with pytest.raises(
        StageError, match=r"cannot reach the OpenAI-compatible server at http://127.0.0.1:\d+/v1"
    ):
        evaluate(run_dir, opts)
    assert not (run_dir / "evaluate" / "ray_llm").exists()


def test_ray_llm_options_only_where_they_apply():
    from pydantic import ValidationError

    served = {"base_url": "http://127.0.0.1:9/v1", "base_model_name": "a", "tuned_model_name": "b"}

    def error(**kw) -> str:
        with pytest.raises(ValidationError) as exc:
            StudentEvalOptions(plugin="student", **kw)
        return str(exc.value)

    assert "ray_llm applies to backend: ray_llm only (this backend is openai)" in error(
        backend="openai", ray_llm={"replicas": 2}, **served
    )
    assert "concurrency (use ray_llm.replicas), device do not apply to backend 'ray_llm'" in error(
        backend="ray_llm", concurrency=4, device="cpu", **served
    )
    assert "base_url does not apply to backend 'ray_llm' with engine vllm" in error(
        backend="ray_llm", ray_llm={"engine": "vllm"}, base_url="http://127.0.0.1:9/v1"
    )
    assert "backend 'ray_llm with engine http' needs base_url" in error(backend="ray_llm")
    assert "tensor_parallel_size applies to engine: vllm only (this engine is http)" in error(
        backend="ray_llm", ray_llm={"tensor_parallel_size": 2}, **served
    )
    assert "qps applies to engine: http only (this engine is vllm)" in error(
        backend="ray_llm", ray_llm={"engine": "vllm", "qps": 5}
    )
    # the vLLM engines need no server: the train stage's student, on the cluster's GPUs
    opts = StudentEvalOptions(plugin="student", backend="ray_llm", ray_llm={"engine": "vllm", "replicas": 2})
    assert StudentEvaluator(opts).cluster_gpus() == (
        2,
        "evaluate.ray_llm: 2 vLLM engine(s) x 1 tensor x 1 pipeline",
    )


def test_the_vllm_engines_serve_the_base_student_and_the_adapter(run_layout, tmp_path):
    pytest.importorskip("ray")
    from vlkd.answering.items import load_items, load_model_info
    from vlkd.answering.ray_llm_backend import RayLLMStudent
    from vlkd.distributed.options import RayLLMOptions
    from vlkd.distributed.ray_llm import vllm_row

    run_dir = run_layout()
    model_dir(run_dir)
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"r": 12}))
    info = load_model_info(run_dir / "train" / "model", check_student=False)
    ray_opts = RayLLMOptions(
        engine="vllm", replicas=2, batch_size=8, tensor_parallel_size=2, max_model_len=4096
    )
    student = RayLLMStudent(
        info,
        options=ray_opts,
        base_url=None,
        api_key=None,
        api_key_env="X",
        model_names={"base": "", "tuned": str(adapter)},
        max_new_tokens=16,
        system_prompt="sys",
        timeout=1.0,
    )
    config = student.processor_config(["base", "tuned"])
    assert config.model_source == "served-elsewhere"  # vlkd_model.json's base model
    assert config.concurrency == 2 and config.batch_size == 8
    engine = config.engine_kwargs
    assert engine["tensor_parallel_size"] == 2 and engine["max_model_len"] == 4096
    assert engine["enable_lora"] is True and engine["max_lora_rank"] == 16  # rank 12, rounded up
    assert "enable_lora" not in student.processor_config(["base"]).engine_kwargs
    _, items = load_items(
        run_dir / "review" / "pairs.jsonl",
        run_dir / "ingest" / "images.jsonl",
        "test",
        run_dir=run_dir,
        warn=print,
    )
    base, tuned = (vllm_row(student.request_body(s, items[0])) for s in ("base", "tuned"))
    assert base["model"] == "served-elsewhere" and tuned["model"] == str(adapter)  # the LoRA request
    assert base["messages"] == tuned["messages"]
    assert json.loads(base["messages"])[0] == {"role": "system", "content": "sys"}
    assert base["sampling_params"] == {"max_tokens": 16, "temperature": 0}
    shutil.rmtree(adapter)
    with pytest.raises(Exception, match="cannot read the tuned student's LoRA rank"):
        student.processor_config(["tuned"])

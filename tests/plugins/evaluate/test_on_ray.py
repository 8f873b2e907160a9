"""The evaluate stage on a real two-node Ray cluster on 127.0.0.1: the transformers student in a
Ray actor per worker (the model loaded once there), a chunk of ``batch_size`` items at a time, so
the batches, and the predictions, are those of a local run byte for byte; a stage half done on
one executor resumes on the other; the openai backend's calls stay on the driver with the ledger
(an answer received once is never asked for again)."""

import json
import shutil

import pytest

from vlkd.plugins.evaluate.student import StudentEvalOptions, StudentEvaluator

from .conftest import stage_context

pytestmark = pytest.mark.timeout(1800)
pytest.importorskip("peft")


@pytest.fixture
def ray_executor(vlkd_ray_cluster, tmp_path):
    from vlkd.core.executor import ExecutorOptions
    from vlkd.distributed.ray_executor import RayExecutor

    executor = RayExecutor(ExecutorOptions(name="ray", address=vlkd_ray_cluster.address))
    executor.start(tmp_path)
    yield executor
    executor.close()


def evaluate(run_dir, executor=None, **options):
    opts = StudentEvalOptions(
        plugin="student", systems=["base", "tuned"], batch_size=3, max_new_tokens=6, bootstrap_samples=50
    )
    plugin = StudentEvaluator(opts.model_copy(update=options))
    ctx, _ = stage_context(run_dir, plugin)
    if executor is not None:
        ctx.run.executor = executor
    try:
        plugin.run(ctx)
    finally:
        ctx.close()
    return ctx


def keep_in_ledger(run_dir, keys):
    """The ledger as a kill leaves it: only the lines of ``keys``."""
    path = run_dir / "evaluate" / "ledger.jsonl"
    lines = [x for x in path.read_text().splitlines() if json.loads(x)["key"] in keys]
    path.write_text("".join(x + "\n" for x in lines))
    for name in ("predictions.jsonl", "metrics.json"):
        (run_dir / "evaluate" / name).unlink()


def test_the_student_in_ray_actors_answers_as_a_local_run(
    run_layout, tiny_student, tiny_adapter, ray_executor
):
    run_dir = run_layout(student=tiny_student, adapter=tiny_adapter)
    local = evaluate(run_dir)
    expected = (run_dir / "evaluate" / "predictions.jsonl").read_bytes()
    preds = [json.loads(x) for x in expected.splitlines()]
    assert len(preds) == 16 and "executor" not in local.facts

    shutil.rmtree(run_dir / "evaluate")
    on_ray = evaluate(run_dir, ray_executor)
    assert (run_dir / "evaluate" / "predictions.jsonl").read_bytes() == expected
    facts = on_ray.facts["executor"]
    # two nodes of one CPU: two actors, each holding the student; 8 items a system in chunks of 3
    assert facts["name"] == "ray" and facts["workers"] == 2 and facts["retries"] == 0
    assert facts["tasks"] == 3  # the last system's chunks (the facts are per map)

    # half done on Ray (the base row and the tuned row's first batch), finished locally; and the reverse
    done = {f"base:{p['id']}" for p in preds if p["system"] == "base"}
    done |= {f"tuned:{p['id']}" for p in [p for p in preds if p["system"] == "tuned"][:3]}
    keep_in_ledger(run_dir, done)
    again = evaluate(run_dir)
    assert (run_dir / "evaluate" / "predictions.jsonl").read_bytes() == expected
    assert again.counts.to_json()["ok"] == 16

    keep_in_ledger(run_dir, done)
    again = evaluate(run_dir, ray_executor)
    assert (run_dir / "evaluate" / "predictions.jsonl").read_bytes() == expected
    assert again.facts["executor"]["tasks"] == 2  # only the tuned row's two chunks left


def test_a_cluster_without_a_gpu_for_a_cuda_student_is_one_error(
    run_layout, tiny_student, tiny_adapter, ray_executor
):
    from vlkd.core.errors import StageError

    run_dir = run_layout(student=tiny_student, adapter=tiny_adapter)
    with pytest.raises(StageError, match=r"needs 1 GPU\(s\) per worker and the cluster has 0"):
        evaluate(run_dir, ray_executor, device="cuda")
    ledger = run_dir / "evaluate" / "ledger.jsonl"
    assert not ledger.exists() or not ledger.read_text().strip()  # no item was tried


def test_served_students_are_asked_from_the_driver_once(run_layout, ray_executor, monkeypatch):
    from vlkd.testing.fake_provider import FakeProvider

    from .test_student_openai import model_dir, served, students

    run_dir = run_layout()
    model_dir(run_dir)
    with FakeProvider(answer=students, models={"qwen2-vl-base", "vlkd-lora"}) as server:
        monkeypatch.setenv("VLKD_TEST_KEY", server.api_key)
        options = {**served(server), "concurrency": 2}
        evaluate(run_dir, None, **options, systems=["base"])  # the base row locally
        asked = sum(server.requests.values())
        assert asked == 8
        ctx = evaluate(run_dir, ray_executor, **options)  # then both on Ray: base is not asked again
        assert sum(server.requests.values()) == asked + 8
        assert ctx.counts.to_json()["ok"] == 16
        evaluate(run_dir, ray_executor, **options)  # all answered: nothing is asked
        assert sum(server.requests.values()) == asked + 8

"""``--executor ray`` on a real two-node Ray cluster on 127.0.0.1 (``ray start --head`` and a worker
node joining it): the demo's item stages give the same files as a local run, byte for byte; a
worker that dies costs its chunk one bounded, counted retry and nothing finished is redone; a
stage half done on one executor resumes on the other."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(1800)


def vlkd(*args, cwd, plugins=False, wait=True):
    env = {**os.environ, "COLUMNS": "200"}
    if plugins:
        env["VLKD_PLUGINS"] = "vlkd.testing.fixture_plugins"
    cmd = [sys.executable, "-m", "vlkd", *args]
    if not wait:
        return subprocess.Popen(
            cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
        )
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=1500, env=env)


def on_ray(cluster):
    return ["--executor", "ray", "--address", cluster.address]


def manifest(run: Path) -> dict:
    return json.loads((run / "manifest.json").read_text())


def calls(path: Path) -> list[int]:
    return sorted(int(x) for x in path.read_text().split()) if path.exists() else []


# -- the demo's item stages ---------------------------------------------------------------------
DEMO = """\
extends: {root}/recipes/demo.yaml
name: demo-items
ingest:
  plugin: files
  manifest: [{root}/recipes/data/demo/manifest.csv]
  pdf_dpi: 150
"""
#: the files the item stages write: records, images, pairs, flags and notes
OUTPUTS = [
    "ingest/images.jsonl",
    "preprocess/images.jsonl",
    "teach/pairs.jsonl",
    "verify/pairs.jsonl",
    "verify/notes.jsonl",
]


def test_the_demos_item_stages_on_ray_equal_a_local_run_byte_for_byte(tmp_path, vlkd_ray_cluster):
    (tmp_path / "demo.yaml").write_text(DEMO.format(root=ROOT))
    local = vlkd("run", "demo.yaml", "--run-dir", "local", "--to", "verify", cwd=tmp_path)
    assert local.returncode == 0, local.stderr[-3000:]
    ray = vlkd(
        "run", "demo.yaml", "--run-dir", "ray", "--to", "verify", *on_ray(vlkd_ray_cluster), cwd=tmp_path
    )
    assert ray.returncode == 0, ray.stderr[-3000:]
    assert "Traceback" not in ray.stderr
    for name in OUTPUTS:
        a, b = tmp_path / "local" / name, tmp_path / "ray" / name
        # the same bytes, but where a record names a file of its own run directory (preprocess
        # keeps the rendered PDF page's absolute path as "original"): the two runs' own paths
        here = str(tmp_path / "local").encode()
        assert a.read_bytes().replace(here, str(tmp_path / "ray").encode()) == b.read_bytes(), name
        assert a.stat().st_size > 0 or name.endswith("notes.jsonl"), name
    pngs = sorted(p.name for p in (tmp_path / "local" / "preprocess" / "images").iterdir())
    assert pngs and pngs == sorted(p.name for p in (tmp_path / "ray" / "preprocess" / "images").iterdir())
    for name in pngs:
        left = (tmp_path / "local" / "preprocess" / "images" / name).read_bytes()
        assert left == (tmp_path / "ray" / "preprocess" / "images" / name).read_bytes(), name
    stages = manifest(tmp_path / "ray")["stages"]
    for name in ("ingest", "preprocess", "verify"):
        facts = stages[name]["facts"]["executor"]
        assert facts["name"] == "ray" and facts["tasks"] >= 1 and facts["retries"] == 0, name
    assert stages["teach"]["counts"] == manifest(tmp_path / "local")["stages"]["teach"]["counts"]
    assert "executor" not in manifest(tmp_path / "local")["stages"]["ingest"].get("facts", {})


# -- a worker killed ----------------------------------------------------------------------------
COUNTING = """\
name: counting
executor:
  name: ray
  chunk: 1
  max_retries: {retries}
ingest:
  plugin: counting
  n: 10
  calls_file: {calls}
  die_at: 4
  die_marker: {marker}
"""


@pytest.mark.parametrize("retries", [2, 0])
def test_a_worker_killed_mid_stage_loses_nothing_finished(tmp_path, vlkd_ray_cluster, retries):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(COUNTING.format(retries=retries, calls=tmp_path / "calls", marker=tmp_path / "died"))
    result = vlkd(
        "run",
        str(recipe),
        "--run-dir",
        "run",
        "--address",
        vlkd_ray_cluster.address,
        cwd=tmp_path,
        plugins=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "died").exists()  # a worker process did die, at item 4
    facts = manifest(tmp_path / "run")["stages"]["ingest"]
    done = calls(tmp_path / "calls")
    if retries:
        # the dead worker's chunk was sent once more; every item ran exactly once to the end
        assert done == list(range(10))
        assert facts["facts"]["executor"]["retries"] == 1
        assert facts["counts"]["ok"] == 10
        assert (
            "a task of 1 item(s) was lost (WorkerCrashedError); sending it again (retry 1 of 2)"
            in result.stderr
        )
    else:
        # no retry allowed: that item fails with the reason, the others are kept
        assert done == [i for i in range(10) if i != 4]
        assert facts["counts"]["ok"] == 9 and facts["counts"]["failed"] == 1
        assert facts["facts"]["executor"]["retries"] == 0
        ledger = [
            json.loads(x) for x in (tmp_path / "run" / "ingest" / "ledger.jsonl").read_text().splitlines()
        ]
        (failed,) = [e for e in ledger if e["status"] == "failed"]
        assert failed["key"] == "item-4" and failed["reason"].startswith("lost 1 times on Ray (")


# -- resume across executors ---------------------------------------------------------------------
RESUME = """\
name: resume
ingest:
  plugin: counting
  n: 8
  calls_file: {calls}
"""


def _kill_at_hang(proc: subprocess.Popen, marker: Path, timeout: float = 600) -> None:
    end = time.monotonic() + timeout
    while not marker.exists():
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        assert time.monotonic() < end, "the stage never reached the hanging item"
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and what it started itself, nothing else
    proc.wait(timeout=60)


@pytest.mark.parametrize("first", ["local", "ray"])
def test_a_stage_half_done_on_one_executor_resumes_on_the_other(tmp_path, vlkd_ray_cluster, first):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(RESUME.format(calls=tmp_path / "calls"))
    where = {"local": [], "ray": on_ray(vlkd_ray_cluster)}
    then = "ray" if first == "local" else "local"
    proc = vlkd(
        "run", str(recipe), "--run-dir", "run", "--set", "ingest.hang_at=5", *where[first],
        cwd=tmp_path, plugins=True, wait=False,
    )  # fmt: skip
    _kill_at_hang(proc, tmp_path / "run" / "ingest" / "hanging")
    ledger = tmp_path / "run" / "ingest" / "ledger.jsonl"
    kept = {int(json.loads(x)["key"].split("-")[1]) for x in ledger.read_text().splitlines() if x.strip()}
    assert kept and 5 not in kept and set(calls(tmp_path / "calls")) >= kept
    # hang_at leaves the fingerprint alone: the same stage resumes, now on the other executor
    result = vlkd(
        "run", str(recipe), "--run-dir", "run", "--set", "ingest.hang_at=99", *where[then],
        cwd=tmp_path, plugins=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"resuming: {len(kept)} of 8 items already done" in result.stderr
    done = calls(tmp_path / "calls")
    assert set(done) == set(range(8))
    # an item the ledger had is never run again (one in flight at the kill, unrecorded, may be)
    assert all(done.count(i) == 1 for i in kept)
    if first == "local":  # one item at a time: exactly the five before the hang were done
        assert sorted(kept) == [0, 1, 2, 3, 4] and done == list(range(8))
    stage = manifest(tmp_path / "run")["stages"]["ingest"]
    assert stage["status"] == "done" and stage["counts"]["ok"] == 8
    assert (stage.get("facts", {}).get("executor", {}).get("name") == "ray") == (then == "ray")
    records = [json.loads(x) for x in (tmp_path / "run" / "ingest" / "images.jsonl").read_text().splitlines()]
    assert [r["id"] for r in records] == [f"{i:06d}" for i in range(8)]


def test_a_node_that_cannot_read_the_run_directory_is_named(tmp_path, vlkd_ray_cluster, monkeypatch):
    """The check itself, from this process: a path no node has is an error naming a node and it."""
    import ray

    from vlkd.core.errors import StageError
    from vlkd.core.executor import ExecutorOptions
    from vlkd.distributed.ray_executor import RayExecutor

    executor = RayExecutor(ExecutorOptions(name="ray", address=vlkd_ray_cluster.address))
    executor.start(tmp_path)  # the probe file in tmp_path: every node of this machine reads it
    try:
        assert len(executor.nodes()) == 2
        missing = tmp_path / "not-here.png"
        with pytest.raises(StageError) as exc:
            executor.check_readable([str(missing)])
        assert f"cannot read {missing} (the stage's first item)" in str(exc.value)
        assert re.search(r"node [0-9.]+ cannot read", str(exc.value)) and "docs/ray.md" in str(exc.value)
    finally:
        executor.close()
    assert not ray.is_initialized()


GPU_TEACHER = """\
name: gpus
ingest:
  plugin: files
  inputs: [{pages}]
teach:
  plugin: openai
  model: Qwen/Qwen2.5-VL-72B-Instruct
  mode: ray_llm
  ray_llm: {{engine: vllm, replicas: 2, tensor_parallel_size: 4}}
"""


def test_a_recipe_needing_gpus_on_a_cluster_without_is_one_error_before_any_work(
    tmp_path, vlkd_ray_cluster, vlkd_images
):
    vlkd_images(n=2, folder=tmp_path / "pages")
    (tmp_path / "r.yaml").write_text(GPU_TEACHER.format(pages=tmp_path / "pages"))
    result = vlkd("run", "r.yaml", "--run-dir", "run", *on_ray(vlkd_ray_cluster), cwd=tmp_path)
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert (
        "executor ray: teach.ray_llm: 2 vLLM engine(s) x 4 tensor x 1 pipeline needs 8 GPU(s) and the "
        "cluster has 0" in " ".join(result.stderr.split())
    )
    assert not (tmp_path / "run" / "ingest" / "ledger.jsonl").exists()  # no stage began

"""``--executor ray`` against a clumsy or hostile user: an address where something else listens is
one line at once (Ray's own client retried it for minutes); an item that raises on a worker is
named and the rest kept, and a local re-run does only it; one Ctrl-C on the driver mid-stage stops
it, keeps what finished, leaves no task running, and the next run resumes."""

import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.distributed.test_ray_executor import calls, manifest, on_ray, vlkd
from vlkd.testing.cli import FIXTURE_PLUGINS, run_vlkd, start_vlkd, wait_until
from vlkd.testing.teach import image_hashes, ledger, make_images, recipe_yaml, section

pytestmark = pytest.mark.timeout(1800)
pytest.importorskip("ray", reason='needs pip install "vlkd[ray]"')

RECIPE = """\
name: hostile
ingest:
  plugin: counting
  n: {n}
  calls_file: {calls}
"""


def on_ray_at(address: str) -> list[str]:
    return ["--executor", "ray", "--address", address]


def recipe(tmp_path: Path, n: int = 8) -> Path:
    path = tmp_path / "r.yaml"
    path.write_text(RECIPE.format(n=n, calls=tmp_path / "calls"))
    return path


@pytest.fixture
def http_port():
    """An HTTP server on 127.0.0.1, inside the loopback-only namespace the Ray tests use."""
    from vlkd.testing.ray_cluster import isolate_loopback

    isolate_loopback()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_an_address_where_something_else_listens_is_one_line_not_a_hang(tmp_path, http_port):
    address = f"127.0.0.1:{http_port}"
    result = subprocess.run(
        [sys.executable, "-m", "vlkd", "run", str(recipe(tmp_path)), "--run-dir", "run", *on_ray_at(address)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,  # a guard against the old hang, not a timing assertion
        env={**os.environ, "VLKD_PLUGINS": "vlkd.testing.fixture_plugins", "COLUMNS": "200"},
        start_new_session=True,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert lines == [
        f"error: executor ray: something listens at {address}, but it is not a Ray cluster (it does not "
        "speak gRPC); give the head node's GCS port (ray start --head prints it; default 6379) or "
        "ray://HOST:10001"
    ]
    assert not calls(tmp_path / "calls")


def test_an_item_raising_on_a_worker_is_named_and_a_local_rerun_does_only_it(tmp_path, vlkd_ray_cluster):
    path = recipe(tmp_path)
    result = vlkd(
        "run", str(path), "--run-dir", "run", "--set", "ingest.fail_at=3", *on_ray(vlkd_ray_cluster),
        cwd=tmp_path, plugins=True,
    )  # fmt: skip
    stage = manifest(tmp_path / "run")["stages"]["ingest"]
    assert stage["counts"]["ok"] == 7 and stage["counts"]["failed"] == 1, result.stderr[-3000:]
    ledger = [json.loads(x) for x in (tmp_path / "run" / "ingest" / "ledger.jsonl").read_text().splitlines()]
    (failed,) = [e for e in ledger if e["status"] == "failed"]
    assert failed["key"] == "item-3" and failed["reason"] == "RuntimeError: boom at 3"
    assert "item-3" in result.stderr and "boom at 3" in result.stderr
    assert sorted(calls(tmp_path / "calls")) == [0, 1, 2, 4, 5, 6, 7]
    # the fault is gone (the run remembers --set: lift it); a local re-run tries the failed item
    # again, and only it
    again = vlkd(
        "run", str(path), "--run-dir", "run", "--set", "ingest.fail_at=99", cwd=tmp_path, plugins=True
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert sorted(calls(tmp_path / "calls")) == list(range(8))
    assert manifest(tmp_path / "run")["stages"]["ingest"]["counts"]["ok"] == 8


def test_ctrl_c_on_the_driver_mid_stage_keeps_what_finished(tmp_path, vlkd_ray_cluster):
    path = recipe(tmp_path)
    # started as a person's shell starts it, Ctrl-C reaching it: a test run started in the
    # background ('cmd &') has SIGINT ignored, which every child inherits; the driver then never
    # saw this test's Ctrl-C and waited on the hanging item (session 6's "first Ctrl-C" failure)
    proc = start_vlkd(
        "run", str(path), "--run-dir", "run", "--set", "ingest.hang_at=5", "--set", "executor.chunk=1",
        *on_ray(vlkd_ray_cluster), cwd=tmp_path, VLKD_PLUGINS=FIXTURE_PLUGINS,
    )  # fmt: skip
    marker = tmp_path / "run" / "ingest" / "hanging"
    end = time.monotonic() + 600
    while len(marker.read_text().split() if marker.exists() else []) < 2:  # "ITEM PID", written
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        assert time.monotonic() < end, "the stage never reached the hanging item"
        time.sleep(0.2)
    hung_in = int(marker.read_text().split()[1])  # the worker process the hanging item runs in
    os.kill(proc.pid, signal.SIGINT)  # one Ctrl-C: the driver alone, as a terminal sends it
    try:
        _, err = proc.communicate(timeout=300)  # a guard against the old hang, not a timing assertion
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise AssertionError("one Ctrl-C did not stop the driver") from None
    # stopped as vlkd stops, not by Ray's driver dying: ray.cancel(force=True) on a task just
    # pushed to a worker failed Ray's internal check ("Tried to complete task that was not
    # pending", exit status 1) in a few runs in ten
    assert proc.returncode == 130, err[-3000:]
    assert "Traceback" not in err and "Check failed" not in err, err[-3000:]
    assert "interrupted during stage 'ingest'; finished items are kept." in err
    ledger = tmp_path / "run" / "ingest" / "ledger.jsonl"
    kept = {int(json.loads(x)["key"].split("-")[1]) for x in ledger.read_text().splitlines() if x.strip()}
    assert 5 not in kept and kept <= set(calls(tmp_path / "calls"))
    # no Ray task is left running that could still write: the hanging item's worker is gone
    end = time.monotonic() + 120
    while _alive(hung_in):
        assert time.monotonic() < end, f"the hanging item's worker (pid {hung_in}) still runs"
        time.sleep(0.5)
    result = vlkd(
        "run", str(path), "--run-dir", "run", "--set", "ingest.hang_at=99", cwd=tmp_path, plugins=True
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(set(calls(tmp_path / "calls"))) == list(range(8))
    assert all(calls(tmp_path / "calls").count(i) == 1 for i in kept)  # nothing finished redone


def _alive(pid: int) -> bool:
    """A process that runs (a zombie, ended but not yet reaped by its raylet, does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def test_one_ctrl_c_during_teach_on_ray_records_the_answers_in_flight(tmp_path, vlkd_ray_cluster):
    """Teach's calls to a server stay on the driver (its limits, budget and journal), with the
    run on Ray: a first Ctrl-C records the answers in flight, and the resumed run (a local one:
    the journal and cache are the same) asks only for what was not received."""
    pytest.importorskip("openai")
    from vlkd.testing.fake_provider import FakeProvider

    folder = tmp_path / "images"
    make_images(folder, 16)
    run_dir = tmp_path / "run"
    with FakeProvider(latency=1.0) as server:  # started in the cluster's loopback-only network
        path = tmp_path / "recipe.yaml"
        path.write_text(recipe_yaml(folder, section(server, concurrency=4)), encoding="utf-8")
        args = ["run", str(path), "--run-dir", str(run_dir), *on_ray(vlkd_ray_cluster)]
        proc = start_vlkd(*args, VLKD_DISABLE_PLUGIN_AUTOLOAD="1")
        wait_until(proc, lambda: sum(server.requests.values()) >= 6, "6 requests never went out", timeout=600)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=300)  # a guard, not a timing assertion
        assert proc.returncode == 130, err[-3000:]
        assert "Traceback" not in err and "Check failed" not in err, err[-3000:]
        assert "answers in flight to record them" in err
        assert "interrupted during stage 'teach'; finished items are kept." in err
        assert "never answered" not in err  # nothing left "possibly spent"
        asked = sum(server.requests.values())
        # every request the server received was answered and recorded: none in flight was dropped
        assert 6 <= asked < 16 and len({e["key"] for e in ledger(run_dir)}) == asked, asked

        done = run_vlkd(*args[:4], VLKD_DISABLE_PLUGIN_AUTOLOAD="1")  # resumed here, locally
        assert done.returncode == 0, done.stderr[-3000:]
    assert set(server.requests) == set(image_hashes(folder).values())
    assert sum(server.requests.values()) == 16  # no answer paid for twice
    assert len(ledger(run_dir)) == 16

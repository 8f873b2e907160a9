"""The CPUs a process may use (affinity, cgroup quota) and the thread pools sized to them."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from vlkd.core.cpus import THREAD_VARIABLES, limit_threads, quota_cpus, usable_cpus


def test_cgroup_v2_and_v1_quotas(tmp_path):
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert quota_cpus(tmp_path) == 1.5
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert quota_cpus(tmp_path) is None
    v1 = tmp_path / "v1"
    (v1 / "cpu").mkdir(parents=True)
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("50000\n")
    (v1 / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert quota_cpus(v1) == 0.5
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    assert quota_cpus(v1) is None
    assert quota_cpus(tmp_path / "absent") is None


def test_usable_cpus_is_the_affinity_capped_by_the_quota(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3, 4, 5, 6, 7})
    assert usable_cpus(tmp_path) == 8  # no quota file: the affinity mask
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert usable_cpus(tmp_path) == 2  # 1.5 CPUs of quota: two threads keep it busy
    (tmp_path / "cpu.max").write_text("10000 100000\n")
    assert usable_cpus(tmp_path) == 1
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {3})
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert usable_cpus(tmp_path) == 1


def _thread_env_after(code: str) -> dict[str, str | None]:
    """The thread variables (and the wait policy) after ``code`` ran in a fresh interpreter
    whose environment had none of them."""
    script = (
        f"import os, json, sys\n{code}\n"
        "from vlkd.core.cpus import THREAD_VARIABLES\n"
        "names = (*THREAD_VARIABLES, 'OMP_WAIT_POLICY')\n"
        "sys.stderr.write('\\n' + json.dumps({k: os.environ.get(k) for k in names}))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in (*THREAD_VARIABLES, "OMP_WAIT_POLICY")}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stderr.strip().splitlines()[-1])


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="Linux only")
def test_a_pinned_process_sizes_its_pools_to_one_cpu():
    # a process pinned to one CPU (taskset -c 0): the pools, and what subprocesses inherit, say 1
    got = _thread_env_after(
        "os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})\n"
        "from vlkd.core.cpus import limit_threads\nlimit_threads()"
    )
    assert {got[k] for k in THREAD_VARIABLES} == {"1"} and got["OMP_WAIT_POLICY"] == "PASSIVE"


def test_a_value_the_user_set_is_kept():
    env = {"OMP_NUM_THREADS": "6", "OMP_WAIT_POLICY": "ACTIVE"}
    assert limit_threads(3, env) == 3
    assert env["OMP_NUM_THREADS"] == "6" and env["OMP_WAIT_POLICY"] == "ACTIVE"
    assert env["OPENBLAS_NUM_THREADS"] == env["MKL_NUM_THREADS"] == "3"


def test_the_command_line_sets_the_limits_before_any_stage_runs():
    # `vlkd` sets them before any stage (or its subprocesses) loads a library
    got = _thread_env_after(
        "sys.argv = ['vlkd', '--help']\nfrom vlkd.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass"
    )
    assert got["OMP_NUM_THREADS"] == str(usable_cpus()) and got["OMP_WAIT_POLICY"] == "PASSIVE"

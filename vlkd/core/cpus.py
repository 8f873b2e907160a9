"""The CPUs this process may use, and thread pools sized to them, whose idle threads sleep.

``os.cpu_count()`` counts the machine's cores, not the ones this process may run on: a
container with a CPU quota, a job pinned with ``taskset`` or a Slurm allocation gets fewer. A
pool sized to the machine then runs more threads than it has cores and, as OpenMP, BLAS and
onnxruntime threads spin while they wait, burns CPU waiting instead of working; worse when
other jobs share the cores. :func:`usable_cpus` is the smaller of the affinity mask and the
cgroup quota; :func:`limit_threads` sizes the libraries' pools to it (a value the user set is
kept) and makes OpenMP's idle threads sleep.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import MutableMapping
from pathlib import Path

#: the variables the thread pools read when their library loads
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)
CGROUP = Path("/sys/fs/cgroup")


def quota_cpus(root: Path = CGROUP) -> float | None:
    """CPUs' worth of time the cgroup quota allows (v2 ``cpu.max`` or v1 ``cfs_quota``), or None."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        if quota != "max":
            return int(quota) / int(period)
        return None
    except (OSError, ValueError):
        pass
    try:
        quota_us = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period_us = int((root / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return quota_us / period_us if quota_us > 0 and period_us > 0 else None


def usable_cpus(root: Path = CGROUP) -> int:
    """How many CPUs this process may keep busy: its affinity mask, capped by the cgroup quota."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        cpus = os.cpu_count() or 1
    quota = quota_cpus(root)
    if quota is not None:
        cpus = min(cpus, max(1, math.ceil(quota)))
    return max(1, cpus)


def limit_threads(threads: int | None = None, environ: MutableMapping[str, str] | None = None) -> int:
    """Size the thread pools of OpenMP, BLAS and torch to ``threads`` (default :func:`usable_cpus`).

    Sets the variables the libraries read when they load (so call it early; subprocesses
    inherit them), ``OMP_WAIT_POLICY=PASSIVE`` (idle OpenMP threads sleep instead of spinning)
    and, when torch is loaded already, its intra-op pool. A variable the user set is kept.
    """
    env = os.environ if environ is None else environ
    threads = threads or usable_cpus()
    for name in THREAD_VARIABLES:
        env.setdefault(name, str(threads))
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    torch = sys.modules.get("torch")
    if torch is not None and environ is None:
        try:
            wanted = int(env["OMP_NUM_THREADS"])
        except ValueError:
            wanted = threads
        if wanted >= 1 and torch.get_num_threads() != wanted:
            torch.set_num_threads(wanted)
    return threads

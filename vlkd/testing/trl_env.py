"""TRL >= 1.10 in its own environment (``scripts/make_trl_env.sh``), for checks against its code.

TRL 1.10+ needs ``datasets >= 4.7`` and LLaMA-Factory 0.9.5 pins ``datasets <= 4.0.0``, so TRL
cannot live in vlkd's environment. ``VLKD_TRL_PYTHON`` names that environment's python
(default ``/work/envs/trl/bin/python`` when it exists); :func:`run_in_trl` runs a script there
and returns what it printed as JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

ENV = "VLKD_TRL_PYTHON"
DEFAULT = Path("/work/envs/trl/bin/python")


def trl_python() -> str | None:
    """The python of the environment with TRL, or ``None`` when there is none."""
    named = os.environ.get(ENV, "").strip()
    if named:
        return named
    return str(DEFAULT) if DEFAULT.is_file() else None


def run_in_trl(script: str, *args: str, timeout: float = 300) -> Any:
    """Run ``python -c script args...`` in the TRL environment; its last stdout line, as JSON."""
    python = trl_python()
    if python is None:
        raise RuntimeError(f"no TRL environment: run scripts/make_trl_env.sh and set {ENV}")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    done = subprocess.run(
        [python, "-c", script, *args], capture_output=True, text=True, timeout=timeout, env=env
    )
    if done.returncode != 0:
        raise RuntimeError(f"TRL script failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])

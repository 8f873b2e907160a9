"""Launch training processes: torchrun command lines, the environment, and progress streaming.

A subprocess reports progress the way LLaMA-Factory does: one JSON line per logging step in
``<output_dir>/trainer_log.jsonl`` (``current_steps``, ``total_steps``, ``loss``...). The
launcher tails that file into the vlkd progress bar while the process runs, and keeps the
process's own output in a log file for the error message.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from vlkd.plugins.train.options import DistributedOptions

TRAINER_LOG = "trainer_log.jsonl"
#: an exception line printed by a torchrun worker: "[rank0]: RuntimeError: ..."
RANK_ERROR = re.compile(r"^\[rank\d+\]: [\w.]+(Error|Exception|Interrupt)\b")


def torchrun_args(dist: DistributedOptions) -> list[str]:
    """``python -m torch.distributed.run`` (torchrun) with the node layout of ``dist``."""
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nnodes",
        str(dist.nnodes),
        "--node_rank",
        str(dist.node_rank),
        "--nproc_per_node",
        str(dist.nproc_per_node),
        "--master_addr",
        dist.master_addr,
        "--master_port",
        str(dist.master_port),
    ]


def llamafactory_env(dist: DistributedOptions, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment that makes ``llamafactory-cli train`` launch itself through torchrun."""
    env = dict(os.environ if base is None else base)
    if dist.enabled:
        env.update(
            {
                "FORCE_TORCHRUN": "1",
                "NNODES": str(dist.nnodes),
                "NODE_RANK": str(dist.node_rank),
                "NPROC_PER_NODE": str(dist.nproc_per_node),
                "MASTER_ADDR": dist.master_addr,
                "MASTER_PORT": str(dist.master_port),
            }
        )
    return env


class LogTail:
    """Reads the complete lines appended to a JSONL file since the last call."""

    def __init__(self, path: Path):
        self.path = path
        self.offset = path.stat().st_size if path.exists() else 0

    def read(self) -> list[dict[str, Any]]:
        try:
            with self.path.open("rb") as fh:
                fh.seek(self.offset)
                data = fh.read()
        except FileNotFoundError:
            return []
        end = data.rfind(b"\n") + 1  # a torn last line waits for the next call
        self.offset += end
        records = []
        for line in data[:end].splitlines():
            try:
                records.append(json.loads(line))
            except ValueError:
                continue
        return records


def run_streaming(
    cmd: Sequence[str],
    *,
    env: dict[str, str],
    cwd: Path,
    trainer_log: Path,
    output_log: Path,
    on_log: Callable[[dict[str, Any]], None],
    poll_s: float = 0.5,
) -> int:
    """Run ``cmd`` with its output in ``output_log``, calling ``on_log`` for each trainer-log line.

    Ctrl-C stops the child too (SIGINT, then SIGKILL after 30 s) and is re-raised, so the
    engine records the stage as interrupted and the next run resumes from the last checkpoint.
    """
    tail = LogTail(trainer_log)
    output_log.parent.mkdir(parents=True, exist_ok=True)
    with output_log.open("ab") as out:
        proc = subprocess.Popen(
            list(cmd),
            env=env,
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            while proc.poll() is None:
                time.sleep(poll_s)
                for record in tail.read():
                    on_log(record)
        except BaseException:
            _stop(proc)
            raise
        for record in tail.read():
            on_log(record)
    return proc.returncode


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=30)
    except (subprocess.TimeoutExpired, ProcessLookupError):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def error_excerpt(output_log: Path, lines: int = 25) -> str:
    """The end of a failed process's output, from its last traceback on when there is one."""
    try:
        text = output_log.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return "(no output)"
    rows = [r for r in text.splitlines() if r.strip()]
    start = max(
        (i for i, r in enumerate(rows) if r.startswith("Traceback (most recent call last)")), default=None
    )
    tail = rows[start:] if start is not None else rows
    if len(tail) > lines:
        tail = ["...", *tail[-lines:]]
    # under torchrun the last traceback is the launcher's; the workers' own errors come first
    causes = []
    for row in rows:
        if RANK_ERROR.match(row) and row not in causes and row not in tail:
            causes.append(row)
    return "\n".join("    " + r for r in [*causes[:3], *tail])


class ProgressFromLog:
    """Moves a vlkd progress bar from trainer-log records; keeps the last loss for the manifest."""

    def __init__(self, ctx: Any, description: str):
        self.ctx = ctx
        self.description = description
        self.task = None
        self.done = 0
        self.last: dict[str, Any] = {}

    def __call__(self, record: dict[str, Any]) -> None:
        total, current = record.get("total_steps"), record.get("current_steps")
        if self.task is None and total:
            self.task = self.ctx.progress(int(total), description=self.description)
        if "loss" in record:
            self.last["loss"] = record["loss"]
        if "eval_loss" in record:
            self.last["eval_loss"] = record["eval_loss"]
        if self.task is not None and current is not None and current > self.done:
            self.task.advance(int(current) - self.done)
            self.done = int(current)
        if self.task is not None and ("loss" in record or "eval_loss" in record):
            # live: the step and the loss (the bar shows how many steps; a log line shows this too)
            shown = [f"step {self.done}/{int(total)}" if total else f"step {self.done}"]
            shown += [
                f"{k.replace('_', ' ')} {self.last[k]:.4g}" for k in ("loss", "eval_loss") if k in self.last
            ]
            self.task.update(status=", ".join(shown))

    def close(self) -> None:
        if self.task is not None:
            self.task.close()

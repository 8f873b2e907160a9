"""A small Ray cluster on 127.0.0.1 for tests: a head node and worker nodes, CPU only.

Each node is a ``ray start --block`` process of its own (so a second node really joins over the
network, as on a cluster), with its ports, its temporary directory (under the test's tmp path)
and a small object store. :meth:`LocalRayCluster.stop` ends exactly the processes it started,
by their ids, never ``ray stop`` (which would end every Ray on a shared machine).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from vlkd.testing.loopback import free_port

#: bytes of object store per node: tests move small records
OBJECT_STORE_BYTES = 80 * 1024 * 1024
#: how far ahead of the machine's other processes a node starts (only where the user may raise
#: priority): Ray's raylet waits a fixed 15 s for its agent, whose imports alone take 2 CPU-s; on a
#: shared machine at load 18 it got a slice too small for that. Back to normal once the node is up.
NICE_BOOST = 15
#: Ray's start-up waits, long enough for a loaded 2-core CI machine (its node agent alone can
#: take 30 s to import there, past the raylet's default wait for it)
SLOW_MACHINE_ENV = {
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_agent_register_timeout_ms": "180000",
    "RAY_raylet_start_wait_time_s": "180",
    "RAY_worker_register_timeout_seconds": "180",
}


def _ray_command() -> list[str]:
    found = shutil.which("ray", path=str(Path(sys.executable).parent)) or shutil.which("ray")
    if found is None:
        raise RuntimeError('the ray command is missing: pip install "vlkd[ray]"')
    return [found]


def _node_ports() -> list[str]:
    ports = {
        "--node-manager-port": free_port(),
        "--object-manager-port": free_port(),
        "--runtime-env-agent-port": free_port(),
        "--dashboard-agent-listen-port": free_port(),
        "--dashboard-agent-grpc-port": free_port(),
        "--metrics-export-port": free_port(),
    }
    low = free_port()
    args = [f"{k}={v}" for k, v in ports.items()]
    return [*args, f"--min-worker-port={low}", f"--max-worker-port={low + 40}"]


#: the ports a minimal Ray's node agent (no ``ray[default]``) writes as -1 (no such service),
#: which the raylet waits for, a fixed 15 s at most, before it registers its node
UNUSED_AGENT_PORTS = ("dashboard_agent_listen_port", "metrics_agent_port", "metrics_export_port")


def _raylets(session: int) -> list[tuple[str, str]]:
    """(node id, session dir) of each raylet in a process session (one ``ray start`` node)."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if int((proc / "stat").read_text().rsplit(")", 1)[1].split()[3]) != session:
                continue
            args = (proc / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        if not args or not args[0].endswith(b"raylet"):
            continue
        flags = dict(
            a.decode(errors="replace").split("=", 1) for a in args[1:] if a.startswith(b"--") and b"=" in a
        )
        if "--node_id" in flags and "--session_dir" in flags:
            found.append((flags["--node_id"], flags["--session_dir"]))
    return found


def _minimal_ray() -> bool:
    try:
        from ray._private.utils import get_dashboard_dependency_error
    except ImportError:
        return False
    return get_dashboard_dependency_error() is not None


def write_unused_ports(session: int) -> None:
    """Write what a minimal Ray's agent would write for the ports it never opens (-1), as soon as
    the raylet is there: on a loaded machine the agent's imports alone outlast the raylet's 15 s
    wait for them, and the node dies at start. The agent writes the same value when it is up."""
    for node_id, session_dir in _raylets(session):
        for name in UNUSED_AGENT_PORTS:
            path = Path(session_dir) / f"{name}_{node_id}"
            if not path.exists():
                tmp = path.with_name(path.name + ".vlkd")
                tmp.write_text("-1")
                os.replace(tmp, path)


def _before_node() -> None:
    """In the node's process before ``ray start``: ahead of the machine's other work where that is
    allowed, so that its start-up meets Ray's fixed waits on a loaded machine (a no-op elsewhere)."""
    with contextlib.suppress(OSError):
        os.nice(-NICE_BOOST)


@dataclass
class LocalRayCluster:
    """``start()`` a head and ``workers`` worker nodes; ``address`` is the head's HOST:PORT."""

    root: Path
    workers: int = 1
    cpus_per_node: int = 1
    address: str = ""
    procs: list[subprocess.Popen] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)
    minimal: bool = field(default_factory=_minimal_ray)

    def _start_node(self, args: list[str], name: str) -> subprocess.Popen:
        temp = tempfile.mkdtemp(prefix=name, dir=self.root)
        self.logs.append(Path(temp) / "start.log")
        log = open(self.logs[-1], "w")  # noqa: SIM115 (open as long as the node)
        env = {**os.environ, **SLOW_MACHINE_ENV}
        proc = subprocess.Popen(
            [
                *_ray_command(),
                "start",
                "--block",
                "--node-ip-address=127.0.0.1",
                f"--num-cpus={self.cpus_per_node}",
                "--num-gpus=0",
                f"--object-store-memory={OBJECT_STORE_BYTES}",
                f"--temp-dir={temp}",
                "--disable-usage-stats",
                *_node_ports(),
                *args,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            preexec_fn=_before_node,
        )
        self.procs.append(proc)
        return proc

    def start(self, timeout: float = 240.0, tries: int = 3) -> LocalRayCluster:
        """Start the nodes; a node whose start-up timed out (Ray's raylet waits a fixed 15 s for
        its agent, which a loaded machine can miss) is started again, ``tries`` times in all."""
        for attempt in range(tries):
            try:
                return self._start(timeout)
            except RuntimeError:
                self.stop()
                if attempt == tries - 1:
                    raise
        return self

    def _start(self, timeout: float) -> LocalRayCluster:
        port = free_port()
        self.address = f"127.0.0.1:{port}"
        self._start_node(
            [
                "--head",
                f"--port={port}",
                "--include-dashboard=false",
                f"--ray-client-server-port={free_port()}",
            ],
            "head",
        )
        self.wait_nodes(1, timeout)
        for i in range(self.workers):
            self._start_node([f"--address={self.address}"], f"w{i}")
            self.wait_nodes(2 + i, timeout)  # one at a time: a loaded machine starts each sooner
        for proc in self.procs:  # the nodes are up: their work runs at the usual priority
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PGRP, proc.pid, 0)
        return self

    def started_nodes(self) -> int:
        """Nodes whose ``ray start`` said the node is up."""
        return sum(1 for log in self.logs if "Ray runtime started" in log.read_text(errors="replace"))

    def wait_nodes(self, n: int, timeout: float) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for proc in self.procs:
                if proc.poll() is not None:
                    raise RuntimeError(f"a Ray node exited ({proc.returncode}); see {self.root}/*/start.log")
            if self.started_nodes() >= n:
                return
            if self.minimal:
                for proc in self.procs:
                    write_unused_ports(proc.pid)
            time.sleep(0.5)
        raise RuntimeError(f"the local Ray cluster did not reach {n} nodes in {timeout:.0f} s")

    def stop(self) -> None:
        """End the nodes this cluster started (each ``ray start --block`` ends its own processes)."""
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in reversed(self.procs):
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)  # its own session: only what it started
                proc.wait(timeout=30)
        self.procs.clear()
        self.logs.clear()


#: Linux's flag for a network namespace of one's own (``unshare(2)``)
CLONE_NEWNET = 0x40000000
_isolated = False


def isolate_loopback() -> bool:
    """Move this process (and so every node and driver it starts afterwards) into a network
    namespace of its own whose only interface is loopback, brought up; once per process.

    Ray turns ``--node-ip-address=127.0.0.1`` into the machine's outward address (its
    ``resolve_ip_for_localhost``), so on a machine with an outward interface a "local" cluster
    talks over that address. In a namespace with loopback alone every connection stays on
    127.0.0.1. Servers this process starts later bind there too; ones started before cannot be
    reached from it. Where the namespace cannot be made (not Linux, not permitted), nothing
    changes and False is returned."""
    global _isolated
    if _isolated:
        return True
    try:
        import ctypes
        import fcntl
        import struct

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.unshare(CLONE_NEWNET) != 0:
            return False
        siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            request = struct.pack("16sH14s", b"lo", 0, b"\0" * 14)
            flags = struct.unpack("16sH14s", fcntl.ioctl(s, siocgifflags, request))[1]
            fcntl.ioctl(s, siocsifflags, struct.pack("16sH14s", b"lo", flags | iff_up, b"\0" * 14))
    except (OSError, AttributeError):
        return False
    _isolated = True
    return True


@contextlib.contextmanager
def local_ray_cluster(workers: int = 1, cpus_per_node: int = 1) -> Iterator[LocalRayCluster]:
    """A cluster in a short temporary directory of its own (Ray's socket paths must stay under
    108 characters, which a pytest tmp_path can exceed), removed with the cluster; on Linux in a
    network namespace with loopback alone (:func:`isolate_loopback`)."""
    isolate_loopback()
    root = Path(tempfile.mkdtemp(prefix="vlkdray-"))
    cluster = LocalRayCluster(root, workers, cpus_per_node)
    try:
        yield cluster.start()
    finally:
        cluster.stop()
        if os.environ.get("VLKD_KEEP_RAY_LOGS") is None:
            shutil.rmtree(root, ignore_errors=True)

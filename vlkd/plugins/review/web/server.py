"""Binding the review page's socket and running uvicorn, in the foreground or (tests) a thread."""

from __future__ import annotations

import errno
import getpass
import secrets
import socket
import threading
import time
from pathlib import Path

from vlkd.api import VlkdError
from vlkd.plugins.review.web.security import Guard, is_local

MODULES = ("starlette", "uvicorn")


def check_installed() -> None:
    import importlib.util

    missing = [m for m in MODULES if importlib.util.find_spec(m) is None]
    if missing:
        raise VlkdError(f'the review page needs {", ".join(missing)}: pip install "vlkd[review]"')


class ReviewServer:
    """The review page of one run directory, on ``host:port`` (port 0: any free port)."""

    def __init__(
        self,
        run_dir: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 8765,
        reviewer: str | None = None,
        token: str | None = None,
    ):
        check_installed()
        import uvicorn

        from vlkd.plugins.review.web.app import create_app
        from vlkd.plugins.review.web.store import ReviewStore

        if not Path(run_dir).is_dir():
            raise VlkdError(f"{run_dir}: no such run directory")
        if not 0 <= port <= 65535:
            raise VlkdError(f"--port {port}: a port is a number from 1 to 65535 (0: any free port)")
        if token is not None and not token.strip():
            raise VlkdError(
                "--token: empty (no browser could ever send it); give a token, or leave --token out "
                "to have one made"
            )
        self.store = ReviewStore(Path(run_dir))
        self.team = _team_views(self.store)  # reviewers with keys of their own, or None
        if self.team is not None and token:
            raise VlkdError(
                "this run has a review team: each reviewer's key guards the page; leave out --token"
            )
        if token is None and not is_local(host) and self.team is None:
            token = secrets.token_urlsafe(18)  # reachable from other machines: never without a token
        self.socket = _bind(host, port)
        self.port = self.socket.getsockname()[1]
        self.host = host
        self.guard = Guard(host, self.port, token)
        self.reviewer = reviewer or _user()
        app = create_app(self.store, self.guard, self.reviewer, team=self.team)
        config = uvicorn.Config(
            app, log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=2
        )
        self.server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        shown = self.host
        if self.host in ("0.0.0.0", "::"):
            shown = socket.gethostname()
        elif ":" in shown:
            shown = f"[{shown}]"
        return f"http://{shown}:{self.port}/"

    @property
    def url(self) -> str:
        return self.base_url + (f"?token={self.guard.token}" if self.guard.token else "")

    def serve_forever(self) -> None:
        self.server.run(sockets=[self.socket])

    def start_background(self) -> ReviewServer:
        self._thread = threading.Thread(target=self.serve_forever, name="vlkd-review", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the review server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.socket.close()


def _team_views(store):
    from vlkd.plugins.review.team.roster import Team, check_settings, team_path

    team = Team.load(store.run_dir)
    if team is None or not team.reviewers:
        return None
    check_settings(team, str(team_path(store.run_dir)))
    from vlkd.plugins.review.team.agreement import warm_up
    from vlkd.plugins.review.team.views import TeamViews

    warm_up()
    return TeamViews(store, team)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "expert"


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise VlkdError(
                f"port {port} on {host} is in use (another vlkd review serve?); choose another with --port"
            ) from None
        raise VlkdError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    # accepted connections inherit it: without it each answer's body waits ~40 ms for the
    # client's delayed ACK of the headers (Nagle), on every request
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.listen(128)
    sock.set_inheritable(True)
    return sock

"""Servers a test runs on 127.0.0.1: the start/stop protocol they share, and a threaded HTTP server.

:class:`Loopback` is ``with Server(...) as server:`` as ``server.start()`` ... ``server.stop()``;
:class:`ThreadedHTTP` serves HTTP with the standard library in a daemon thread on a free port,
each request handed to ``handle(request, method)``::

    class Echo(ThreadedHTTP):
        def handle(self, request, method):
            ...

    with Echo() as echo:
        urllib.request.urlopen(echo.url + "/anything")
"""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


def free_port() -> int:
    """A port on 127.0.0.1 nothing listens on now (for a server started in another process)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Loopback:
    """A server a test starts and stops, also as a context manager."""

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class ThreadedHTTP(Loopback):
    """``ThreadingHTTPServer`` on 127.0.0.1, a free port, served from a daemon thread; quiet."""

    #: the HTTP methods answered (``do_GET`` ... on the handler)
    methods: tuple[str, ...] = ("GET", "POST")
    port = 0
    _httpd: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    @property
    def address(self) -> str:
        """``http://127.0.0.1:PORT`` (while started)."""
        return f"http://127.0.0.1:{self.port}"

    def handle(self, request: BaseHTTPRequestHandler, method: str) -> None:
        raise NotImplementedError

    def start(self) -> Self:
        server = self

        def answer(method: str) -> Any:
            return lambda request: server.handle(request, method)

        handler = type(
            "Handler",
            (BaseHTTPRequestHandler,),
            {"log_message": lambda *args: None, **{f"do_{m}": answer(m) for m in self.methods}},
        )
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)  # a daemon thread per request
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, thread, self._httpd, self._thread = self._httpd, self._thread, None, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        if thread is not None:
            thread.join(timeout=10)

"""Ctrl-C that drains: a first Ctrl-C stops sending and waits for the answers in flight (a
provider charges them whether or not vlkd records them), a second one stops at once.

A stage with paid calls in flight runs its event loop through :func:`run_draining`; a pool of
threads making such calls waits for them through :func:`drain_futures`; a driver waiting on a
library that must not be interrupted mid-call (Ray) checks :class:`CtrlCBetweenCalls` between calls.
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import signal
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

#: what every "waiting" message ends with
AGAIN = "Ctrl-C again to stop at once (those answers would be asked for again)"


def _can_handle_sigint() -> bool:
    return (
        threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGINT) is signal.default_int_handler
    )


class CtrlCBetweenCalls:
    """A first Ctrl-C is noted and raised by :meth:`check` between a library's calls, never inside
    them. The Ray executor's driver uses it while it hands a stage's items to the cluster: raised
    inside Ray's own code (its C++ wait runs Python's signal handlers, its task submission runs
    Python), a :class:`KeyboardInterrupt` can leave a task submitted that the driver never heard of. A
    second Ctrl-C raises at once. Off the main thread, or where Ctrl-C is handled by someone
    else (or ignored: a job started with ``&``), nothing changes."""

    def __init__(self) -> None:
        self.presses = 0
        self.installed = _can_handle_sigint()
        if self.installed:
            signal.signal(signal.SIGINT, self._on_sigint)

    def _on_sigint(self, signum: int, frame: Any) -> None:
        self.presses += 1
        if self.presses > 1:
            raise KeyboardInterrupt

    def check(self) -> None:
        if self.presses:
            raise KeyboardInterrupt

    def restore(self) -> None:
        if self.installed:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            self.installed = False


def run_draining(main: Coroutine[Any, Any, T], on_first: Callable[[], bool]) -> T:
    """``asyncio.run(main)``, where a first Ctrl-C calls ``on_first()`` in the event loop: it asks
    the work to stop sending and returns True, and ``main`` then ends by itself once the answers
    in flight are recorded (it says so, e.g. by raising :class:`KeyboardInterrupt` after); False
    stops at once. A second Ctrl-C cancels ``main`` at once: :class:`KeyboardInterrupt`, as a
    plain ``asyncio.run`` does on the first."""
    if not _can_handle_sigint():  # a thread, or a caller that handles Ctrl-C itself
        return asyncio.run(main)
    task: asyncio.Task | None = None
    presses = 0

    async def tracked() -> T:
        nonlocal task
        task = asyncio.current_task()
        return await main

    with asyncio.Runner() as runner:
        loop = runner.get_loop()

        def stop_now() -> None:
            if task is not None and not task.done():
                task.cancel()

        def first() -> None:
            if not on_first():
                stop_now()

        def on_sigint(signum: int, frame: Any) -> None:
            nonlocal presses
            presses += 1
            if task is None:
                raise KeyboardInterrupt
            loop.call_soon_threadsafe(first if presses == 1 else stop_now)

        signal.signal(signal.SIGINT, on_sigint)
        try:
            return runner.run(tracked())
        except asyncio.CancelledError:
            if presses:
                raise KeyboardInterrupt from None
            raise
        finally:
            signal.signal(signal.SIGINT, signal.default_int_handler)


def drain_futures(
    pending: dict[cf.Future, Any],
    finish: Callable[[Any, cf.Future], None],
    *,
    limit_s: float,
    say: Callable[[str], None],
    noun: str = "answer",
) -> None:
    """After a first Ctrl-C: wait (at most ``limit_s``) for the futures in flight and ``finish``
    each as it ends, then raise :class:`KeyboardInterrupt`. A second Ctrl-C stops the wait."""
    if pending:
        say(
            f"Ctrl-C: stopping; waiting for the {len(pending)} {noun}s in flight to record them "
            f"(at most {limit_s:.0f} s); {AGAIN}"
        )
    deadline = time.monotonic() + limit_s
    while pending:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        done, _ = cf.wait(pending, timeout=left, return_when=cf.FIRST_COMPLETED)
        for fut in done:
            finish(pending.pop(fut), fut)
    raise KeyboardInterrupt

"""What a person sees while a run goes: rich progress per stage and a closing summary table.

On a terminal a stage's progress is a live rich bar. Elsewhere (CI, ``| tee``, ``nohup``) it is
a plain line every few seconds (``VLKD_PROGRESS_SECONDS``, default 5) and one when the stage's
loop ends, so a log shows the run going. ``ProgressTask.update(status=...)`` adds live text
(the trainer's step and loss) to either.
"""

from __future__ import annotations

import os
import time
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from vlkd.core.console import cell, keep_whole, make_console


class _RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.1f} items/s" if speed else "", style="progress.data.speed")


class ProgressTask:
    """A handle on one progress bar; ``advance`` is cheap enough to call per item.

    ``update`` takes rich's task fields (``total``, ``completed``, ``description``) and
    ``status``: a short live text after the bar (untrusted text is printed literally).
    """

    def __init__(self, progress: Progress | None, task_id: Any):
        self._progress = progress
        self._task = task_id

    def advance(self, n: int = 1) -> None:
        if self._progress is not None:
            self._progress.advance(self._task, n)

    def update(self, **fields: Any) -> None:
        if self._progress is not None:
            if "status" in fields:
                fields["status"] = literal(fields["status"])
            self._progress.update(self._task, **fields)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def __enter__(self) -> ProgressTask:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class PlainProgress(ProgressTask):
    """Progress as plain lines for a log: at most one every ``interval`` seconds, and a last one."""

    def __init__(
        self, console: Console, description: str, total: int | None, completed: int, interval: float
    ):
        super().__init__(None, None)
        self.console = console
        self.description = description
        self.total = total
        self.start_completed = self.completed = completed
        self.status = ""
        self.interval = interval
        self.started = self._last = time.monotonic()
        self._open = True

    def advance(self, n: int = 1) -> None:
        self.completed += n
        self._maybe_print()

    def update(self, **fields: Any) -> None:
        self.total = fields.get("total", self.total)
        self.completed = fields.get("completed", self.completed)
        self.description = fields.get("description", self.description)
        self.status = str(fields.get("status", self.status))
        self._maybe_print()

    def _maybe_print(self) -> None:
        now = time.monotonic()
        if self._open and now - self._last >= self.interval:
            self._last = now
            self._print(now)

    def _print(self, now: float, final: bool = False) -> None:
        elapsed = now - self.started
        parts = [f"{self.completed}/{self.total}" if self.total else str(self.completed)]
        if self.total:
            parts[0] += f" ({100 * self.completed / self.total:.0f}%)"
        done = self.completed - self.start_completed
        rate = done / elapsed if elapsed > 0 else 0.0
        if final:
            parts.append(f"{elapsed:.1f}s")
        elif rate > 0:
            parts.append(f"{rate:,.1f}/s")
            if self.total:
                parts.append(f"ETA {max(0.0, (self.total - self.completed) / rate):.0f}s")
        if self.status:
            parts.append(self.status)
        self.console.print(f"{literal(self.description)}: {literal(', '.join(parts))}", soft_wrap=True)

    def close(self) -> None:
        if self._open:
            self._print(time.monotonic(), final=True)
            self._open = False


def progress_interval() -> float:
    """Seconds between plain progress lines (``VLKD_PROGRESS_SECONDS``; 0 prints every step)."""
    try:
        return max(0.0, float(os.environ.get("VLKD_PROGRESS_SECONDS", "5")))
    except ValueError:
        return 5.0


class Reporter:
    """Prints progress, notes and the summary; silent but for warnings and errors when ``quiet``."""

    def __init__(self, *, quiet: bool = False, console: Console | None = None):
        self.quiet = quiet
        self.console = console or make_console(stderr=True)

    # ``info`` and ``warn`` take rich markup: put untrusted text through ``literal`` first
    def info(self, message: str) -> None:
        if not self.quiet:
            self.console.print(message)

    def warn(self, message: str) -> None:
        self.console.print(f"[yellow]warning:[/yellow] {message}")

    def progress(self, description: str, total: int | None, completed: int = 0) -> ProgressTask:
        if self.quiet:
            return ProgressTask(None, None)
        if not self.console.is_terminal:
            return PlainProgress(self.console, description, total, completed, progress_interval())
        progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            _RateColumn(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[status]}"),
            console=self.console,
            transient=False,
            refresh_per_second=5,
        )
        progress.start()
        task = progress.add_task(description, total=total, completed=completed, status="")
        return ProgressTask(progress, task)

    def summary(self, manifest: dict[str, Any], stages: list[str]) -> None:
        if not self.quiet:
            self._table(manifest, stages)
        for name in stages:  # the next step is shown even with --quiet: the run stopped for it
            entry = manifest["stages"].get(name, {})
            if entry.get("status") == "waiting" and entry.get("next"):
                self.console.print(f"[cyan]{name} is waiting:[/cyan] {escape(entry['next'])}", soft_wrap=True)

    def _table(self, manifest: dict[str, Any], stages: list[str]) -> None:
        table = Table(title=f"run {manifest['recipe']['name']}", title_justify="left")
        for col in ("stage", "status", "ok", "skipped", "failed", "time", "tokens", "cost"):
            table.add_column(col, justify="left" if col in ("stage", "status") else "right")
        blocked = False  # the stages after a waiting one wait too
        for name in stages:
            entry = manifest["stages"].get(name, {})
            counts = entry.get("counts", {})
            usage = entry.get("usage") or {}
            tokens = usage.get("input_tokens", 0) + usage.get("output_tokens", 0)
            status = entry.get("status", "-")
            if blocked and status == "pending":
                status = "waits"
            blocked = blocked or status == "waiting"
            style = {
                "done": "green",
                "failed": "red",
                "interrupted": "yellow",
                "waiting": "cyan",
                "waits": "dim",
            }.get(status, "")
            table.add_row(
                cell(name),
                cell(status, style),
                str(counts.get("ok", "")),
                str(counts.get("skipped", "")),
                str(counts.get("failed", "")),
                f"{entry['wall_time_s']:.1f}s" if "wall_time_s" in entry else "",
                f"{tokens:,}" if tokens else "",
                _cost(usage),
            )
        self.console.print(keep_whole(table, (0, 1)))


def literal(text: object) -> str:
    """``text`` escaped so that rich prints it as it is: file contents, server messages,
    teacher answers and paths may hold ``[/]`` or ``[bold]``, which rich would read as markup
    (``[/]`` with nothing open crashes the console). Use it for every untrusted string put
    into a message that rich renders."""
    from rich.markup import escape

    return escape(str(text))


def _cost(usage: dict[str, Any]) -> str:
    """Money spent, and what unanswered requests may have cost on top (a kill, a timeout)."""
    text = f"${usage['cost_usd']:.4f}" if usage.get("cost_usd") else ""
    if usage.get("unanswered"):
        text += f" +≤${usage.get('unanswered_cost_usd', 0.0):.4f} ({usage['unanswered']} unanswered)"
    return text.strip()

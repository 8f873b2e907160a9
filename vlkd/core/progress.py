"""What a person sees while a run goes: rich progress per stage and a closing summary table."""

from __future__ import annotations

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


class _RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.1f} items/s" if speed else "", style="progress.data.speed")


class ProgressTask:
    """A handle on one progress bar; ``advance`` is cheap enough to call per item."""

    def __init__(self, progress: Progress | None, task_id: Any):
        self._progress = progress
        self._task = task_id

    def advance(self, n: int = 1) -> None:
        if self._progress is not None:
            self._progress.advance(self._task, n)

    def update(self, **fields: Any) -> None:
        if self._progress is not None:
            self._progress.update(self._task, **fields)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def __enter__(self) -> ProgressTask:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Reporter:
    """Prints progress, notes and the summary; silent but for warnings and errors when ``quiet``."""

    def __init__(self, *, quiet: bool = False, console: Console | None = None):
        self.quiet = quiet
        self.console = console or Console(stderr=True, highlight=False, emoji=False)

    # ``info`` and ``warn`` take rich markup: put untrusted text through ``literal`` first
    def info(self, message: str) -> None:
        if not self.quiet:
            self.console.print(message)

    def warn(self, message: str) -> None:
        self.console.print(f"[yellow]warning:[/yellow] {message}")

    def progress(self, description: str, total: int | None, completed: int = 0) -> ProgressTask:
        if self.quiet:
            return ProgressTask(None, None)
        progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            _RateColumn(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=self.console,
            transient=False,
            refresh_per_second=5,
        )
        progress.start()
        task = progress.add_task(description, total=total, completed=completed)
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
                name,
                f"[{style}]{status}[/{style}]" if style else status,
                str(counts.get("ok", "")),
                str(counts.get("skipped", "")),
                str(counts.get("failed", "")),
                f"{entry['wall_time_s']:.1f}s" if "wall_time_s" in entry else "",
                f"{tokens:,}" if tokens else "",
                _cost(usage),
            )
        self.console.print(table)


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

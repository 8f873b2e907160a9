"""Plugins used by the core tests: a counting ingestor and a report stage.

Loaded in-process with ``vlkd_registry(fixture_plugins)`` and in subprocesses with
``VLKD_PLUGINS=vlkd.testing.fixture_plugins``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from pydantic import Field, SecretStr

from vlkd.core.artifacts import read_images
from vlkd.core.errors import SkipItem
from vlkd.core.hookspecs import hookimpl
from vlkd.core.jsonl import write_jsonl_atomic
from vlkd.core.options import ExistingPath, OnError, PluginOptions
from vlkd.core.plugin import StagePlugin


class CountingOptions(PluginOptions):
    n: int = Field(10, gt=0, description="how many items")
    calls_file: str | None = Field(None, description="append one line per finished item here")
    hang_at: int | None = Field(
        None,
        json_schema_extra={"fingerprint": False},
        description="sleep forever when reaching this item (to be killed)",
    )
    skip_every: int | None = None
    fail_at: int | None = Field(
        None,
        json_schema_extra={"fingerprint": False},
        description="raise at this item (a fault that goes away on resume)",
    )
    die_at: int | None = Field(
        None,
        json_schema_extra={"fingerprint": False},
        description="the worker process dies (os._exit) at this item, the first time only (a Ray "
        "worker killed mid-stage; its marker is the file die_marker)",
    )
    die_marker: str | None = Field(None, json_schema_extra={"fingerprint": False})
    on_error: OnError = "skip"
    workers: int = Field(1, json_schema_extra={"fingerprint": False})
    api_key: SecretStr | None = None
    label: str = "x"


class _Work:
    def __init__(self, options: CountingOptions, started: Path):
        self.o = options
        self.started = started

    def __call__(self, i: int) -> list[dict]:
        o = self.o
        if o.hang_at is not None and i == o.hang_at:
            self.started.write_text(f"{i} {os.getpid()}\n")  # the item, and the process it hangs in
            time.sleep(600)
        if o.die_at is not None and i == o.die_at and o.die_marker and not os.path.exists(o.die_marker):
            Path(o.die_marker).write_text(f"{os.getpid()}\n")
            os._exit(1)
        if o.skip_every and i % o.skip_every == 0:
            raise SkipItem(f"multiple of {o.skip_every}: item {i}")
        if o.fail_at is not None and i == o.fail_at:
            raise RuntimeError(f"boom at {i}")
        if o.calls_file:
            fd = os.open(o.calls_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
            os.write(fd, f"{i}\n".encode())
            os.close(fd)
        return [
            {
                "id": f"{i:06d}",
                "path": f"/nowhere/{i}.png",
                "width": 1,
                "height": 1,
                "metadata": {"label": o.label},
            }
        ]


class Counting(StagePlugin):
    """Makes n fake image records, counting each finished item in a file."""

    Options = CountingOptions

    def run(self, ctx):
        work = _Work(self.options, ctx.dir / "hanging")
        records = ctx.map_items(
            list(range(self.options.n)),
            key=lambda i: f"item-{i}",
            work=work,
            workers=self.options.workers,
            on_error=self.options.on_error,
        )
        write_jsonl_atomic(ctx.output("images"), records)


class CountReportOptions(PluginOptions):
    title: str = "count"


class CountReport(StagePlugin):
    """Writes how many images the run has."""

    Options = CountReportOptions

    def run(self, ctx):
        images = read_images(ctx.input("images"))
        out = ctx.output("report")
        out.mkdir(parents=True, exist_ok=True)
        (out / "count.txt").write_text(f"{self.options.title}: {len(images)}\n")
        ctx.counts.add_ok(len(images))


class NeedsFileOptions(PluginOptions):
    prompt_file: ExistingPath
    out_path: str = "x"


class NeedsFile(StagePlugin):
    """Checks that ExistingPath resolves against the recipe file."""

    Options = NeedsFileOptions

    def run(self, ctx):
        ctx.output("images").write_text("")


class NeedsMissingModule(StagePlugin):
    """A plugin whose extra is not installed."""

    requires = ("vlkd_no_such_module_for_tests",)
    extra = "openai"


@hookimpl
def vlkd_register_ingestors(register):
    register("counting", Counting)
    register("needs_file", NeedsFile)


@hookimpl
def vlkd_register_teachers(register):
    register("missing_extra", NeedsMissingModule)


@hookimpl
def vlkd_register_reporters(register):
    register("count_report", CountReport)

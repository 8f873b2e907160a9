"""The driver of stages whose plugin is the whole stage: it calls ``plugin.run(ctx)``."""

from __future__ import annotations

from vlkd.core.context import StageContext
from vlkd.core.plugin import StagePlugin


def run_stage_plugin(ctx: StageContext) -> None:
    plugin = ctx.plugin
    if not isinstance(plugin, StagePlugin):
        raise TypeError(f"{type(plugin).__name__} must subclass vlkd.core.plugin.StagePlugin")
    plugin.run(ctx)


def estimate(ctx: StageContext) -> list[str]:
    fn = getattr(ctx.plugin, "estimate", None)
    return fn(ctx) if fn is not None else []

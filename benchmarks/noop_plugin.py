"""A no-op ingestor for benchmarks/bench_core.py (loaded with VLKD_PLUGINS=noop_plugin)."""

from pydantic import Field

from vlkd.core.hookspecs import hookimpl
from vlkd.core.jsonl import write_jsonl_atomic
from vlkd.core.options import PluginOptions
from vlkd.core.plugin import StagePlugin


class NoopOptions(PluginOptions):
    n: int = Field(10_000, gt=0)


def _noop(i: int) -> list[dict]:
    return [{"id": f"{i:08d}", "path": f"/none/{i}.png", "width": 1, "height": 1}]


class Noop(StagePlugin):
    """Produces n records doing no work: what is left is the engine's own per-item cost."""

    Options = NoopOptions

    def run(self, ctx):
        records = ctx.map_items(range(self.options.n), key=str, work=_noop)
        write_jsonl_atomic(ctx.output("images"), records)


@hookimpl
def vlkd_register_ingestors(register):
    register("noop", Noop)

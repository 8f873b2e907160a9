"""What a stage gets from the engine: the run (``RunInfo``), and its own directory, inputs,
outputs, counts and services (``StageContext``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from vlkd.core.catalog import ARTIFACT_PATHS
from vlkd.core.counts import ItemCounts
from vlkd.core.errors import StageError
from vlkd.core.executor import Executor, LocalExecutor, WorkerWork
from vlkd.core.ledger import Ledger

if TYPE_CHECKING:
    from vlkd.core.itemloop import ItemOutput
    from vlkd.core.options import Options, PluginOptions
    from vlkd.core.plugin import Plugin
    from vlkd.core.progress import ProgressTask, Reporter
    from vlkd.core.recipe import Recipe, StageConfig
    from vlkd.core.rundir import RunDir

T = TypeVar("T")


@dataclass(slots=True)
class Usage:
    """Tokens, requests and money spent by a stage (teachers, LLM judges)."""

    requests: int = 0
    cached: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    #: requests sent whose answers never arrived (a kill, a timeout): the provider may have
    #: charged them; their worst-case cost counts against ``max_cost``
    unanswered: int = 0
    unanswered_cost_usd: float = 0.0

    def add(self, other: Usage) -> None:
        for name in _USAGE_FIELDS:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Usage:
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in (data or {}).items() if k in names})

    @property
    def spent_at_most(self) -> float:
        """What was spent, counting every unanswered request at its worst case."""
        return self.cost_usd + self.unanswered_cost_usd

    def to_json(self) -> dict[str, Any]:
        optional = ("unanswered", "unanswered_cost_usd")
        values = ((k, getattr(self, k)) for k in _USAGE_FIELDS)
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in values if v or k not in optional}


_USAGE_FIELDS = tuple(Usage.__dataclass_fields__)


@dataclass
class RunInfo:
    """Everything about the run in progress; passed to lifecycle hooks and stages."""

    recipe: Recipe
    run_dir: RunDir
    manifest: dict[str, Any]
    reporter: Reporter
    plugins: dict[str, list[Plugin]] = field(default_factory=dict)
    fingerprints: dict[str, str] = field(default_factory=dict)
    recipe_path: Path | None = None
    dry_run: bool = False
    no_cache: bool = False
    #: submit batches and return (``vlkd run --no-wait``): the next run collects them
    no_wait: bool = False
    #: items that failed are tried again (``vlkd run --no-retry-failed``: they stay failed)
    retry_failed: bool = True
    #: where the stages' items run (``local`` or ``ray``): see :mod:`vlkd.core.executor`
    executor: Executor = field(default_factory=LocalExecutor)

    def save_stage(self, ctx: StageContext) -> None:
        entry = self.manifest["stages"][ctx.name]
        entry["counts"] = ctx.counts.to_json()
        if ctx.usage.requests or ctx.usage.cached or ctx.usage.unanswered:
            entry["usage"] = ctx.usage.to_json()
        if ctx.facts:
            entry["facts"] = ctx.facts
        self.run_dir.write_manifest(self.manifest)


@dataclass
class StageContext:
    run: RunInfo
    config: StageConfig
    dir: Path
    resumed: bool = False
    counts: ItemCounts = field(default_factory=ItemCounts)
    usage: Usage = field(default_factory=Usage)
    _ledger: Ledger | None = None
    _last_checkpoint: float = 0.0
    #: extra facts for the manifest entry of this stage (e.g. duplicates collapsed)
    facts: dict[str, Any] = field(default_factory=dict)

    # -- what the stage is ---------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.config.kind.name

    @property
    def plugins(self) -> list[Plugin]:
        return self.run.plugins[self.name]

    @property
    def plugin(self) -> Plugin:
        return self.plugins[0]

    def make_plugin(self, kind: str, options: PluginOptions | dict[str, Any]) -> Plugin:
        """An instance of another installed plugin (a teacher as a judge or a second opinion), from
        the registry the run was validated with: ``options`` is its section (``plugin: NAME``
        and its options) or its options model. It gets the recipe's student if it uses one."""
        if isinstance(options, dict):
            info = self.run.recipe.registry.get(kind, str(options.get("plugin")))
            opts = info.cls.Options.model_validate(options)
        else:
            info, opts = self.run.recipe.registry.get(kind, str(getattr(options, "plugin", ""))), options
        return info.cls(opts, self.run.recipe.student if info.cls.uses_student else None)

    @property
    def options(self) -> PluginOptions:
        return self.config.steps[0].options

    @property
    def settings(self) -> Options | None:
        return self.config.settings

    @property
    def run_dir(self) -> Path:
        return self.run.run_dir.path

    @property
    def cache_dir(self) -> Path:
        return self.run.run_dir.cache_dir

    @property
    def no_cache(self) -> bool:
        return self.run.no_cache

    @property
    def dry_run(self) -> bool:
        return self.run.dry_run

    # -- inputs and outputs --------------------------------------------------------------
    def producer(self, artifact: str) -> str | None:
        """The latest earlier stage of this recipe that produces ``artifact``."""
        return self.run.run_dir.producer(artifact, before=self.name, stages=self.run.recipe.stages)

    def has_input(self, artifact: str) -> bool:
        return self.producer(artifact) is not None

    def input(self, artifact: str) -> Path:
        stage = self.producer(artifact)
        if stage is None:
            raise StageError(
                f"stage '{self.name}' needs {artifact}, and no earlier stage of the recipe makes them"
            )
        path = self.run.run_dir.stage_dir(stage) / ARTIFACT_PATHS[artifact]
        if not path.exists():
            raise StageError(
                f"stage '{self.name}' needs {path}, which stage '{stage}' did not write; "
                f"re-run with --from {stage}"
            )
        return path

    def output(self, artifact: str) -> Path:
        return self.dir / ARTIFACT_PATHS[artifact]

    def load(self, artifact: str) -> Any:
        """The artifact of the latest earlier stage that makes it, as its model (the catalog's,
        ``vlkd.core.catalog``): ``images``/``pairs``/``predictions`` a list of records,
        ``dataset``/``model`` a card, ``metrics`` one object. A bad line is an error at file:line."""
        from vlkd.core import catalog

        return catalog.load(artifact, self.input(artifact))

    def save(self, artifact: str, value: Any) -> Path:
        """Write this stage's ``artifact`` (records, a card or one object) in one atomic replace;
        image files inside the run directory are stored relative to it."""
        from vlkd.core import catalog

        return catalog.save(artifact, self.output(artifact), value, run_dir=self.run_dir)

    # -- items, progress, messages -------------------------------------------------------
    def ledger(self) -> Ledger:
        if self._ledger is None:
            self._ledger = Ledger(self.dir)
            if self._ledger.repaired:
                self.warn(f"{self._ledger.path}: repaired a torn last line left by an interrupted run")
        return self._ledger

    def map_items(
        self,
        items: Sequence[T],
        *,
        key: Callable[[T], str],
        work: Callable[[T], Iterable[Any]],
        workers: int = 1,
        processes: bool = False,
        on_error: str = "skip",
        description: str | None = None,
        drain_s: float | None = None,
        probe: Callable[[T], str] | None = None,
        on_workers: WorkerWork | None = None,
    ) -> list[Any]:
        """Run ``work`` on every item not finished yet; return all items' output records in order.

        ``work`` returns the item's output records (JSON-serialisable) or raises
        ``SkipItem(reason)``; any other exception marks the item failed (and stops the
        stage when ``on_error`` is ``fail``). Results are journalled per item, so a killed
        stage resumes where it stopped. For many items, :meth:`map_items_streamed` gives the
        same records without holding them all in memory. ``drain_s``: the items are paid calls
        in threads; a first Ctrl-C waits up to that long for those in flight and records them.
        same records without holding them all in memory. Where ``work`` runs is the run's
        executor's business: it must be picklable for processes or Ray (else it stays here);
        ``probe`` names the file an item reads, which a Ray cluster checks every node can read;
        ``on_workers`` is the same work for long-lived workers (see :class:`~vlkd.core.executor.WorkerWork`).
        """
        return list(
            self.map_items_streamed(
                items,
                key=key,
                work=work,
                workers=workers,
                processes=processes,
                on_error=on_error,
                description=description,
                drain_s=drain_s,
                probe=probe,
                on_workers=on_workers,
            )
        )

    def map_items_streamed(
        self,
        items: Sequence[T],
        *,
        key: Callable[[T], str],
        work: Callable[[T], Iterable[Any]],
        workers: int = 1,
        processes: bool = False,
        on_error: str = "skip",
        description: str | None = None,
        drain_s: float | None = None,
        probe: Callable[[T], str] | None = None,
        on_workers: WorkerWork | None = None,
    ) -> ItemOutput:
        """:meth:`map_items`, with the output records read back from the stage's ledger as they
        are iterated (as often as needed, until the stage ends) instead of returned as a list."""
        from vlkd.core.itemloop import map_items

        return map_items(
            self,
            items,
            key=key,
            work=work,
            workers=workers,
            processes=processes,
            on_error=on_error,
            description=description,
            drain_s=drain_s,
            probe=probe,
            on_workers=on_workers,
        )

    def progress(self, total: int | None, completed: int = 0, description: str | None = None) -> ProgressTask:
        return self.run.reporter.progress(description or self.name, total, completed)

    def info(self, message: str) -> None:
        """A note for the person running the stage; ``message`` is printed literally."""
        from vlkd.core.progress import literal

        self.run.reporter.info(f"[dim]{self.name}:[/dim] {literal(message)}")

    def warn(self, message: str) -> None:
        """A warning; ``message`` is printed literally."""
        from vlkd.core.progress import literal

        self.run.reporter.warn(f"{self.name}: {literal(message)}")

    def checkpoint(self, force: bool = False) -> None:
        """Write the manifest with the counts so far (at most every 2 s unless forced)."""
        now = time.monotonic()
        if force or now - self._last_checkpoint > 2.0:
            self._last_checkpoint = now
            self.run.save_stage(self)

    def close(self) -> None:
        if self._ledger is not None:
            self._ledger.close()


def stage_context_outside_a_recipe(
    run_dir: str | Path, stage: str, *, resumed: bool = False, reporter: Reporter | None = None
) -> StageContext:
    """The context the engine would give ``stage`` in ``<run_dir>/<stage>``, in a recipe of that one
    stage: for benchmarks, notebooks and tests that run a plugin on files prepared by hand."""
    from vlkd.core.progress import Reporter
    from vlkd.core.recipe import Recipe, StageConfig
    from vlkd.core.recipe_source import RecipeSource
    from vlkd.core.registry import load_registry
    from vlkd.core.rundir import RunDir
    from vlkd.core.stages import KINDS_BY_NAME

    config = StageConfig(KINDS_BY_NAME[stage], [])
    name = Path(run_dir).name
    source = RecipeSource(data={"name": name}, positions={}, path=Path(run_dir) / "standalone")
    recipe = Recipe(name, "", {stage: config}, source, load_registry())
    run = RunInfo(
        recipe=recipe,
        run_dir=RunDir(run_dir),
        manifest={"stages": {stage: {}}},
        reporter=reporter or Reporter(quiet=True),
    )
    stage_dir = Path(run_dir) / stage
    stage_dir.mkdir(parents=True, exist_ok=True)
    return StageContext(run, config, stage_dir, resumed=resumed)

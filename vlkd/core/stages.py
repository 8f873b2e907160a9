"""The fixed pipeline: stage kinds, their order, and the artifacts they pass on.

Stages always run in this order; a recipe names the ones it wants (a stage may be left
out when a later one finds its input elsewhere: ``teach`` reads the images of
``preprocess`` when there is one, else those of ``ingest``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vlkd.core.catalog import ARTIFACT_PATHS as ARTIFACT_PATHS  # where each artifact lives: the catalog's

if TYPE_CHECKING:
    from vlkd.core.context import StageContext
    from vlkd.core.options import Options


@dataclass(frozen=True)
class Driver:
    """What runs the stages of one kind. Its module is imported only when such a stage runs,
    is estimated (``--dry-run``) or has its settings validated, so the heavy parts of a driver
    (worker pools, asyncio services) cost nothing to a command that does not use them.

    The module defines ``function(ctx)``; it may define ``estimate(ctx) -> lines`` (what
    ``--dry-run`` prints) and, for a kind that takes a list of plugins, ``Settings`` (the
    stage-level options beside ``steps``).
    """

    module: str
    function: str

    def run(self, ctx: StageContext) -> None:
        self._attr(self.function)(ctx)

    def estimator(self) -> Callable[[StageContext], list[str] | None] | None:
        return self._attr("estimate", None)

    def settings(self) -> type[Options] | None:
        return self._attr("Settings", None)

    def _attr(self, name: str, *default: Any) -> Any:
        return getattr(importlib.import_module(self.module), name, *default)


#: the driver of kinds whose plugin is the whole stage: ``plugin.run(ctx)``
PLUGIN_RUNS_STAGE = Driver("vlkd.core.drivers", "run_stage_plugin")


@dataclass(frozen=True)
class StageKind:
    name: str
    #: plural used in hook names (``vlkd_register_<plural>``) and messages
    plural: str
    #: artifacts read from earlier stages, and written for later ones
    consumes: tuple[str, ...] = ()
    produces: tuple[str, ...] = ()
    #: ``preprocess`` and ``verify`` take a list of plugins instead of one
    multi: bool = False
    #: what runs the stage (imported only when the stage runs)
    driver: Driver = PLUGIN_RUNS_STAGE

    @property
    def hook(self) -> str:
        return f"vlkd_register_{self.plural}"

    @property
    def singular(self) -> str:
        return {
            "ingestors": "ingestor",
            "preprocessors": "preprocessor",
            "teachers": "teacher",
            "verifiers": "verifier",
            "reviewers": "reviewer",
            "splitters": "splitter",
            "formats": "format",
            "trainers": "trainer",
            "evaluators": "evaluator",
            "reporters": "reporter",
        }[self.plural]


STAGE_KINDS: tuple[StageKind, ...] = (
    StageKind("ingest", "ingestors", produces=("images",)),
    StageKind(
        "preprocess",
        "preprocessors",
        consumes=("images",),
        produces=("images",),
        multi=True,
        driver=Driver("vlkd.images.preprocess_driver", "run_preprocess"),
    ),
    StageKind(
        "teach",
        "teachers",
        consumes=("images",),
        produces=("pairs",),
        driver=Driver("vlkd.core.teach.driver", "run_teach"),
    ),
    StageKind(
        "verify",
        "verifiers",
        consumes=("pairs", "images"),
        produces=("pairs",),
        multi=True,
        driver=Driver("vlkd.core.verify_driver", "run_verify"),
    ),
    StageKind("review", "reviewers", consumes=("pairs", "images"), produces=("pairs",)),
    StageKind("split", "splitters", consumes=("pairs",), produces=("pairs",)),
    StageKind("format", "formats", consumes=("pairs", "images"), produces=("dataset",)),
    StageKind("train", "trainers", consumes=("dataset",), produces=("model",)),
    StageKind(
        "evaluate", "evaluators", consumes=("pairs", "images", "model"), produces=("metrics", "predictions")
    ),
    StageKind("report", "reporters", consumes=("metrics",), produces=("report",)),
)
STAGE_NAMES: tuple[str, ...] = tuple(k.name for k in STAGE_KINDS)
KINDS_BY_NAME: dict[str, StageKind] = {k.name: k for k in STAGE_KINDS}

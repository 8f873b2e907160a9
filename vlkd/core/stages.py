"""The fixed pipeline: stage kinds, their order, and the artifacts they pass on.

Stages always run in this order; a recipe names the ones it wants (a stage may be left
out when a later one finds its input elsewhere: ``teach`` reads the images of
``preprocess`` when there is one, else those of ``ingest``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

# where each artifact lives: the catalog's
from vlkd.core.catalog import ARTIFACT_PATHS as ARTIFACT_PATHS
from vlkd.core.stage_drivers import (
    PluginRunsStage,
    PreprocessDriver,
    TeachDriver,
    VerifyDriver,
)

if TYPE_CHECKING:
    from vlkd.core.context import StageContext
    from vlkd.core.options import Options


@runtime_checkable
class StageDriver(Protocol):
    """What runs the stages of one kind (``vlkd.core.stage_drivers``). A driver imports what
    runs its stage only when it runs one, estimates one or validates its settings, so a command
    that does not use a stage pays nothing for it."""

    #: whether ``--dry-run`` asks :meth:`estimate` (on an empty folder for a stage that starts over)
    estimates: bool

    def run(self, ctx: StageContext) -> None:
        """Run the stage: read its inputs, write its outputs, count its items."""

    def estimate(self, ctx: StageContext) -> list[str] | None:
        """What ``--dry-run`` prints about the stage (items, requests, cost), or nothing."""

    def settings(self) -> type[Options] | None:
        """For a kind that takes a list of plugins, its stage-level options beside ``steps``."""


#: the driver of kinds whose plugin is the whole stage: ``plugin.run(ctx)``
PLUGIN_RUNS_STAGE: StageDriver = PluginRunsStage()


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
    #: what runs the stage (its machinery imported only when the stage runs)
    driver: StageDriver = PLUGIN_RUNS_STAGE

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
        driver=PreprocessDriver(),
    ),
    StageKind(
        "teach",
        "teachers",
        consumes=("images",),
        produces=("pairs",),
        driver=TeachDriver(),
    ),
    StageKind(
        "verify",
        "verifiers",
        consumes=("pairs", "images"),
        produces=("pairs",),
        multi=True,
        driver=VerifyDriver(),
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

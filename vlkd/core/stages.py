"""The fixed pipeline: stage kinds, their order, and the artifacts they pass on.

Stages always run in this order; a recipe names the ones it wants (a stage may be left
out when a later one finds its input elsewhere: ``teach`` reads the images of
``preprocess`` when there is one, else those of ``ingest``).
"""

from __future__ import annotations

from dataclasses import dataclass


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
    #: ``module:function`` that runs the stage; imported only when the stage runs
    driver: str = "vlkd.core.drivers:run_stage_plugin"

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
        driver="vlkd.core.preprocess_driver:run_preprocess",
    ),
    StageKind(
        "teach",
        "teachers",
        consumes=("images",),
        produces=("pairs",),
        driver="vlkd.core.teach.driver:run_teach",
    ),
    StageKind(
        "verify",
        "verifiers",
        consumes=("pairs", "images"),
        produces=("pairs",),
        multi=True,
        driver="vlkd.core.verify_driver:run_verify",
    ),
    StageKind("review", "reviewers", consumes=("pairs", "images"), produces=("pairs",)),
    StageKind("split", "splitters", consumes=("pairs",), produces=("pairs",)),
    StageKind("format", "formats", consumes=("pairs", "images"), produces=("dataset",)),
    StageKind("train", "trainers", consumes=("dataset",), produces=("model",)),
    StageKind("evaluate", "evaluators", consumes=("pairs", "images", "model"), produces=("metrics",)),
    StageKind("report", "reporters", consumes=("metrics",), produces=("report",)),
)
STAGE_NAMES: tuple[str, ...] = tuple(k.name for k in STAGE_KINDS)
KINDS_BY_NAME: dict[str, StageKind] = {k.name: k for k in STAGE_KINDS}

#: where each artifact lives inside the directory of the stage that produced it
ARTIFACT_PATHS: dict[str, str] = {
    "images": "images.jsonl",
    "pairs": "pairs.jsonl",
    "dataset": "dataset",
    "model": "model",
    "metrics": "metrics.json",
    "report": "report",
}

"""What a run reports about itself, as models: the evaluate stage's ``metrics.json`` and
``predictions.jsonl``, and the run directory's ``manifest.json``.

Each is read in one place (``vlkd.core.catalog``) and checked when read: a file that is not
what it should be is an error that names it. The top-level keys are typed; the nested
results (per system, per category, bootstrap intervals) stay plain JSON, as written. Unknown
keys are kept (a newer writer's), so a record read and written again loses nothing, and the
fields are declared in the order the writers write them, so the file is byte for byte what a
plain ``dict`` gave before.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Kept(BaseModel):
    model_config = ConfigDict(extra="allow", protected_namespaces=())


class Prediction(_Kept):
    """One line of ``predictions.jsonl``: one system's answer to one held-out question."""

    system: str = Field(description="base, tuned or teacher")
    id: str = Field(description="the pair's id")
    image_id: str = ""
    image: str = Field("", description="the image file, as the run recorded it")
    question: str = ""
    reference: str = Field("", description="the expected answer (the reviewed one)")
    category: str | None = None
    negative: bool = False
    review: str | None = None
    prediction: str = ""
    scores: dict[str, Any] = Field(default_factory=dict, description="metric name -> score of this answer")


class Metrics(_Kept):
    """``metrics.json``: per-system scores with intervals, what was evaluated and how."""

    format: int = 1
    metrics: list[dict[str, Any]] = Field(default_factory=list, description="[{name, label, missing?}]")
    systems: list[str] = Field(default_factory=list)
    categories: list[str] = Field(default_factory=list)
    results: dict[str, Any] = Field(description="system -> {overall, categories} -> metric -> value")
    deltas: dict[str, Any] = Field(default_factory=dict)
    bootstrap: dict[str, Any] = Field(default_factory=dict)
    split: str | None = None
    items: int | None = None
    references: dict[str, int] = Field(default_factory=dict)
    backend: str | None = None
    model: dict[str, Any] | None = None
    prompt: dict[str, Any] = Field(default_factory=dict)
    teacher: dict[str, Any] | None = None
    judge: dict[str, Any] | None = None
    categories_not_evaluated: dict[str, Any] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)
    predictions: str = Field("predictions.jsonl", description="the predictions file beside it")

    def metric_names(self) -> set[str]:
        return {m["name"] for m in self.metrics if "name" in m}


class Manifest(_Kept):
    """``manifest.json``: the resolved recipe, versions, and each stage's state."""

    format: int = 1
    status: str | None = None
    recipe: dict[str, Any] = Field(default_factory=dict)
    versions: dict[str, Any] = Field(default_factory=dict)
    fingerprints: dict[str, Any] = Field(default_factory=dict)
    overrides: list[str] = Field(default_factory=list)
    created: str | None = None
    stages: dict[str, dict[str, Any]] = Field(default_factory=dict)
    updated: str | None = None
    made: list[str] = Field(default_factory=list)

    @property
    def name(self) -> str | None:
        return self.recipe.get("name")

"""The catalog of artifacts: one table of what stages pass each other (name -> file -> model).

A stage loads and saves artifacts by name (``ctx.load("pairs")``, ``ctx.save("pairs", records)``)
and never needs to know the file name or how a line is checked: that is written once, here
(kedro's data catalog). ``StageContext.input``/``output`` still give the path, for a stage
that writes a directory of its own making (a dataset, an adapter).

=============  ======================  =====================================  ==========
name           file (in its stage)     model                                  form
=============  ======================  =====================================  ==========
images         ``images.jsonl``        ``ImageRecord``                        records
pairs          ``pairs.jsonl``         ``QARecord``                           records
dataset        ``dataset/``            ``DatasetCard`` (``vlkd_dataset.json``)  card
model          ``model/``              ``ModelCard`` (``vlkd_model.json``)      card
metrics        ``metrics.json``        ``Metrics``                            object
predictions    ``predictions.jsonl``   ``Prediction``                         records
report         ``report/``             (a directory of files people read)     directory
manifest       ``manifest.json``       ``Manifest`` (in the run directory)    object
=============  ======================  =====================================  ==========

Importing this module is cheap: the models are imported when an artifact is first read or
written.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

Form = Literal["records", "card", "object", "directory"]


@dataclass(frozen=True)
class Artifact:
    name: str
    #: the file or directory inside the directory of the stage that produces it
    path: str
    #: ``module:Class`` of its model (None for a directory of files people read)
    model_ref: str | None
    form: Form
    #: what the error says when a line or a file is not the model
    what: str = ""
    #: records: leave out fields that are None (pairs: most are)
    exclude_none: bool = False

    @property
    def model(self) -> type[Any]:
        if self.model_ref is None:
            raise TypeError(f"artifact '{self.name}' is a directory: it has no model")
        module, _, name = self.model_ref.partition(":")
        return getattr(importlib.import_module(module), name)


ARTIFACTS: dict[str, Artifact] = {
    a.name: a
    for a in (
        Artifact("images", "images.jsonl", "vlkd.core.records:ImageRecord", "records", "an image record"),
        Artifact(
            "pairs", "pairs.jsonl", "vlkd.core.records:QARecord", "records", "a question/answer record", True
        ),
        Artifact("dataset", "dataset", "vlkd.core.artifacts:DatasetCard", "card"),
        Artifact("model", "model", "vlkd.core.artifacts:ModelCard", "card"),
        Artifact(
            "metrics", "metrics.json", "vlkd.core.results:Metrics", "object", "an evaluate stage's metrics"
        ),
        Artifact(
            "predictions", "predictions.jsonl", "vlkd.core.results:Prediction", "records", "a prediction"
        ),
        Artifact("report", "report", None, "directory"),
        Artifact("manifest", "manifest.json", "vlkd.core.results:Manifest", "object", "a vlkd run manifest"),
    )
}

#: where each artifact lives inside the directory of the stage that produced it
ARTIFACT_PATHS: dict[str, str] = {name: a.path for name, a in ARTIFACTS.items()}


def artifact(name: str) -> Artifact:
    try:
        return ARTIFACTS[name]
    except KeyError:
        raise KeyError(f"no artifact named '{name}'; the catalog has: {', '.join(ARTIFACTS)}") from None


def load(name: str, path: str | os.PathLike[str]) -> Any:
    """The artifact ``name`` at ``path`` as its model: a list of records, a card or one object.

    A line or a file that is not the model is a ``StageError`` naming the file (and line).
    """
    from vlkd.core import artifacts

    a = artifact(name)
    if name == "images":
        return artifacts.read_images(path)  # relative paths come back absolute
    if a.form == "records":
        return artifacts.read_records(path, a.model, a.what)
    if a.form == "card":
        return a.model.read(path)
    if a.form == "object":
        return _read_object(a, Path(path))
    raise TypeError(f"artifact '{name}' is a directory: read its files")


def save(
    name: str, path: str | os.PathLike[str], value: Any, *, run_dir: str | os.PathLike[str] | None = None
) -> Path:
    """Write ``value`` (records, a card or one object) as the artifact ``name`` at ``path``, atomically.

    Image records with files inside ``run_dir`` are stored relative to it (a moved run
    directory keeps working).
    """
    from vlkd.core import artifacts
    from vlkd.core.jsonl import write_json_atomic

    a = artifact(name)
    path = Path(path)
    if a.form == "records":
        records: Iterable[Any] = value
        if name == "images" and run_dir is not None:
            records = artifacts.stored_image_paths(run_dir, records)
        artifacts.write_records(path, (_as(a, r) for r in records), exclude_none=a.exclude_none)
        return path
    if a.form == "card":
        return _as(a, value).write(path)
    if a.form == "object":
        # the fields set, in the order they were set: what a plain dict gave
        write_json_atomic(path, _as(a, value).model_dump(exclude_unset=True))
        return path
    raise TypeError(f"artifact '{name}' is a directory: write its files")


def _as(a: Artifact, value: Any) -> Any:
    return value if isinstance(value, a.model) else a.model.model_validate(value)


def _read_object(a: Artifact, path: Path) -> Any:
    from pydantic import ValidationError

    from vlkd.core.artifacts import first_error
    from vlkd.core.errors import StageError
    from vlkd.core.jsonl import read_json

    data = read_json(path)
    if not isinstance(data, dict):
        raise StageError(f"{path}: not {a.what} (not a JSON object)")
    try:
        return a.model.model_validate(data)
    except ValidationError as exc:
        raise StageError(f"{path}: not {a.what} ({first_error(exc)})") from None

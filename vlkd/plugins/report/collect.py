"""Everything a report shows, read from the files of a run directory (no model, no network).

Sources: ``manifest.json`` (run date, versions, recipe, stage times, teacher usage, stage
facts), the evaluate stage's ``metrics.json`` and ``predictions.jsonl`` when there is an
evaluation, the latest ``images.jsonl`` and ``pairs.jsonl`` (with verify flags), and the
trainer's ``trainer_log.jsonl`` found through ``vlkd_model.json``. A run that stopped after
``teach`` gets a report of its data. Every path shown is relative to the run directory.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vlkd.api import (
    ARTIFACT_PATHS,
    ImageRecord,
    Manifest,
    Metrics,
    ModelCard,
    Prediction,
    QARecord,
    RunDir,
    StageError,
    load_artifact,
    read_images,
    read_jsonl,
    read_pairs,
)


@dataclass
class ReportData:
    run_dir: Path
    name: str
    manifest: Manifest
    dataset: dict[str, Any]
    pairs: list[QARecord]
    images: dict[str, ImageRecord]
    metrics: Metrics | None = None
    metrics_path: Path | None = None
    predictions: list[Prediction] = field(default_factory=list)
    loss: list[dict[str, Any]] = field(default_factory=list)
    loss_source: Path | None = None
    model_info: ModelCard | None = None
    notes: list[str] = field(default_factory=list)

    def rel(self, path: str | Path | None) -> str:
        """``path`` relative to the run directory; a path outside it by its last two parts."""
        return relative(path, self.run_dir)


def relative(path: str | Path | None, run_dir: Path) -> str:
    if not path:
        return ""
    p = Path(path)
    if not p.is_absolute():
        return str(path)
    try:
        return str(p.resolve().relative_to(run_dir.resolve()))
    except (ValueError, OSError):
        return str(Path(*p.parts[-2:])) if len(p.parts) > 2 else p.name


def _latest(run_dir: Path, manifest: Manifest, artifact: str, before: str | None = None) -> Path | None:
    """The artifact of the latest stage (in pipeline order) that wrote it."""
    return RunDir(run_dir).artifact(
        artifact, before=before, stages=list(manifest.stages) or None, written=True
    )


def read_manifest(run_dir: Path) -> Manifest:
    path = run_dir / ARTIFACT_PATHS["manifest"]
    if not path.exists():
        raise StageError(f"{run_dir} is not a vlkd run directory: no manifest.json (run a recipe first)")
    return load_artifact("manifest", path)


def collect(run_dir: Path, metrics_path: Path | None = None) -> ReportData:
    run_dir = Path(run_dir).resolve()
    manifest = read_manifest(run_dir)
    images_path = _latest(run_dir, manifest, "images", "evaluate")
    pairs_path = _latest(run_dir, manifest, "pairs", "evaluate")
    images = {i.id: i for i in read_images(images_path)} if images_path else {}
    pairs = read_pairs(pairs_path) if pairs_path else []
    data = ReportData(
        run_dir=run_dir,
        name=manifest.name or run_dir.name,
        manifest=manifest,
        dataset=dataset_stats(pairs, images, images_path, pairs_path, run_dir),
        pairs=pairs,
        images=images,
    )
    if not images_path and not pairs_path:
        data.notes.append("no images.jsonl or pairs.jsonl in the run yet: nothing to describe")
    metrics_path = metrics_path or _latest(run_dir, manifest, "metrics")
    if metrics_path is not None and metrics_path.exists():
        metrics = load_artifact("metrics", metrics_path)
        data.metrics, data.metrics_path = metrics, metrics_path
        predictions_path = metrics_path.parent / metrics.predictions
        data.predictions = load_artifact("predictions", predictions_path) if predictions_path.exists() else []
        if not data.predictions:
            data.notes.append(f"{data.rel(predictions_path)} is missing or empty: no examples to show")
    elif metrics_path is not None:
        raise StageError(f"{metrics_path}: no such file")
    data.loss, data.loss_source, data.model_info = _training(run_dir, manifest, data.notes)
    return data


def _training(
    run_dir: Path, manifest: Manifest, notes: list[str]
) -> tuple[list[dict[str, Any]], Path | None, ModelCard | None]:
    model_dir = _latest(run_dir, manifest, "model")
    if model_dir is None:
        return [], None, None
    card = None
    candidates: list[Path] = []
    if ModelCard.exists(model_dir):
        try:
            card = ModelCard.read(model_dir)
        except StageError as exc:  # the loss curve is not worth stopping the report for
            notes.append(str(exc))
        else:
            if (log := card.path(model_dir, card.log)) is not None:
                candidates.append(log)
    candidates += sorted(model_dir.parent.rglob("trainer_log.jsonl"))
    for path in candidates:
        if path.exists():
            rows = [r for r in read_jsonl(path) if isinstance(r, dict)]
            if rows:
                return rows, path, card
    notes.append("the train stage left no trainer_log.jsonl: no loss curve")
    return [], None, card


def dataset_stats(
    pairs: list[QARecord],
    images: dict[str, ImageRecord],
    images_path: Path | None,
    pairs_path: Path | None,
    run_dir: Path,
) -> dict[str, Any]:
    """Images, pairs, negatives, per category and per split, review statuses, verify flags."""
    per_category: dict[str, Counter] = {}
    images_per_category: dict[str, set] = {}
    flags: Counter = Counter()
    flagged_pairs = 0
    for p in pairs:
        image = images.get(p.image_id)
        cat = p.category or (image.category if image else None) or "uncategorized"
        c = per_category.setdefault(cat, Counter())
        c["pairs"] += 1
        c["negatives"] += p.negative
        c[p.split or "train"] += 1
        images_per_category.setdefault(cat, set()).add(p.image_id)
        flagged_pairs += bool(p.flags)
        c["flagged"] += bool(p.flags)
        for f in p.flags:
            flags[(f.check, f.flag)] += 1
    return {
        "images": len(images),
        "images_with_pairs": len({p.image_id for p in pairs}),
        "pairs": len(pairs),
        "negatives": sum(p.negative for p in pairs),
        "flagged_pairs": flagged_pairs,
        "flags": [{"check": k[0], "flag": k[1], "pairs": n} for k, n in flags.most_common()],
        "splits": dict(Counter(p.split or "train" for p in pairs)),
        "review": dict(Counter(p.review for p in pairs)),
        "categories": {
            cat: {
                "images": len(images_per_category.get(cat, ())),
                "pairs": c["pairs"],
                "negatives": c["negatives"],
                "flagged": c["flagged"],
                "train": c["train"],
                "val": c["val"],
                "test": c["test"],
            }
            for cat, c in sorted(per_category.items())
        },
        "images_file": relative(images_path, run_dir) if images_path else None,
        "pairs_file": relative(pairs_path, run_dir) if pairs_path else None,
    }

"""Everything a report shows, read from the files of a run directory (no model, no network).

Sources: ``manifest.json`` (stage times, teacher usage, counts), the evaluate stage's
``metrics.json`` and ``predictions.jsonl``, the latest ``images.jsonl`` and ``pairs.jsonl``,
and the trainer's ``trainer_log.jsonl`` found through ``vlkd_model.json``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vlkd.core.artifacts import ModelCard, read_images, read_pairs
from vlkd.core.errors import StageError
from vlkd.core.jsonl import read_json, read_jsonl
from vlkd.core.rundir import RunDir


@dataclass
class ReportData:
    run_dir: Path
    name: str
    metrics: dict[str, Any]
    metrics_path: Path
    predictions: list[dict[str, Any]]
    manifest: dict[str, Any]
    dataset: dict[str, Any]
    loss: list[dict[str, Any]]
    loss_source: Path | None
    notes: list[str] = field(default_factory=list)


def _latest(run_dir: Path, manifest: dict[str, Any], artifact: str, before: str | None = None) -> Path | None:
    """The artifact of the latest stage (in pipeline order) that wrote it."""
    return RunDir(run_dir).artifact(
        artifact, before=before, stages=manifest.get("stages") or None, written=True
    )


def read_manifest(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "manifest.json"
    if not path.exists():
        raise StageError(f"{run_dir} is not a vlkd run directory: no manifest.json (run a recipe first)")
    return read_json(path)


def collect(run_dir: Path, metrics_path: Path | None = None) -> ReportData:
    run_dir = Path(run_dir).resolve()
    manifest = read_manifest(run_dir)
    metrics_path = metrics_path or _latest(run_dir, manifest, "metrics")
    if metrics_path is None or not metrics_path.exists():
        raise StageError(
            f"{run_dir}: no metrics.json; run the evaluate stage first (vlkd run RECIPE --to evaluate)"
        )
    metrics = read_json(metrics_path)
    if "results" not in metrics:
        raise StageError(f"{metrics_path}: not an evaluate stage's metrics.json (no 'results')")
    predictions_path = metrics_path.parent / metrics.get("predictions", "predictions.jsonl")
    predictions = list(read_jsonl(predictions_path))
    notes: list[str] = []
    if not predictions:
        notes.append(f"{predictions_path} is missing or empty: no examples to show")
    loss, loss_source = _loss_log(run_dir, manifest, notes)
    data = ReportData(
        run_dir=run_dir,
        name=manifest.get("recipe", {}).get("name") or run_dir.name,
        metrics=metrics,
        metrics_path=metrics_path,
        predictions=predictions,
        manifest=manifest,
        dataset=dataset_stats(run_dir, manifest, before="evaluate"),
        loss=loss,
        loss_source=loss_source,
        notes=notes,
    )
    return data


def _loss_log(
    run_dir: Path, manifest: dict[str, Any], notes: list[str]
) -> tuple[list[dict[str, Any]], Path | None]:
    model_dir = _latest(run_dir, manifest, "model")
    candidates: list[Path] = []
    if model_dir is not None and ModelCard.exists(model_dir):
        try:
            card = ModelCard.read(model_dir)
        except StageError as exc:  # the loss curve is not worth stopping the report for
            notes.append(str(exc))
        else:
            if (log := card.path(model_dir, card.log)) is not None:
                candidates.append(log)
    if model_dir is not None:
        candidates += sorted(model_dir.parent.rglob("trainer_log.jsonl"))
    for path in candidates:
        if path.exists():
            rows = [r for r in read_jsonl(path) if isinstance(r, dict)]
            if rows:
                return rows, path
    notes.append("no trainer_log.jsonl found in the train stage: no loss curve")
    return [], None


def dataset_stats(run_dir: Path, manifest: dict[str, Any], before: str | None = None) -> dict[str, Any]:
    """Images, pairs, negatives, per category and per split, review statuses."""
    images_path = _latest(run_dir, manifest, "images", before)
    pairs_path = _latest(run_dir, manifest, "pairs", before)
    images = read_images(images_path) if images_path else []
    pairs = read_pairs(pairs_path) if pairs_path else []
    image_category = {i.id: i.category for i in images}
    per_category: dict[str, Counter] = {}
    for p in pairs:
        cat = p.category or image_category.get(p.image_id) or "uncategorized"
        c = per_category.setdefault(cat, Counter())
        c["pairs"] += 1
        c["negatives"] += p.negative
        c[p.split or "train"] += 1
    images_per_category: dict[str, set] = {}
    for p in pairs:
        cat = p.category or image_category.get(p.image_id) or "uncategorized"
        images_per_category.setdefault(cat, set()).add(p.image_id)
    return {
        "images": len(images),
        "images_with_pairs": len({p.image_id for p in pairs}),
        "pairs": len(pairs),
        "negatives": sum(p.negative for p in pairs),
        "splits": dict(Counter(p.split or "train" for p in pairs)),
        "review": dict(Counter(p.review for p in pairs)),
        "categories": {
            cat: {
                "images": len(images_per_category.get(cat, ())),
                "pairs": c["pairs"],
                "negatives": c["negatives"],
                "train": c["train"],
                "val": c["val"],
                "test": c["test"],
            }
            for cat, c in sorted(per_category.items())
        },
        "images_file": str(images_path) if images_path else None,
        "pairs_file": str(pairs_path) if pairs_path else None,
    }

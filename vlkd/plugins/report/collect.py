"""Everything a report shows, read from the files of a run directory (no model, no network).

Sources: ``manifest.json`` (stage times, teacher usage, counts), the evaluate stage's
``metrics.json`` and ``predictions.jsonl``, the latest ``images.jsonl`` and ``pairs.jsonl``,
and the trainer's ``trainer_log.jsonl`` found through ``vlkd_model.json``.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vlkd.core.errors import StageError
from vlkd.core.jsonl import read_json, read_jsonl
from vlkd.core.stages import ARTIFACT_PATHS, STAGE_NAMES


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
    stages = [s for s in STAGE_NAMES if s in manifest.get("stages", {})] or list(STAGE_NAMES)
    if before in stages:
        stages = stages[: stages.index(before)]
    for stage in reversed(stages):
        path = run_dir / stage / ARTIFACT_PATHS[artifact]
        if path.exists():
            return path
    return None


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
    if model_dir is not None and (model_dir / "vlkd_model.json").exists():
        try:
            log = json.loads((model_dir / "vlkd_model.json").read_text(encoding="utf-8")).get("log")
        except json.JSONDecodeError:
            log = None
        if log:
            candidates.append(Path(log) if Path(log).is_absolute() else model_dir / log)
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
    images = list(read_jsonl(images_path)) if images_path else []
    pairs = list(read_jsonl(pairs_path)) if pairs_path else []
    image_category = {i.get("id"): i.get("category") for i in images}
    per_category: dict[str, Counter] = {}
    for p in pairs:
        cat = p.get("category") or image_category.get(p.get("image_id")) or "uncategorized"
        c = per_category.setdefault(cat, Counter())
        c["pairs"] += 1
        c["negatives"] += bool(p.get("negative"))
        c[p.get("split") or "train"] += 1
    images_per_category: dict[str, set] = {}
    for p in pairs:
        cat = p.get("category") or image_category.get(p.get("image_id")) or "uncategorized"
        images_per_category.setdefault(cat, set()).add(p.get("image_id"))
    return {
        "images": len(images),
        "images_with_pairs": len({p.get("image_id") for p in pairs}),
        "pairs": len(pairs),
        "negatives": sum(bool(p.get("negative")) for p in pairs),
        "splits": dict(Counter(p.get("split") or "train" for p in pairs)),
        "review": dict(Counter(p.get("review") or "pending" for p in pairs)),
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

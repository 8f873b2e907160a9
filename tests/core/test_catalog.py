"""The catalog of artifacts: one table (name -> file -> model), ``ctx.load``/``ctx.save`` by name."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from vlkd.core import catalog
from vlkd.core.artifacts import DatasetCard
from vlkd.core.context import StageContext
from vlkd.core.errors import StageError
from vlkd.core.jsonl import write_json_atomic, write_jsonl_atomic
from vlkd.core.records import ImageRecord, Provenance, QARecord
from vlkd.core.results import Manifest, Metrics, Prediction
from vlkd.core.rundir import RunDir
from vlkd.core.stages import ARTIFACT_PATHS, STAGE_KINDS

METRICS = {
    "format": 1,
    "metrics": [{"name": "exact_match", "label": "Exact match"}],
    "systems": ["base", "tuned"],
    "categories": ["manual_parsing"],
    "results": {"base": {"overall": {"exact_match": {"value": 0.25, "ci": [0.0, 0.5], "n": 4}}}},
    "deltas": {},
    "bootstrap": {"samples": 10, "seed": 0, "confidence": 0.95},
    "split": "test",
    "items": 4,
    "references": {"approved": 4},
    "backend": "transformers",
    "model": None,
    "prompt": {"system": None, "decoding": "greedy"},
    "teacher": None,
    "judge": None,
    "categories_not_evaluated": {},
    "notes": ["a note"],
    "predictions": "predictions.jsonl",
    "a_newer_key": {"kept": True},
}

PREDICTION = {
    "system": "tuned",
    "id": "p1",
    "image_id": "i1",
    "image": "preprocess/images/i1.png",
    "question": "Q?",
    "reference": "A",
    "category": None,
    "negative": False,
    "review": "approved",
    "prediction": "A",
    "scores": {"exact_match": 1.0, "anls": 1.0},
    "judge_text": "correct",
}


def test_every_artifact_a_stage_makes_is_in_the_catalog():
    made = {a for kind in STAGE_KINDS for a in (*kind.produces, *kind.consumes)}
    assert made <= set(catalog.ARTIFACTS)
    assert {name: a.path for name, a in catalog.ARTIFACTS.items()} == ARTIFACT_PATHS


def test_metrics_saved_from_a_dict_are_the_bytes_a_plain_dict_gave(tmp_path):
    write_json_atomic(tmp_path / "plain.json", METRICS)
    catalog.save("metrics", tmp_path / "metrics.json", METRICS)
    assert (tmp_path / "metrics.json").read_bytes() == (tmp_path / "plain.json").read_bytes()
    loaded = catalog.load("metrics", tmp_path / "metrics.json")
    assert isinstance(loaded, Metrics)
    assert loaded.items == 4 and loaded.notes == ["a note"] and loaded.metric_names() == {"exact_match"}
    catalog.save("metrics", tmp_path / "again.json", loaded)  # read and written again: nothing lost
    assert (tmp_path / "again.json").read_bytes() == (tmp_path / "plain.json").read_bytes()


def test_predictions_saved_from_dicts_are_the_bytes_plain_dicts_gave(tmp_path):
    write_jsonl_atomic(tmp_path / "plain.jsonl", [PREDICTION])
    catalog.save("predictions", tmp_path / "predictions.jsonl", [PREDICTION])
    assert (tmp_path / "predictions.jsonl").read_bytes() == (tmp_path / "plain.jsonl").read_bytes()
    [p] = catalog.load("predictions", tmp_path / "predictions.jsonl")
    assert isinstance(p, Prediction) and p.scores["anls"] == 1.0


def test_a_metrics_file_without_results_is_an_error_naming_it(tmp_path):
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps({"format": 1}))
    with pytest.raises(
        StageError, match=r"metrics\.json: not an evaluate stage's metrics \(results: Field required\)"
    ):
        catalog.load("metrics", path)
    path.write_text("[1, 2]")
    with pytest.raises(StageError, match="not a JSON object"):
        catalog.load("metrics", path)


def test_a_bad_prediction_line_is_an_error_at_file_line(tmp_path):
    path = tmp_path / "predictions.jsonl"
    path.write_text(json.dumps(PREDICTION) + "\n" + json.dumps({"id": "x"}) + "\n")
    with pytest.raises(StageError, match=r"predictions\.jsonl:2: not a prediction \(system: Field required"):
        catalog.load("predictions", path)


def test_the_manifest_of_a_run_is_a_model(tmp_path):
    RunDir(tmp_path).write_manifest(
        {"format": 1, "recipe": {"name": "demo"}, "stages": {"teach": {"status": "done"}}}
    )
    manifest = catalog.load("manifest", tmp_path / "manifest.json")
    assert isinstance(manifest, Manifest)
    assert manifest.name == "demo" and manifest.stages["teach"]["status"] == "done"


def _context(run_dir: Path, stage: str, stages: tuple[str, ...]) -> StageContext:
    from vlkd.core.stages import KINDS_BY_NAME

    run = SimpleNamespace(
        recipe=SimpleNamespace(stages=dict.fromkeys(stages), name="t"), run_dir=RunDir(run_dir)
    )
    config = SimpleNamespace(kind=KINDS_BY_NAME[stage], steps=[], settings=None)
    (run_dir / stage).mkdir(parents=True, exist_ok=True)
    return StageContext(run, config, run_dir / stage)  # type: ignore[arg-type]


def test_a_stage_saves_and_the_next_loads_by_name(tmp_path):
    image = tmp_path / "ingest" / "a.png"
    image.parent.mkdir(parents=True)
    image.write_bytes(b"png")
    ingest = _context(tmp_path, "ingest", ("ingest", "teach", "split"))
    ingest.save("images", [ImageRecord(id="a", path=str(image), width=1, height=1)])
    # stored relative to the run directory, loaded absolute: a moved run keeps working
    assert json.loads((tmp_path / "ingest" / "images.jsonl").read_text())["path"] == "ingest/a.png"
    teach = _context(tmp_path, "teach", ("ingest", "teach", "split"))
    [loaded] = teach.load("images")
    assert loaded.path == str(image.resolve())
    teach.save(
        "pairs",
        [QARecord(id="q", image_id="a", question="Q?", answer="A", provenance=Provenance(plugin="t"))],
    )
    assert "split" not in (tmp_path / "teach" / "pairs.jsonl").read_text()  # None fields left out
    split = _context(tmp_path, "split", ("ingest", "teach", "split"))
    assert [p.id for p in split.load("pairs")] == ["q"]
    with pytest.raises(StageError, match="needs model, and no earlier stage of the recipe makes them"):
        split.load("model")


def test_evaluate_asks_with_the_system_prompt_of_the_dataset_it_was_trained_on(tmp_path):
    from vlkd.plugins.evaluate.student import _training_system_prompt

    stages = ("format", "train", "evaluate")
    evaluate = _context(tmp_path, "evaluate", stages)
    assert _training_system_prompt(evaluate) is None  # no dataset card (trained on one from elsewhere)
    (tmp_path / "format" / "dataset").mkdir(parents=True)
    DatasetCard(format="llamafactory", system="You read car manuals.").write(tmp_path / "format" / "dataset")
    assert _training_system_prompt(evaluate) == "You read car manuals."
    assert _training_system_prompt(_context(tmp_path, "evaluate", ("train", "evaluate"))) is None

"""The evaluate stage's inputs: which split, what is missing, and the teacher reference row."""

import json
from pathlib import Path

import pytest

from vlkd.core.errors import StageError
from vlkd.plugins.evaluate.student import StudentEvalOptions, StudentEvaluator

from .conftest import QUESTIONS, stage_context, write_jsonl


def _plugin(**kw):
    return StudentEvaluator(StudentEvalOptions(plugin="student", bootstrap_samples=50, **kw))


def test_teacher_row_scores_raw_teacher_answers_against_reviewed_ones(run_layout):
    run_dir = run_layout()
    plugin = _plugin(systems=["teacher"])
    ctx, _ = stage_context(run_dir, plugin)
    plugin.run(ctx)
    metrics = json.loads((ctx.dir / "metrics.json").read_text())
    teacher = metrics["results"]["teacher"]
    # 2 test images x 4 questions; the teacher was right on 2 of 4 questions per image
    assert metrics["items"] == 8 and metrics["split"] == "test"
    assert teacher["overall"]["exact_match"]["value"] == 0.5
    # it answered "4 L" where the experts wrote 不存在: it never says not-present
    assert teacher["overall"]["not_present_recall"]["value"] == 0.0
    assert teacher["categories"]["manual_parsing"]["relaxed_accuracy"] == {
        "value": 0.0,
        "ci": [0.0, 0.0],
        "n": 2,
    }
    assert metrics["teacher"] == {"items": 8, "added_by_reviewers": 0, "edited_by_reviewers": 4}
    assert metrics["references"] == {"approved": 4, "edited": 4}
    preds = [json.loads(line) for line in (ctx.dir / "predictions.jsonl").read_text().splitlines()]
    assert {p["prediction"] for p in preds if p["question"] == "拧紧力矩是多少？"} == {"30 N·m"}


def test_teacher_row_is_left_out_without_a_review_stage(run_layout):
    run_dir = run_layout()
    (run_dir / "review").rename(run_dir / "split")
    plugin = _plugin(systems=["teacher"])
    ctx, reporter = stage_context(run_dir, plugin, stages=("ingest", "teach", "split", "evaluate"))
    plugin.run(ctx)
    metrics = json.loads((ctx.dir / "metrics.json").read_text())
    assert metrics["systems"] == []
    assert "score 1.0 by construction" in metrics["notes"][0]
    assert not reporter.warnings  # an informed choice, not a problem with the input


def test_teacher_row_is_left_out_when_reviewers_changed_nothing(run_layout):
    run_dir = run_layout(questions=[(q, a, a, c, n) for q, a, _, c, n in QUESTIONS])  # all auto-approved
    plugin = _plugin(systems=["teacher"])
    ctx, _ = stage_context(run_dir, plugin)
    plugin.run(ctx)
    metrics = json.loads((ctx.dir / "metrics.json").read_text())
    assert "teacher" not in metrics["results"]
    assert "changed none of the teacher's answers on the 8 evaluated items" in metrics["notes"][0]


def test_empty_test_split_falls_back_to_val_with_a_warning(run_layout):
    run_dir = run_layout(split="val")
    plugin = _plugin(systems=["teacher"])
    ctx, reporter = stage_context(run_dir, plugin)
    plugin.run(ctx)
    assert json.loads((ctx.dir / "metrics.json").read_text())["split"] == "val"
    assert any("no pair is in the 'test' split; evaluating the 'val' split" in w for w in reporter.warnings)


def test_no_held_out_split_is_an_error_that_says_what_to_do(run_layout):
    run_dir = run_layout(split=None)  # no split stage ran: every pair counts as train
    plugin = _plugin(systems=["teacher"])
    ctx, _ = stage_context(run_dir, plugin)
    with pytest.raises(
        StageError, match=r"pairs.jsonl: no pair is in the 'test' split \(train: 12\); add a split"
    ):
        plugin.run(ctx)


def test_a_bad_pairs_line_is_named(run_layout):
    run_dir = run_layout()
    write_jsonl(run_dir / "review" / "pairs.jsonl", [{"id": "x", "image_id": "img1", "question": "q?"}])
    plugin = _plugin(systems=["teacher"])
    ctx, _ = stage_context(run_dir, plugin)
    with pytest.raises(
        StageError,
        match=r"review/pairs.jsonl:1: not a question/answer record \(answer: Field required, and 1 more\)",
    ):
        plugin.run(ctx)


def test_missing_model_description_is_an_error_naming_the_file(run_layout):
    run_dir = run_layout()
    (run_dir / "train" / "model").mkdir(parents=True)
    plugin = _plugin(
        systems=["base"], backend="openai", base_url="http://127.0.0.1:9/v1", base_model_name="b"
    )
    ctx, _ = stage_context(run_dir, plugin)
    with pytest.raises(
        StageError,
        match=r"train/model/vlkd_model.json: missing; re-run the train stage \(vlkd run RECIPE --from train\)",
    ):
        plugin.run(ctx)


def test_openai_backend_options_are_checked():
    with pytest.raises(ValueError, match="needs base_url"):
        StudentEvalOptions(plugin="student", backend="openai")
    with pytest.raises(ValueError, match="needs tuned_model_name"):
        StudentEvalOptions(plugin="student", backend="openai", base_url="http://x/v1", base_model_name="b")


def test_a_missing_adapter_is_an_error_naming_it(run_layout):
    run_dir = run_layout()
    model_dir = run_dir / "train" / "model"
    model_dir.mkdir(parents=True)
    (model_dir / "vlkd_model.json").write_text(json.dumps({"base_model": "x", "adapter": "adapter"}))
    plugin = _plugin(
        systems=["base"], backend="openai", base_url="http://127.0.0.1:9/v1", base_model_name="b"
    )
    ctx, _ = stage_context(run_dir, plugin)
    with pytest.raises(
        StageError, match=r"model/adapter: no adapter_config\.json; the adapter named by .*vlkd_model"
    ):
        plugin.run(ctx)


def test_dry_run_estimate_counts_answers_and_judge_calls(run_layout):
    run_dir = run_layout()
    plugin = _plugin(judge={"plugin": "openai", "model": "gpt-4o-mini"})
    ctx, _ = stage_context(run_dir, plugin)
    assert plugin.estimate(ctx) == [
        "8 test pairs x 2 students (base, tuned) on backend transformers = 16 answers",
        "judge openai gpt-4o-mini: 16 calls, paid per call",
    ]


def test_categories_without_a_test_pair_are_listed_as_not_evaluated(run_layout):
    run_dir = run_layout()
    pairs = [json.loads(line) for line in (run_dir / "review" / "pairs.jsonl").read_text().splitlines()]
    extra = {**pairs[0], "id": "wiring-1", "category": "wiring_diagrams", "split": "train"}
    write_jsonl(
        run_dir / "review" / "pairs.jsonl", [*pairs, extra, {**extra, "id": "wiring-2", "split": "val"}]
    )
    plugin = _plugin(systems=["teacher"])
    ctx, reporter = stage_context(run_dir, plugin)
    plugin.run(ctx)
    metrics = json.loads((ctx.dir / "metrics.json").read_text())
    assert metrics["categories_not_evaluated"] == {"wiring_diagrams": "no test pair (1 in train, 1 in val)"}
    assert (
        "evaluate: category 'wiring_diagrams' is not evaluated: no test pair (1 in train, 1 in val)"
        in reporter.warnings
    )


def test_image_paths_stored_relative_to_the_run_resolve_in_a_moved_run(run_layout, tmp_path):
    run_dir = run_layout()
    images = run_dir / "ingest" / "images.jsonl"
    rows = [json.loads(line) for line in images.read_text().splitlines()]
    (run_dir / "ingest" / "pages").mkdir()
    for row in rows:  # as ingest stores files it made inside the run: relative to the run directory
        name = f"ingest/pages/{row['id']}.png"
        (run_dir / name).write_bytes(Path(row["path"]).read_bytes())
        row["path"] = name
    write_jsonl(images, rows)
    moved = run_dir.rename(tmp_path / "moved")
    plugin = _plugin(systems=["teacher"])
    ctx, _ = stage_context(moved, plugin)
    plugin.run(ctx)
    preds = [json.loads(line) for line in (ctx.dir / "predictions.jsonl").read_text().splitlines()]
    assert preds and {p["image"] for p in preds} == {
        str(moved / "ingest" / "pages" / f"{p['image_id']}.png") for p in preds
    }
    assert all((moved / "ingest" / "pages" / f"{p['image_id']}.png").is_file() for p in preds)

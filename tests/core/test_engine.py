"""Run, skip, resume and re-run: the engine's promises, in-process."""

import json

import pytest

from vlkd.core.engine import Engine
from vlkd.core.errors import StageError
from vlkd.core.jsonl import read_jsonl
from vlkd.core.progress import Reporter

RECIPE = "name: t\ningest:\n  plugin: counting\n  n: {n}\n  calls_file: {calls}\n{extra}report:\n  plugin: count_report\n"


@pytest.fixture
def make(tmp_path, vlkd_recipe, registry):
    calls = tmp_path / "calls.txt"

    def _make(n=5, extra="", overrides=()):
        return vlkd_recipe(RECIPE.format(n=n, calls=calls, extra=extra), registry, overrides)

    _make.calls = calls
    return _make


def run(recipe, run_dir, **kw):
    return Engine(recipe, run_dir, reporter=Reporter(quiet=True), **kw).run()


def calls(make):
    return make.calls.read_text().split() if make.calls.exists() else []


def test_run_writes_outputs_and_manifest(make, vlkd_run_dir, monkeypatch):
    monkeypatch.setenv("VLKD_TEST_SECRET", "sk-live-0123456789")
    recipe = make(extra="  api_key: ${env:VLKD_TEST_SECRET}\n")
    manifest = run(recipe, vlkd_run_dir)
    assert len(list(read_jsonl(vlkd_run_dir / "ingest" / "images.jsonl"))) == 5
    assert (vlkd_run_dir / "report" / "report" / "count.txt").read_text() == "count: 5\n"
    on_disk = json.loads((vlkd_run_dir / "manifest.json").read_text())
    assert on_disk == manifest
    assert manifest["status"] == "done"
    assert manifest["recipe"]["name"] == "t"
    assert manifest["recipe"]["hash"] == recipe.hash
    assert manifest["recipe"]["resolved"]["ingest"]["api_key"] == "**********"
    assert manifest["versions"]["vlkd"]
    assert "vlkd.testing.fixture_plugins" in manifest["versions"]["plugins"]
    ingest = manifest["stages"]["ingest"]
    assert ingest["status"] == "done"
    assert ingest["counts"] == {"ok": 5, "skipped": 0, "failed": 0}
    assert ingest["wall_time_s"] >= 0 and len(ingest["fingerprint"]) == 64
    # the secret is nowhere in the run directory
    for path in vlkd_run_dir.rglob("*"):
        if path.is_file():
            assert b"sk-live-0123456789" not in path.read_bytes(), path


def test_rerun_skips_finished_stages(make, vlkd_run_dir):
    run(make(), vlkd_run_dir)
    first = json.loads((vlkd_run_dir / "manifest.json").read_text())
    run(make(), vlkd_run_dir)
    second = json.loads((vlkd_run_dir / "manifest.json").read_text())
    assert calls(make) == ["0", "1", "2", "3", "4"]
    assert second["stages"]["ingest"]["started"] == first["stages"]["ingest"]["started"]


def test_run_only_settings_do_not_rerun(make, vlkd_run_dir):
    run(make(), vlkd_run_dir)
    run(make(overrides=("ingest.workers=2",)), vlkd_run_dir)
    assert len(calls(make)) == 5


def test_changed_stage_reruns_it_and_later_stages(make, vlkd_run_dir):
    run(make(), vlkd_run_dir)
    (vlkd_run_dir / "report" / "report" / "count.txt").write_text("stale")
    run(make(n=7), vlkd_run_dir)
    assert len(calls(make)) == 5 + 7  # stage started over
    assert (vlkd_run_dir / "report" / "report" / "count.txt").read_text() == "count: 7\n"


def test_changed_later_stage_reruns_only_it(make, vlkd_run_dir):
    run(make(), vlkd_run_dir)
    run(make(overrides=("report.title=total",)), vlkd_run_dir)
    assert len(calls(make)) == 5
    assert (vlkd_run_dir / "report" / "report" / "count.txt").read_text() == "total: 5\n"


def test_from_and_to(make, vlkd_run_dir):
    run(make(), vlkd_run_dir, to_stage="ingest")
    assert not (vlkd_run_dir / "report").exists()
    manifest = json.loads((vlkd_run_dir / "manifest.json").read_text())
    assert manifest["stages"]["report"]["status"] == "pending"
    run(make(), vlkd_run_dir)
    assert len(calls(make)) == 5
    run(make(), vlkd_run_dir, from_stage="ingest")
    assert len(calls(make)) == 10


def test_from_needs_earlier_stages_done(make, vlkd_run_dir):
    with pytest.raises(StageError, match="stage 'ingest' before it is not done"):
        run(make(), vlkd_run_dir, from_stage="report")


def test_unknown_from_stage(make, vlkd_run_dir):
    with pytest.raises(
        StageError, match=r"--from teach: no such stage in recipe 't' \(this recipe has: ingest, report\)"
    ):
        run(make(), vlkd_run_dir, from_stage="teach")


def test_run_dir_of_another_recipe_is_refused_unless_fresh(make, vlkd_run_dir, vlkd_recipe, registry):
    run(make(), vlkd_run_dir)
    (vlkd_run_dir / "cache").mkdir()
    (vlkd_run_dir / "cache" / "paid.json").write_text("{}")
    other = vlkd_recipe("name: other\ningest:\n  plugin: counting\n  n: 2\n", registry)
    with pytest.raises(StageError, match=r"holds a run of recipe 't', not 'other'; .* --fresh"):
        run(other, vlkd_run_dir)
    run(other, vlkd_run_dir, fresh=True)
    assert json.loads((vlkd_run_dir / "manifest.json").read_text())["recipe"]["name"] == "other"
    assert not (vlkd_run_dir / "report").exists()
    assert (vlkd_run_dir / "cache" / "paid.json").exists()  # paid responses survive --fresh


def test_non_run_directory_is_refused(make, tmp_path):
    target = tmp_path / "precious"
    target.mkdir()
    (target / "thesis.docx").write_text("x")
    with pytest.raises(StageError, match="is not a vlkd run directory"):
        run(make(), target)
    assert (target / "thesis.docx").exists()


def test_resume_continues_from_the_ledger(make, vlkd_run_dir):
    """A stage that stopped half-way resumes: finished items are not redone, none is lost."""
    with pytest.raises(StageError, match="stopped at item item-3: RuntimeError: boom at 3"):
        run(make(extra="  fail_at: 3\n  on_error: fail\n"), vlkd_run_dir)
    manifest = json.loads((vlkd_run_dir / "manifest.json").read_text())
    assert manifest["stages"]["ingest"]["status"] == "failed"
    assert manifest["stages"]["ingest"]["error"].startswith("stage 'ingest' stopped at item item-3")
    assert manifest["status"] == "failed"
    assert calls(make) == ["0", "1", "2"]
    with (vlkd_run_dir / "ingest" / "ledger.jsonl").open("a") as fh:
        fh.write('{"key": "item-4", "status"')  # a torn last line, as after a power cut
    manifest = run(make(extra="  on_error: fail\n"), vlkd_run_dir)  # the fault is gone
    assert calls(make) == ["0", "1", "2", "3", "4"]
    assert manifest["stages"]["ingest"]["counts"]["ok"] == 5
    assert len(list(read_jsonl(vlkd_run_dir / "ingest" / "images.jsonl"))) == 5


def test_skips_and_failures_are_counted_with_reasons(make, vlkd_run_dir):
    manifest = run(make(n=7, extra="  skip_every: 3\n  fail_at: 4\n"), vlkd_run_dir)
    counts = manifest["stages"]["ingest"]["counts"]
    assert (counts["ok"], counts["skipped"], counts["failed"]) == (3, 3, 1)
    assert counts["skipped_by_reason"] == {"multiple of 3": 3}
    assert {"item": "item-4", "status": "failed", "reason": "RuntimeError: boom at 4"} in counts["problems"]


def test_lifecycle_hooks_are_called(make, vlkd_run_dir, vlkd_registry, vlkd_recipe, tmp_path):
    from vlkd.core.hookspecs import hookimpl
    from vlkd.testing import fixture_plugins

    seen = []

    class Observer:
        @hookimpl
        def vlkd_run_start(self, run):
            seen.append(("run_start", run.recipe.name))

        @hookimpl
        def vlkd_stage_start(self, run, stage):
            seen.append(("stage_start", stage))

        @hookimpl
        def vlkd_stage_end(self, run, stage, result):
            seen.append(("stage_end", stage, result["status"]))

        @hookimpl
        def vlkd_run_end(self, run, status):
            seen.append(("run_end", status))

    registry = vlkd_registry(fixture_plugins, Observer())
    recipe = vlkd_recipe(RECIPE.format(n=2, calls=tmp_path / "c", extra=""), registry)
    run(recipe, vlkd_run_dir)
    assert seen == [
        ("run_start", "t"),
        ("stage_start", "ingest"),
        ("stage_end", "ingest", "done"),
        ("stage_start", "report"),
        ("stage_end", "report", "done"),
        ("run_end", "done"),
    ]


def test_dry_run_writes_nothing(make, vlkd_run_dir):
    run(make(), vlkd_run_dir, dry_run=True)
    assert not (vlkd_run_dir / "manifest.json").exists()
    assert calls(make) == []


def test_a_mistyped_from_stage_suggests_one_of_the_recipe(make, vlkd_run_dir):
    with pytest.raises(StageError) as err:
        run(make(), vlkd_run_dir, from_stage="reprot")
    assert str(err.value) == (
        "--from reprot: no such stage in recipe 't' (did you mean 'report'?) (this recipe has: ingest, report)"
    )


def test_plugins_of_the_stages_a_run_will_run_warm_up_first(make, vlkd_run_dir, monkeypatch):
    """warm_up (a teacher's SDK imported in a thread) starts when the run starts, before the first
    stage, for the stages that will run; never for a dry run or a stage that is up to date."""
    from vlkd.testing.fixture_plugins import Counting, CountReport

    seen: list[str] = []
    for cls in (Counting, CountReport):
        monkeypatch.setattr(cls, "warm_up", lambda self, _n=cls.__name__: seen.append(_n), raising=False)
    run(make(), vlkd_run_dir, dry_run=True)
    assert seen == []
    monkeypatch.setattr(
        Counting, "run", lambda self, ctx, _run=Counting.run: (seen.append("ran"), _run(self, ctx))[1]
    )
    run(make(), vlkd_run_dir)
    assert seen == ["Counting", "CountReport", "ran"]
    seen.clear()
    run(make(), vlkd_run_dir)  # up to date: nothing runs, nothing warms up
    assert seen == []

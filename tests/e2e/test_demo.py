"""The offline demo, end to end, exactly as the README runs it: ingest -> report.

This is the slowest test (a few minutes on 2 cores): OCR, a tiny Qwen2-VL trained and
evaluated on the CPU. It checks what a person would: the run succeeds and warns about none of
its own shipped samples, every stage is done, the tuned student reads the warning lights that
its base cannot (above chance, with the paired interval above zero), the report's numbers are
this run's numbers, and a re-run does nothing again.
"""

import json
import re

import pytest

from tests.e2e.conftest import DEMO, vlkd
from vlkd.core.jsonl import read_jsonl
from vlkd.testing import read_html

STAGES = [
    "ingest",
    "preprocess",
    "teach",
    "verify",
    "review",
    "split",
    "format",
    "train",
    "evaluate",
    "report",
]


def test_every_stage_is_done_with_items(demo_run):
    run, _ = demo_run
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "done"
    assert list(manifest["stages"]) == STAGES
    for name in STAGES:
        assert manifest["stages"][name]["status"] == "done", name
    teach = manifest["stages"]["teach"]
    pairs = list(read_jsonl(run / "teach" / "pairs.jsonl"))
    assert teach["facts"]["pairs"] == len(pairs) > 20
    assert any(p["negative"] and p["answer"] == "不存在" for p in pairs)
    assert (run / "train" / "model" / "adapter" / "adapter_config.json").exists()


def test_a_clean_run_warns_about_nothing(demo_run):
    """The shipped samples fit the shipped limits, the split has every category in val and
    test, and no library's advice cuts in: a new user's first run shows no warning."""
    _, result = demo_run
    warnings = [line for line in result.stderr.splitlines() if re.search(r"^\s*warning:|Warning:", line)]
    assert not warnings, "\n".join(warnings)


def test_tuned_student_reads_the_warning_lights(demo_run):
    """The gain is on something only the image tells: one fixed question, four lights equally
    often, so answer priors score 25% at best; the tuned student must be above that."""
    run, _ = demo_run
    tests = [p for p in read_jsonl(run / "split" / "pairs.jsonl") if p["split"] == "test"]
    lights = [p for p in tests if p["category"] == "warning_lights"]
    assert len(lights) >= 50 and len({p["question"] for p in lights}) == 1
    assert {p["review"] for p in lights} == {"approved"}  # the expert's pairs, from the review sheet
    metrics = json.loads((run / "evaluate" / "metrics.json").read_text())
    gain = metrics["deltas"]["base->tuned"]["categories"]["warning_lights"]["exact_match"]
    tuned = metrics["results"]["tuned"]["categories"]["warning_lights"]["exact_match"]
    base = metrics["results"]["base"]["categories"]["warning_lights"]["exact_match"]
    assert gain["ci"][0] > 0, gain
    assert tuned["ci"][0] > 0.25, tuned  # above chance, not an answer prior
    assert base["value"] < 0.25, base
    predictions = [
        p for p in read_jsonl(run / "evaluate" / "predictions.jsonl") if p["category"] == "warning_lights"
    ]
    tuned_answers = {p["prediction"] for p in predictions if p["system"] == "tuned"}
    assert len(tuned_answers) >= 4  # it names different lights for different photos
    rows = read_html((run / "report" / "report.html").read_text(encoding="utf-8")).tables["headline"]
    row = next(r for r in rows if "warning" in r[0].lower())
    assert row[2] == f"{tuned['value'] * 100:.1f}%" and row[-1] == str(len(lights))


def test_report_numbers_come_from_this_run(demo_run):
    run, _ = demo_run
    metrics = json.loads((run / "evaluate" / "metrics.json").read_text())
    predictions = list(read_jsonl(run / "evaluate" / "predictions.jsonl"))
    tests = [p for p in read_jsonl(run / "split" / "pairs.jsonl") if p["split"] == "test"]
    assert metrics["items"] == len(tests) > 0
    for system in ("base", "tuned"):
        rows = [p for p in predictions if p["system"] == system]
        assert len(rows) == len(tests)
        exact = sum(p["scores"]["exact_match"] for p in rows) / len(rows)
        assert metrics["results"][system]["overall"]["exact_match"]["value"] == pytest.approx(exact)
    report = run / "report"
    overall = read_html((report / "report.html").read_text(encoding="utf-8")).tables["headline"][-1]
    assert overall[0] == "Overall"
    tuned = metrics["results"]["tuned"]["overall"]["exact_match"]["value"]
    assert overall[2] == f"{tuned * 100:.1f}%"
    assert "report.html" in str(json.loads((run / "manifest.json").read_text())["stages"]["report"]["facts"])
    assert (report / "loss.svg").read_text().startswith("<svg")


def test_rerun_does_nothing_again(demo_run):
    run, _ = demo_run
    before = json.loads((run / "manifest.json").read_text())
    result = vlkd("run", str(DEMO), "--run-dir", "runs/demo", cwd=run.parents[1])
    assert result.returncode == 0, result.stderr[-3000:]
    after = json.loads((run / "manifest.json").read_text())
    for name in STAGES:
        assert f"{name}: up to date" in result.stderr
        assert after["stages"][name]["started"] == before["stages"][name]["started"]


def test_report_regenerates_without_a_model(demo_run, tmp_path):
    run, _ = demo_run
    result = vlkd("report", str(run), "--out", str(tmp_path / "again"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "again" / "report.html").exists()

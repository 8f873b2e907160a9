"""The report, rendered from a run directory's files and read back like a person would."""

import json
import random
import sys
from pathlib import Path

import pytest

from vlkd.core.errors import StageError
from vlkd.metrics.summary import score_item, summarize
from vlkd.plugins.report.html_report import build_report
from vlkd.testing import HtmlPage, read_html

CATEGORIES = ["part_recognition", "fault_diagnosis", "manual_parsing"]


def _jsonl(path: Path, rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


@pytest.fixture
def run_dir(tmp_path, vlkd_images):
    """A finished run: manifest, images, split pairs, trainer log, and an evaluation of 30 items."""
    rng = random.Random(3)
    run = tmp_path / "runs" / "demo"
    paths = vlkd_images(n=6, size=(120, 80))
    images = [
        {"id": f"img{i}", "path": str(p), "width": 120, "height": 80, "category": CATEGORIES[i % 3]}
        for i, p in enumerate(paths)
    ]
    _jsonl(run / "ingest" / "images.jsonl", images)
    pairs, preds = [], []
    for n in range(30):
        img = images[n % 6]
        ref = "不存在" if n % 5 == 0 else f"{10 + n} N·m" if n % 3 == 0 else f"零件{n}"
        pair = {
            "id": f"q{n}",
            "image_id": img["id"],
            "question": f"问题{n}？",
            "answer": ref,
            "category": img["category"],
            "negative": ref == "不存在",
            "review": "approved",
            "split": "test" if n % 2 else "train",
            "provenance": {"plugin": "ocr"},
        }
        pairs.append(pair)
        base = ref if rng.random() < 0.3 else "不存在"
        tuned = ref if rng.random() < 0.8 else f"零件{n + 1}"
        for system, answer in (("base", base), ("tuned", tuned), ("teacher", ref)):
            preds.append(
                {
                    "system": system,
                    "id": pair["id"],
                    "image_id": img["id"],
                    "image": img["path"],
                    "category": img["category"],
                    "question": pair["question"],
                    "reference": ref,
                    "negative": pair["negative"],
                    "prediction": answer,
                    "scores": score_item(answer, ref, negative=pair["negative"]),
                }
            )
    _jsonl(run / "split" / "pairs.jsonl", pairs)
    metrics = summarize(preds, systems=["base", "tuned", "teacher"], samples=200)
    metrics.update(
        {
            "split": "test",
            "items": 30,
            "backend": "transformers",
            "notes": [],
            "model": {
                "base_model": "/students/tiny",
                "adapter": str(run / "train/model/adapter"),
                "image_min_pixels": 1024,
                "image_max_pixels": 16384,
            },
            "teacher": {"items": 30, "added_by_reviewers": 0, "edited_by_reviewers": 0},
            "predictions": "predictions.jsonl",
        }
    )
    (run / "evaluate").mkdir(parents=True)
    (run / "evaluate" / "metrics.json").write_text(json.dumps(metrics), encoding="utf-8")
    _jsonl(run / "evaluate" / "predictions.jsonl", preds)
    model = run / "train" / "model"
    model.mkdir(parents=True)
    (model / "vlkd_model.json").write_text(
        json.dumps(
            {
                "trainer": "peft",
                "base_model": "/students/tiny",
                "adapter": "adapter",
                "log": "trainer_log.jsonl",
            }
        )
    )
    _jsonl(
        model / "trainer_log.jsonl",
        [{"current_steps": s, "total_steps": 20, "loss": 3.0 / s} for s in range(1, 21)],
    )
    manifest = {
        "recipe": {"name": "demo"},
        "stages": {
            "ingest": {"status": "done", "wall_time_s": 0.4, "counts": {"ok": 6}},
            "teach": {
                "status": "done",
                "wall_time_s": 12.5,
                "counts": {"ok": 6},
                "usage": {
                    "requests": 6,
                    "cached": 2,
                    "input_tokens": 12345,
                    "output_tokens": 678,
                    "cost_usd": 0.0421,
                },
            },
            "split": {"status": "done", "wall_time_s": 0.1},
            "train": {"status": "done", "wall_time_s": 95.0},
            "evaluate": {"status": "done", "wall_time_s": 30.2},
        },
    }
    (run / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return run


def _pct(v):
    return "–" if v is None else f"{v * 100:.1f}%"


def _read_html(path: Path) -> HtmlPage:
    return read_html(path.read_text(encoding="utf-8"))


def test_html_table_numbers_are_the_metrics_json_numbers(run_dir, tmp_path):
    files = build_report(run_dir, tmp_path / "out")
    metrics = json.loads(files.metrics.read_text())
    assert metrics == json.loads((run_dir / "evaluate" / "metrics.json").read_text())
    html = _read_html(files.html)
    header, *rows = html.tables["results"]
    assert header[:6] == ["Category", "Metric", "Base", "Tuned", "Δ (tuned − base)", "95% CI of Δ"]
    labels = {m["label"]: m["name"] for m in metrics["metrics"]}
    checked = 0
    for row in rows:
        cat, metric = row[0], labels[row[1]]
        group = {
            s: metrics["results"][s]["overall"]
            if cat == "Overall"
            else metrics["results"][s]["categories"][cat]
            for s in metrics["systems"]
        }
        delta_src = metrics["deltas"]["base->tuned"]
        delta = delta_src["overall"][metric] if cat == "Overall" else delta_src["categories"][cat][metric]
        assert row[2] == _pct(group["base"][metric]["value"])
        assert row[3] == _pct(group["tuned"][metric]["value"])
        assert row[4] == ("–" if delta["value"] is None else f"{delta['value'] * 100:+.1f} pp")
        if delta["ci"]:
            assert row[5] == f"[{delta['ci'][0] * 100:+.1f}, {delta['ci'][1] * 100:+.1f}]"
        assert row[6] == _pct(group["teacher"][metric]["value"])
        checked += 1
    assert checked == 4 * 7  # 3 categories + overall, 7 metrics each
    # the seed-style headline: exact match per category
    headline = html.tables["headline"]
    assert [r[0] for r in headline[1:]] == [*sorted(CATEGORIES), "Overall"]
    overall = metrics["results"]["tuned"]["overall"]["exact_match"]["value"]
    assert headline[-1][3] == _pct(overall)


def test_report_is_self_contained_with_curve_thumbnails_cost_and_dataset(run_dir, tmp_path):
    files = build_report(run_dir, tmp_path / "out", examples=3)
    html = _read_html(files.html)
    assert html.links and all(link.startswith("data:") for link in html.links)  # nothing to fetch
    assert sum(link.startswith("data:image/png;base64,") for link in html.links) == 1  # the loss curve
    assert files.loss_png.read_bytes().startswith(b"\x89PNG")
    thumbs = [link for link in html.links if link.startswith("data:image/jpeg;base64,")]
    assert 1 <= len(thumbs) <= 6
    assert 1 <= len(html.tables["gains"]) - 1 <= 3
    dataset = {r[0]: r for r in html.tables["dataset"][1:]}
    assert dataset["All"][1:4] == ["6", "30", "6"]  # images, pairs, negatives
    assert dataset["All"][4:] == ["15", "0", "15"]
    stages = {r[0]: r for r in html.tables["stages"][1:]}
    assert stages["teach"][4:] == ["6", "12,345 / 678", "$0.0421"]
    text = files.html.read_text(encoding="utf-8")
    assert "6 requests (2 from the cache)" in text
    md = files.markdown.read_text(encoding="utf-8")
    assert "| Overall | Exact match |" in md and "![training loss by step](loss.png)" in md


def test_without_matplotlib_the_curve_is_skipped_with_a_note(run_dir, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    files = build_report(run_dir, tmp_path / "out")
    assert files.loss_png is None
    assert any("matplotlib is not installed" in n for n in files.notes)
    assert "matplotlib is not installed" in files.html.read_text(encoding="utf-8")


def test_no_metrics_is_an_error_that_says_which_stage_to_run(run_dir, tmp_path):
    (run_dir / "evaluate" / "metrics.json").unlink()
    with pytest.raises(StageError, match=r"no metrics\.json; run the evaluate stage first"):
        build_report(run_dir, tmp_path / "out")
    with pytest.raises(StageError, match="not a vlkd run directory"):
        build_report(tmp_path, tmp_path / "out")


def test_vlkd_report_command_regenerates_without_a_model(run_dir, capsys):
    from vlkd.cli import main

    main(["report", str(run_dir)])
    out = run_dir / "report" / "report"
    assert (out / "report.html").exists() and (out / "report.md").exists() and (out / "metrics.json").exists()
    with pytest.raises(SystemExit) as exc:
        main(["report", str(run_dir / "nope")])
    assert exc.value.code == 2
    assert "no such run directory" in capsys.readouterr().err


def test_regenerating_loads_no_model_library(run_dir, tmp_path):
    import subprocess

    code = (
        "import sys; from pathlib import Path; from vlkd.plugins.report.html_report import build_report; "
        f"build_report(Path({str(run_dir)!r}), Path({str(tmp_path / 'out')!r})); "
        "print(sorted(m for m in ('torch', 'transformers', 'peft') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
    assert (tmp_path / "out" / "report.html").exists()

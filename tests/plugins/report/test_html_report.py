"""The report, rendered from a run directory's files and read back like a person would."""

import html as html_module
import json
import random
import re
import shutil
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
    paths = []
    for i, src in enumerate(vlkd_images(n=6, size=(120, 80))):  # preprocessed copies inside the run
        dest = run / "preprocess" / "images" / f"{i}.png"
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
        paths.append(dest)
    images = [
        {"id": f"img{i}", "path": str(p), "width": 120, "height": 80, "category": CATEGORIES[i % 3]}
        for i, p in enumerate(paths)
    ]
    _jsonl(run / "preprocess" / "images.jsonl", images)
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
            "flags": [{"check": "ungrounded", "flag": "answer_not_in_ocr", "reason": "x"}]
            if n in (1, 2, 3)
            else [],
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
    (model / "adapter").mkdir(parents=True)
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
        "recipe": {"name": "demo", "hash": "0123456789abcdef0123"},
        "versions": {"vlkd": "0.1.0", "python": "3.11.7"},
        "created": "2026-01-02T03:04:05+0000",
        "updated": "2026-01-02T03:10:00+0000",
        "stages": {
            "ingest": {"status": "done", "wall_time_s": 0.4, "counts": {"ok": 6}},
            "preprocess": {"status": "done", "wall_time_s": 1.1, "counts": {"ok": 6}},
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
            "verify": {
                "status": "done",
                "facts": {
                    "per_category": {
                        "manual_parsing": {
                            "pairs": 10,
                            "negatives": 2,
                            "negative_share": 0.2,
                            "flagged": 1,
                            "ungrounded": 1,
                        }
                    }
                },
            },
            "review": {"status": "done"},
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
    page = read_html(path.read_text(encoding="utf-8"))
    for rows in page.tables.values():  # "+36.7&nbsp;pp" keeps number and unit on one line
        rows[:] = [[c.replace("\xa0", " ") for c in row] for row in rows]
    return page


def test_headline_and_category_table_are_the_metrics_json_numbers(run_dir, tmp_path):
    files = build_report(run_dir, tmp_path / "out")
    metrics = json.loads((run_dir / "evaluate" / "metrics.json").read_text())
    html = _read_html(files.html)
    header, *rows = html.tables["headline"]
    assert header == ["Category", "Base", "Tuned", "Gain", "95% interval", "n"]
    assert [r[0] for r in rows] == [*(c.replace("_", " ") for c in sorted(CATEGORIES)), "Overall"]
    for row in rows:
        group = "" if row[0] == "Overall" else row[0].replace(" ", "_")
        part = {s: metrics["results"][s]["overall" if not group else "categories"] for s in ("base", "tuned")}
        cell = {s: (v if not group else v[group])["exact_match"] for s, v in part.items()}
        d = metrics["deltas"]["base->tuned"]
        d = (d["overall"] if not group else d["categories"][group])["exact_match"]
        assert row[1:4] == [
            _pct(cell["base"]["value"]),
            _pct(cell["tuned"]["value"]),
            f"{d['value'] * 100:+.1f} pp",
        ]
        assert row[4] == f"[{d['ci'][0] * 100:+.1f}, {d['ci'][1] * 100:+.1f}]"
        assert row[5] == str(cell["tuned"]["n"])
    text = files.html.read_text(encoding="utf-8")
    base = metrics["results"]["base"]["overall"]["exact_match"]["value"]
    tuned = metrics["results"]["tuned"]["overall"]["exact_match"]["value"]
    gain = metrics["deltas"]["base->tuned"]["overall"]["exact_match"]
    assert (
        f"The tuned student answers {tuned * 100:.1f}% of 30 test questions exactly right, against "
        f"{base * 100:.1f}% for the base student: {gain['value'] * 100:+.1f} points (95% interval "
        f"{gain['ci'][0] * 100:+.1f} to {gain['ci'][1] * 100:+.1f}"
    ) in text


def test_sections_come_in_the_order_a_reader_needs(run_dir, tmp_path):
    text = build_report(run_dir, tmp_path / "out").html.read_text(encoding="utf-8")
    order = [
        "headline",
        "by-category",
        "chart",
        "loss",
        "gains",
        "regressions",
        "not_present",
        "metrics",
        "teacher",
        "data",
        "checks",
        "method",
        "use",
        "run",
    ]
    positions = [text.index(f'<section id="{s}">') for s in order]
    assert positions == sorted(positions)
    # every metric once, each table once: no table repeats another
    html = _read_html(build_report(run_dir, tmp_path / "again").html)
    assert sorted(html.tables) == ["dataset", "headline", "metrics", "stages", "verify_categories"]
    assert [r[0] for r in html.tables["metrics"][1:]] == [
        m["label"] for m in json.loads((run_dir / "evaluate" / "metrics.json").read_text())["metrics"]
    ]


def test_report_is_self_contained_with_charts_and_images_that_open_full_size(run_dir, tmp_path):
    files = build_report(run_dir, tmp_path / "out", examples=3)
    text = files.html.read_text(encoding="utf-8")
    html = _read_html(files.html)
    assert all(link.startswith(("data:image/jpeg;base64,", "#")) for link in html.links)  # nothing to fetch
    assert "http://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in text
    assert text.count("<svg") == 2  # the per-category bars and the loss curve, inline
    thumbs = re.findall(r'<a href="#(img\d+)" title="open full size"><img src="(data:[^"]+)"', text)
    assert thumbs
    for anchor, thumb in thumbs:  # each thumbnail opens a larger copy of its image
        big = re.search(rf'<a class="lightbox" id="{anchor}" href="#_"><img src="(data:[^"]+)"', text)
        assert big and len(big.group(1)) > len(thumb)
    assert 1 <= text.count('class="card"') <= 9
    # the SVG charts are files beside report.md too
    assert {p.name for p in files.charts} == {"by_category.svg", "loss.svg"}
    md = files.markdown.read_text(encoding="utf-8")
    assert "![training loss by step](loss.svg)" in md and "![exact match by category](by_category.svg)" in md


def test_no_machine_paths_in_the_report(run_dir, tmp_path):
    files = build_report(run_dir, tmp_path / "out")
    for text in (files.html.read_text(encoding="utf-8"), files.markdown.read_text(encoding="utf-8")):
        assert str(tmp_path) not in text and "/students/" not in text
    md = files.markdown.read_text(encoding="utf-8")
    assert "(../runs/demo/preprocess/images/" in md  # image links relative to report.md


def test_cost_data_flags_verification_run_and_serving_are_shown(run_dir, tmp_path):
    files = build_report(run_dir, tmp_path / "out")
    text = files.html.read_text(encoding="utf-8")
    html = _read_html(files.html)
    assert "6 requests to the teacher (ocr), 2 answered from the cache." in text
    assert "12,345 input and 678 output tokens." in text and "Cost: $0.0421; time: 12.5 s." in text
    dataset = {r[0]: r for r in html.tables["dataset"][1:]}
    assert dataset["All"][1:5] == ["6", "30", "6 (20%)", "3"]  # images, pairs, not present (share), flagged
    assert dataset["All"][5:] == ["15", "0", "15"]
    assert html.tables["verify_categories"][1] == ["manual_parsing", "10", "20.0%", "10.0%", "1"]
    assert "flags" not in html.tables  # the checks section shows them per category: not twice
    assert "Recipe <strong>demo</strong> (hash <code>0123456789ab</code>)" in text
    assert "Started 2026-01-02 03:04 UTC; last updated 2026-01-02 03:10 UTC." in text and "vlkd 0.1.0" in text
    assert (
        "vllm serve BASE_MODEL_DIR --enable-lora --lora-modules tuned=runs/demo/train/model/adapter" in text
    )
    assert "ANLS (DocVQA script)" in text and "official DocVQA evaluation script" in text
    assert "the seed" not in text.lower()


def test_an_adapter_that_trains_the_lm_head_is_served_merged(run_dir, tmp_path):
    # vLLM 0.32 stops loading an adapter with modules_to_save: [lm_head] (the demo's), so the
    # report does not show the --enable-lora command for it
    config = {"peft_type": "LORA", "r": 16, "modules_to_save": ["lm_head"]}
    (run_dir / "train/model/adapter/adapter_config.json").write_text(json.dumps(config))
    card = run_dir / "train/model/vlkd_model.json"
    limits = {"family": "qwen2_vl", "image_min_pixels": 1024, "image_max_pixels": 16384}
    card.write_text(json.dumps({**json.loads(card.read_text()), **limits}))
    text = build_report(run_dir, tmp_path / "out").markdown.read_text(encoding="utf-8")
    assert "--enable-lora" not in text
    assert "vlkd export runs/demo merged-model --merged" in text
    # with the training's pixel limits: vLLM's processor uses the model's own otherwise
    assert (
        "vllm serve merged-model --served-model-name tuned "
        """--mm-processor-kwargs '{"min_pixels": 1024, "max_pixels": 16384}'"""
    ) in text
    assert "it trains lm_head whole (modules_to_save)" in text


def test_a_teacher_only_run_gets_a_report_of_its_data(run_dir, tmp_path):
    import shutil

    shutil.rmtree(run_dir / "evaluate")
    shutil.rmtree(run_dir / "train")
    manifest = json.loads((run_dir / "manifest.json").read_text())
    del manifest["stages"]["verify"]  # no verify facts: the flags come from the pairs themselves
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    files = build_report(run_dir, tmp_path / "out")
    assert not files.evaluated
    text = html_module.unescape(files.html.read_text(encoding="utf-8"))
    html = _read_html(files.html)
    assert "This run made 30 question/answer pairs about 6 images (6 of them 'not present' questions)" in text
    assert "headline" not in html.tables and "metrics" not in html.tables
    for gone in ('id="by-category"', 'id="gains"', 'id="method"', 'id="use"', "<svg"):
        assert gone not in text
    assert "dataset" in html.tables and 'id="teacher"' in text
    assert html.tables["flags"][1] == ["ungrounded", "answer_not_in_ocr", "3"]
    cards = text.count('class="card"')
    assert 3 <= cards <= 6  # a few pairs of each of the 3 categories, with their images
    assert text.count("open full size") == cards


def test_a_missing_judge_metric_says_why(run_dir, tmp_path):
    path = run_dir / "evaluate" / "metrics.json"
    metrics = json.loads(path.read_text())
    metrics["metrics"].append(
        {
            "name": "judge_accuracy",
            "label": "LLM judge accuracy",
            "missing": "none of the judge's 4 verdicts could be read",
        }
    )
    path.write_text(json.dumps(metrics))
    html = _read_html(build_report(run_dir, tmp_path / "out").html)
    judge = next(r for r in html.tables["metrics"] if r[0] == "LLM judge accuracy")
    assert judge[1:3] == ["missing", "missing"]


def test_not_a_run_directory_is_an_error(tmp_path):
    with pytest.raises(StageError, match="not a vlkd run directory"):
        build_report(tmp_path, tmp_path / "out")


def test_vlkd_report_writes_into_the_report_folder_and_says_so_once(run_dir, capsys):
    from vlkd.cli import main

    main(["report", str(run_dir)])
    out = run_dir / "report"
    assert (out / "report.html").exists() and (out / "report.md").exists()
    assert not (out / "report").exists()  # not nested
    said = capsys.readouterr().err
    assert said.count("report.html") == 1
    with pytest.raises(SystemExit) as exc:
        main(["report", str(run_dir / "nope")])
    assert exc.value.code == 2
    assert "no such run directory" in capsys.readouterr().err


def test_regenerating_loads_no_model_library(run_dir, tmp_path):
    import subprocess

    code = (
        "import sys; from pathlib import Path; from vlkd.plugins.report.html_report import build_report; "
        f"build_report(Path({str(run_dir)!r}), Path({str(tmp_path / 'out')!r})); "
        "print(sorted(m for m in ('torch', 'transformers', 'peft', 'matplotlib') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
    assert (tmp_path / "out" / "report.html").exists()


def test_text_from_the_data_cannot_inject_markup(run_dir, tmp_path):
    path = run_dir / "evaluate" / "predictions.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    for r in rows:
        r["question"] = '<script>alert("q")</script>'
        r["prediction"] = r["prediction"] + "<img src=x onerror=alert(1)>"
        r["category"] = "<b>cat</b>"
    _jsonl(path, rows)
    metrics = json.loads((run_dir / "evaluate" / "metrics.json").read_text())
    metrics["categories"] = ["<b>cat</b>"]
    metrics["results"]["base"]["categories"] = {"<b>cat</b>": metrics["results"]["base"]["overall"]}
    (run_dir / "evaluate" / "metrics.json").write_text(json.dumps(metrics))
    text = build_report(run_dir, tmp_path / "out").html.read_text(encoding="utf-8")
    assert "<script>" not in text and "<img src=x" not in text and "<b>cat</b>" not in text
    assert "&lt;script&gt;" in text


def test_the_report_says_what_each_figure_rests_on_and_flags_one_answer_to_everything(run_dir, tmp_path):
    preds_path = run_dir / "evaluate" / "predictions.jsonl"
    preds = [json.loads(line) for line in preds_path.read_text(encoding="utf-8").splitlines()]
    for p in preds:  # on part recognition the tuned student answers "1" to every question
        if p["system"] == "tuned" and p["category"] == "part_recognition":
            p["prediction"] = "1"
    _jsonl(preds_path, preds)
    pairs_path = run_dir / "split" / "pairs.jsonl"
    pairs = [json.loads(line) for line in pairs_path.read_text(encoding="utf-8").splitlines()]
    for p in pairs:  # experts wrote the fault diagnosis references
        if p["category"] == "fault_diagnosis":
            p["provenance"] = {"plugin": "review", "model": "expert"}
    _jsonl(pairs_path, pairs)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    manifest["stages"]["review"]["facts"] = {"auto_approved": 20}
    (run_dir / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    text = build_report(run_dir, tmp_path / "out").html.read_text(encoding="utf-8")
    assert (
        text.index('<section id="headline">')
        < text.index('<section id="basis">')
        < text.index('<section id="by-category">')
    )
    basis = html_module.unescape(text.split('<section id="basis">', 1)[1].split("</section>", 1)[0])
    n = sum(p["system"] == "tuned" and p["category"] == "part_recognition" for p in preds)
    assert f"The tuned student answers '1' to {n} of {n} questions" in basis
    assert (
        "fault diagnosis: tuned" in basis
        and f"{n} of {n} references written or corrected by experts" in basis
    )
    assert "manual parsing: tuned" in basis and "references are the teacher's answers (auto-approved" in basis
    assert basis.count("answers '") == 1  # the other categories give varied answers
    md = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    assert f"answers '1' to {n} of {n} questions" in md

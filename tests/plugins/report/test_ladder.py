"""The report's distillation ladder, from real small runs: SFT on the teacher's text, then logit KD
from the SFT run's student, each a recipe run through the engine (ingest -> teach (annotations) ->
split -> format -> train (peft, the tiny student, a few steps) -> evaluate (transformers) -> report).

The figures are whatever the tiny runs scored; the test checks that the ladder shows *those*
figures (each rung's exact match equals its own metrics.json, the interval is the paired one
against SFT on the same questions), its cost, and that a compared run with other test items or no
evaluation is a one-line error naming what differs.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
import yaml

from vlkd.testing import read_html
from vlkd.testing.fake_run import run_cli

pytest.importorskip("peft")
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

QUESTIONS = (("零件名称？", "零件{i}"), ("拧紧力矩？", "{n} N·m"), ("机油容量？", "不存在"))


def _recipe(root: Path, name: str, student: Path, images: Path, pairs: Path, **extra) -> Path:
    data = {
        "name": name,
        "student": {
            "model": str(student),
            "image_min_pixels": 3136,
            "image_max_pixels": 12544,
            "cutoff_len": 256,
        },
        "ingest": {"plugin": "files", "manifest": [str(images / "manifest.csv")]},
        "teach": {"plugin": "annotations", "path": str(pairs)},
        "split": {"plugin": "by_image", "train": 0.5, "val": 0.0, "test": 0.5, "seed": 3},
        "format": {"plugin": "llamafactory"},
        "train": {
            "plugin": "peft",
            "max_steps": 3,
            "per_device_train_batch_size": 4,
            "gradient_accumulation_steps": 1,
            "gradient_checkpointing": False,
            "learning_rate": 3e-3,
            "logging_steps": 1,
            "save_steps": 1000,
            "report_to": [],
            "lora_rank": 4,
        },
        "evaluate": {"plugin": "student", "max_new_tokens": 6, "batch_size": 8, "bootstrap_samples": 200},
        "report": {"plugin": "html"},
    }
    for key, value in extra.items():
        stage, _, option = key.partition("__")
        data[stage] = {**data[stage], option: value} if option else value
    path = root / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _run(recipe: Path, run_dir: Path):
    from vlkd.core.engine import Engine
    from vlkd.core.progress import Reporter
    from vlkd.core.recipe import build_recipe
    from vlkd.core.recipe_source import load_recipe_source
    from vlkd.core.registry import load_registry

    built = build_recipe(load_recipe_source(recipe, ()), load_registry(autoload=False))
    manifest = Engine(built, run_dir, reporter=Reporter(quiet=True)).run()
    assert manifest["status"] == "done", manifest
    return manifest


@pytest.fixture(scope="module")
def ladder(tmp_path_factory, vlkd_tiny_student):
    from PIL import Image, ImageDraw

    root = tmp_path_factory.mktemp("ladder")
    images = root / "images"
    images.mkdir()
    with (
        (root / "pairs.csv").open("w", newline="", encoding="utf-8") as fh,
        (images / "manifest.csv").open("w", newline="", encoding="utf-8") as mf,
    ):
        writer, manifest = csv.writer(fh), csv.writer(mf)
        writer.writerow(["image", "question", "answer"])
        manifest.writerow(["path", "category"])
        for i in range(12):
            image = Image.new("RGB", (112, 84), ((i * 53) % 256, (i * 97) % 256, 120))
            ImageDraw.Draw(image).rectangle([4, 4, 20 + 6 * i, 40], outline=(255, 255, 255), width=3)
            image.save(images / f"page_{i:02d}.png")
            manifest.writerow([f"page_{i:02d}.png", "part_recognition" if i % 2 else "manual_parsing"])
            for q, a in QUESTIONS:
                writer.writerow([f"page_{i:02d}.png", q, a.format(i=i, n=20 + i)])
    student = vlkd_tiny_student("qwen2_vl")
    runs = root / "runs"
    sft = _run(_recipe(root, "sft", student, images, root / "pairs.csv"), runs / "sft")
    kd_recipe = _recipe(
        root,
        "kd",
        student,
        images,
        root / "pairs.csv",
        train__distill={"method": "logit_kd", "teacher": str(runs / "sft" / "train" / "model"), "top_k": 5},
        report__ladder=[str(runs / "sft")],
    )
    kd = _run(kd_recipe, runs / "kd")
    return root, runs, sft, kd


def _exact(run: Path, system: str, category: str = "") -> str:
    metrics = json.loads((run / "evaluate" / "metrics.json").read_text())
    part = metrics["results"][system]
    value = (part["categories"][category] if category else part["overall"])["exact_match"]["value"]
    return f"{value * 100:.1f}%"


def test_the_report_shows_each_rung_per_category_with_its_interval_and_cost(ladder):
    _, runs, _, kd = ladder
    page = read_html((runs / "kd" / "report" / "report.html").read_text(encoding="utf-8"))
    header, *rows = page.tables["ladder"]
    assert header[:4] == ["Category", "Rung", "Run", "Exact match"]
    blocks, current = {}, None
    for row in rows:
        current = row[0] or current
        blocks.setdefault(current, []).append(row)
    assert list(blocks) == ["manual parsing", "part recognition", "Overall"]
    for label, category in (
        ("manual parsing", "manual_parsing"),
        ("part recognition", "part_recognition"),
        ("Overall", ""),
    ):
        rungs = {r[1]: r for r in blocks[label]}
        assert list(rungs) == ["base student", "SFT", "+ logit KD"]
        assert rungs["base student"][3] == _exact(runs / "sft", "base", category)
        assert rungs["SFT"][3] == _exact(runs / "sft", "tuned", category)
        assert rungs["SFT"][4] == "reference"
        assert rungs["+ logit KD"][3] == _exact(runs / "kd", "tuned", category)
        assert (rungs["+ logit KD"][2], rungs["SFT"][2]) == ("runs/kd", "runs/sft")
        # the paired interval against SFT: a [low, high] in points around the shown gain
        low, high = (float(x) for x in rungs["+ logit KD"][5].strip("[]").split(","))
        gain = float(rungs["+ logit KD"][4].split()[0])
        assert low <= gain <= high
        n = {r[6] for r in blocks[label]}
        assert len(n) == 1  # every rung on the same questions
    cost = {r[0]: r for r in page.tables["ladder-cost"][1:]}
    facts = kd["stages"]["train"]["facts"]
    assert facts["teacher_samples_computed"] > 0 and facts["teacher_seconds"] > 0
    assert cost["+ logit KD"][3] == f"{facts['teacher_samples_computed']:,} run"
    assert cost["+ logit KD"][4].endswith("(cpu)")
    assert cost["+ logit KD"][5] == cost["SFT"][5] == "3"
    assert cost["SFT"][3] == "–"  # no logit teacher on that rung
    # the logit teacher is named as the SFT rung's student
    text = (runs / "kd" / "report" / "report.md").read_text(encoding="utf-8")
    assert "learnt the logits of" in text and "the SFT rung's student (runs/sft)" in text


def test_vlkd_report_takes_the_recipes_ladder_or_its_own(ladder, tmp_path, capsys):
    runs = ladder[1]
    code, out = run_cli(capsys, "report", str(runs / "kd"), "--out", str(tmp_path / "a"))
    assert code == 0, out
    assert read_html((tmp_path / "a" / "report.html").read_text(encoding="utf-8")).tables["ladder"]
    # from the SFT run's side, naming the KD run on the command line
    code, out = run_cli(
        capsys, "report", str(runs / "sft"), "--ladder", str(runs / "kd"), "--out", str(tmp_path / "b")
    )
    assert code == 0, out
    rows = read_html((tmp_path / "b" / "report.html").read_text(encoding="utf-8")).tables["ladder"]
    assert {r[1] for r in rows[1:]} == {"base student", "SFT", "+ logit KD"}
    # a report without a ladder has no such section
    code, out = run_cli(capsys, "report", str(runs / "sft"), "--out", str(tmp_path / "c"))
    assert code == 0 and "ladder" not in read_html((tmp_path / "c" / "report.html").read_text()).tables


def test_a_rung_on_other_test_items_is_an_error_naming_them(ladder, tmp_path, capsys):
    runs = ladder[1]
    other = tmp_path / "other"
    shutil.copytree(runs / "sft", other)
    predictions = other / "evaluate" / "predictions.jsonl"
    lines = predictions.read_text(encoding="utf-8").splitlines()
    dropped = json.loads(lines[0])
    predictions.write_text(
        "\n".join(x for x in lines if json.loads(x)["id"] != dropped["id"]) + "\n", encoding="utf-8"
    )
    code, out = run_cli(
        capsys, "report", str(runs / "kd"), "--ladder", str(other), "--out", str(tmp_path / "r")
    )
    assert code == 2
    assert "Traceback" not in out
    assert f"1 only in runs/kd: {dropped['id']} ({dropped['question']!r})" in out
    assert "same split" in out

    (other / "evaluate" / "metrics.json").unlink()
    code, out = run_cli(
        capsys, "report", str(runs / "kd"), "--ladder", str(other), "--out", str(tmp_path / "r")
    )
    assert code == 2 and "has no evaluate results (no metrics.json)" in out

    code, out = run_cli(capsys, "report", str(runs / "kd"), "--ladder", str(tmp_path / "nowhere"))
    assert code == 2 and "nowhere is not a vlkd run directory" in out

"""The example plugins (examples/plugins/: one of each kind) import only vlkd.api, and run together."""

from __future__ import annotations

import ast
import csv
import json
import os
from pathlib import Path

import yaml

from vlkd.testing.cli import run_vlkd
from vlkd.testing.fake_run import make_images

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "plugins"
MODULES = ("border_step", "filename_teacher", "answer_length_check", "csv_format", "lookup_trainer")


def test_each_kind_has_an_example_that_imports_only_vlkd_api():
    hooks = set()
    for name in MODULES:
        tree = ast.parse((EXAMPLES / f"{name}.py").read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("vlkd"):
                assert node.module == "vlkd.api", f"{name}.py imports {node.module}"
            if isinstance(node, ast.Import):
                assert not any(a.name.startswith("vlkd") for a in node.names), name
        hooks |= {f.name for f in tree.body if isinstance(f, ast.FunctionDef) and f.name.startswith("vlkd_")}
    assert hooks == {
        "vlkd_register_preprocessors",
        "vlkd_register_teachers",
        "vlkd_register_verifiers",
        "vlkd_register_formats",
        "vlkd_register_trainers",
    }


def test_the_example_plugins_run_a_recipe_together(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    make_images(folder, 3, size=(40, 30))
    recipe = yaml.safe_load((EXAMPLES / "recipe.yaml").read_text(encoding="utf-8"))
    recipe["ingest"]["inputs"] = str(folder)
    recipe["verify"][0]["max_chars"] = 3  # every file-name answer is longer: each pair flagged
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe), encoding="utf-8")
    run_dir = tmp_path / "run"
    env = {
        "PYTHONPATH": os.pathsep.join([str(EXAMPLES), os.environ.get("PYTHONPATH", "")]),
        "VLKD_PLUGINS": ",".join(MODULES),
        "VLKD_DISABLE_PLUGIN_AUTOLOAD": "1",
    }
    result = run_vlkd("run", str(path), "--run-dir", str(run_dir), **env)
    assert result.returncode == 0, result.stdout + result.stderr
    images = [json.loads(line) for line in (run_dir / "preprocess" / "images.jsonl").read_text().splitlines()]
    assert len(images) == 3 and all("border 4px" in i["notes"] for i in images)
    assert all((i["width"], i["height"]) == (48, 38) for i in images)  # 4 px on each side
    pairs = [json.loads(line) for line in (run_dir / "verify" / "pairs.jsonl").read_text().splitlines()]
    assert sorted(p["answer"] for p in pairs) == sorted(Path(i["sources"][0]["path"]).stem for i in images)
    assert all(f["flag"] == "too_long" for p in pairs for f in p["flags"]) and all(p["flags"] for p in pairs)
    dataset = run_dir / "format" / "dataset"
    card = json.loads((dataset / "vlkd_dataset.json").read_text())
    assert card["format"] == "csv" and card["pairs"] == 3
    rows = list(csv.DictReader((dataset / "train.csv").open(encoding="utf-8")))
    learnt = json.loads((run_dir / "train" / "model" / "answers.json").read_text())
    assert learnt == {rows[0]["question"]: rows[-1]["answer"]}  # one question, the last answer wins
    model = json.loads((run_dir / "train" / "model" / "vlkd_model.json").read_text())
    assert model["trainer"] == "lookup" and model["adapter"] == "answers.json"

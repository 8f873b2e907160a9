"""Every shipped recipe resolves (extends, ${env:..}) without a download, and a recipe for a real
model says so all the way down: its own student, tokenizer and limits, none inherited from the
demo's tiny student (recipes/examples/qwen2vl-7b-gpu.yaml once trained Qwen2-VL-7B with the
tiny tokenizer's dataset check at the demo's cutoff_len)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from vlkd.core.recipe import build_recipe
from vlkd.core.recipe_source import load_recipe_source
from vlkd.core.registry import load_registry
from vlkd.core.student import TINY_PREFIX

ROOT = Path(__file__).resolve().parents[2]
RECIPES = sorted((ROOT / "recipes").rglob("*.yaml"))
STUDENT_KEYS = ("model", "image_min_pixels", "image_max_pixels", "cutoff_len")


@pytest.fixture(scope="module")
def registry():
    return load_registry(autoload=False)


def resolve(path: Path, registry):
    return build_recipe(load_recipe_source(path, ()), registry)


@pytest.fixture(autouse=True)
def _keys(monkeypatch, tmp_path):
    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "VLLM_API_KEY"):
        monkeypatch.setenv(var, "unused")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "no-downloads"))


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_recipe_resolves_to_one_student(path, registry):
    recipe = resolve(path, registry)
    if any(step.info.cls.uses_student for stage in recipe.stages.values() for step in stage.steps):
        assert recipe.student is not None


def _real(recipe) -> bool:
    return recipe.student is not None and not recipe.student.model.startswith(TINY_PREFIX)


REAL = [p for p in RECIPES if "gpu" in p.stem or ("vllm" in p.stem and "evaluate" in p.stem)]


@pytest.mark.parametrize("path", REAL, ids=lambda p: p.name)
def test_a_real_model_recipe_names_nothing_tiny(path, registry):
    recipe = resolve(path, registry)
    assert _real(recipe), f"{path.name} trains {recipe.student.model}"
    resolved = json.dumps(recipe.resolved())
    assert "tiny" not in resolved.lower(), f"{path.name} still names a tiny student or tokenizer"
    # each of the student's keys is written where this model is named, not inherited from a
    # recipe made for another student (the demo's cutoff_len 1024 for the tiny one)
    for key in STUDENT_KEYS:
        where = recipe.source.where(("student", key))
        assert where.line, f"{path.name}: student.{key} is not set (a default is a guess for a real model)"
        data = yaml.safe_load(Path(where.file).read_text(encoding="utf-8"))
        assert data["student"]["model"] == recipe.student.model, (
            f"{path.name}: student.{key} comes from {where.file}, written for {data['student']['model']}"
        )


def test_the_real_examples_cover_the_families_that_matter(registry):
    families = {resolve(p, registry).student.family.name for p in REAL}
    assert {"qwen2_vl", "qwen2_5_vl", "qwen3_vl"} <= families


def test_the_old_bug_is_caught(tmp_path, registry):
    """A GPU recipe that extends the demo and sets only the model inherits the tiny limits."""
    (tmp_path / "gpu.yaml").write_text(
        f"extends: {ROOT / 'recipes' / 'demo.yaml'}\nname: bad-gpu\ndescription: Qwen2-VL-7B on a GPU\n"
        "student:\n  model: Qwen/Qwen2-VL-7B-Instruct\n",
        encoding="utf-8",
    )
    with pytest.raises(AssertionError, match=r"student.image_min_pixels comes from .*demo.yaml"):
        test_a_real_model_recipe_names_nothing_tiny(tmp_path / "gpu.yaml", registry)


def test_the_demo_recipe_comments_tell_the_truth():
    """The demo's comments are what a new user reads first: its seed, its counts, its paths."""
    import csv
    import re

    demo = ROOT / "recipes" / "demo.yaml"
    text = demo.read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    comments = "\n".join(line.split("#", 1)[1] for line in text.splitlines() if "#" in line)
    seeds = {int(n) for n in re.findall(r"\bseed (\d+)", comments)}
    assert seeds <= {data["split"]["seed"]}, seeds
    with (demo.parent / "data/demo/warning_lights/manifest.csv").open(encoding="utf-8") as fh:
        photos = len(list(csv.DictReader(fh)))
    assert {int(n) for n in re.findall(r"\b(\d+) (?:small )?photos", comments)} == {photos}
    for path in re.findall(r"\b(data/demo/[\w./-]+\w)", comments):
        assert (demo.parent / path).exists(), path
    # the report stage writes into its own directory: runs/NAME/report/report.html
    for path in re.findall(r"([\w/]*report\.html)", comments):
        assert path == f"runs/{data['name']}/report/report.html", path

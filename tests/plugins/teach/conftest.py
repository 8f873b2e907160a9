"""Fixtures for teacher tests: a fake OpenAI/Anthropic server on 127.0.0.1 and small image sets."""

from __future__ import annotations

from pathlib import Path

import pytest

from vlkd.testing.fake_provider import FakeProvider
from vlkd.testing.teach import make_images, recipe_yaml, teach_registry


@pytest.fixture
def provider():
    with FakeProvider() as server:
        yield server


@pytest.fixture
def images(tmp_path):
    """Factory: images(n) -> the folder holding n images."""

    def make(n: int = 6, name: str = "images") -> Path:
        folder = tmp_path / name
        make_images(folder, n)
        return folder

    return make


@pytest.fixture
def run_teach(tmp_path):
    """run_teach(folder, teach_section, **engine_kwargs) -> (manifest, run_dir). Raises what the run raises."""
    from vlkd.core.engine import Engine
    from vlkd.core.progress import Reporter
    from vlkd.core.recipe import load_recipe

    def run(folder: Path, teach: dict, *, run_dir: Path | None = None, overrides=(), **kwargs):
        path = tmp_path / "recipe.yaml"
        path.write_text(recipe_yaml(folder, teach), encoding="utf-8")
        recipe = load_recipe(path, list(overrides), registry=teach_registry())
        rd = run_dir or tmp_path / "run"
        engine = Engine(recipe, rd, reporter=Reporter(quiet=True), **kwargs)
        return engine.run(), rd

    return run

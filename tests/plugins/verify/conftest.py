"""Fixtures for verify tests: pages with known text, pairs about them, a recipe runner."""

from __future__ import annotations

from pathlib import Path

import pytest

from vlkd.testing.verify import make_page, run_recipe, write_pairs

__all__ = ["make_page", "run_recipe", "write_pairs"]


@pytest.fixture
def run(tmp_path):
    """run(sections, run_dir=None, **engine_kwargs) -> (manifest, run_dir)."""

    def go(sections: dict, run_dir: Path | None = None, **kwargs):
        return run_recipe(tmp_path, sections, run_dir=run_dir, **kwargs)

    return go

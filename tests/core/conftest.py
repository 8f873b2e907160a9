from pathlib import Path

import pytest

from vlkd.testing import fixture_plugins


@pytest.fixture
def registry(vlkd_registry):
    """Built-ins plus the core test plugins."""
    return vlkd_registry(fixture_plugins)


@pytest.fixture
def write(tmp_path):
    """write("name.yaml", text) -> path, for recipe files."""

    def _write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    return _write

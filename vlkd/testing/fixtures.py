"""Pytest fixtures for plugin authors (``vlkd.testing`` is loaded through the ``pytest11`` entry point).

In a plugin's tests::

    def test_my_preprocessor(vlkd_registry, vlkd_images, vlkd_run_dir):
        registry = vlkd_registry(my_plugin_module)      # built-ins + your plugin, nothing else
        recipe = vlkd_recipe({"name": "t", "ingest": {...}}, registry)
        ...

Nothing here imports a heavy library.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml


@pytest.fixture
def vlkd_plugin_manager():
    """A fresh plugin manager with the built-ins and no autoloaded third-party plugins."""
    from vlkd.core.registry import get_plugin_manager

    return get_plugin_manager(autoload=False)


@pytest.fixture
def vlkd_registry() -> Callable[..., Any]:
    """Factory: ``vlkd_registry(*plugins, builtins=True)`` -> a Registry with those plugins added."""
    from vlkd.core.registry import Registry, get_plugin_manager

    def make(*plugins: object, builtins: bool = True):
        pm = get_plugin_manager(autoload=False, builtins=builtins)
        for plugin in plugins:
            pm.register(plugin)
        pm.check_pending()
        return Registry(pm)

    return make


@pytest.fixture(scope="session")
def vlkd_tiny_student(tmp_path_factory) -> Callable[[str], Path]:
    """Factory: ``vlkd_tiny_student("qwen2_vl")`` -> directory of that family's tiny random
    student, built offline once per test session (skips when transformers is missing)."""
    built: dict[str, Path] = {}

    def make(family: str = "qwen2_vl") -> Path:
        pytest.importorskip("transformers")
        if family not in built:
            from vlkd.core.registry import load_registry

            root = tmp_path_factory.mktemp("students")
            built[family] = (
                load_registry(autoload=False).families()[family].build_tiny(root / f"tiny-{family}")
            )
        return built[family]

    return make


@pytest.fixture
def vlkd_run_dir(tmp_path: Path) -> Path:
    """An empty directory for one run (not created: the engine creates it)."""
    return tmp_path / "run"


@pytest.fixture
def vlkd_recipe(tmp_path: Path) -> Callable[..., Any]:
    """Factory: ``vlkd_recipe(data_or_yaml_text, registry, overrides=())`` -> a validated Recipe.

    The recipe is written to ``tmp_path/recipe.yaml`` first, so errors carry line numbers.
    """
    from vlkd.core.recipe import build_recipe
    from vlkd.core.recipe_source import load_recipe_source

    def make(recipe: dict[str, Any] | str, registry: Any, overrides: tuple[str, ...] = ()):
        text = (
            recipe if isinstance(recipe, str) else yaml.safe_dump(recipe, allow_unicode=True, sort_keys=False)
        )
        path = tmp_path / "recipe.yaml"
        path.write_text(text, encoding="utf-8")
        return build_recipe(load_recipe_source(path, overrides), registry)

    return make


@pytest.fixture
def vlkd_images(tmp_path: Path) -> Callable[..., list[Path]]:
    """Factory: ``vlkd_images(n=3, size=(64, 48), fmt="PNG", folder=None)`` -> paths of tiny distinct images."""
    from PIL import Image, ImageDraw

    def make(
        n: int = 3,
        size: tuple[int, int] = (64, 48),
        fmt: str = "PNG",
        folder: Path | None = None,
        seed: int = 0,
    ) -> list[Path]:
        folder = folder or tmp_path / "images"
        folder.mkdir(parents=True, exist_ok=True)
        rng = random.Random(seed)
        ext = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp", "GIF": "gif"}.get(fmt.upper(), fmt.lower())
        paths = []
        for i in range(n):
            image = Image.new("RGB", size, tuple(rng.randrange(256) for _ in range(3)))
            draw = ImageDraw.Draw(image)
            draw.rectangle(
                [rng.randrange(size[0] // 2), rng.randrange(size[1] // 2), size[0] - 1, size[1] - 1],
                outline=(0, 0, 0),
                width=2,
            )
            draw.text((2, 2), str(i), fill=(255, 255, 255))
            path = folder / f"image_{i:03d}.{ext}"
            image.save(path, fmt.upper())
            paths.append(path)
        return paths

    return make


@pytest.fixture(scope="session")
def vlkd_ray_cluster():
    """A Ray cluster on 127.0.0.1 for the session: a head node and one worker node, one CPU each,
    a small object store; stopped (its own processes only) when the session ends. Skipped
    without the ``ray`` extra."""
    pytest.importorskip("ray", reason='needs pip install "vlkd[ray]"')
    from vlkd.testing.ray_cluster import local_ray_cluster

    with local_ray_cluster(workers=1, cpus_per_node=1) as cluster:
        yield cluster

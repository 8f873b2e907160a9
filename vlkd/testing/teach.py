"""Helpers for teach-stage tests: distinct images, a recipe with only ingest and teach, and
readers of what the stage wrote (pairs, ledger)."""

from __future__ import annotations

import json
from pathlib import Path


def make_images(folder: Path, n: int, size=(96, 64)) -> list[Path]:
    """``n`` distinct small PNG images (distinct bytes, so distinct ids)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        img = Image.new("RGB", size, (i * 37 % 256, i * 91 % 256, i * 13 % 256))
        img.putpixel((i % size[0], (i // size[0]) % size[1]), (255, 255, 255))
        path = folder / f"img_{i:03d}.png"
        img.save(path)
        paths.append(path)
    return paths


def teach_registry():
    """Only the plugins these tests use (ingest + teach), so that other stages' plugins do not matter."""
    import importlib

    from vlkd.core.registry import Registry, get_plugin_manager

    pm = get_plugin_manager(autoload=False, builtins=False)
    for name in ("vlkd.plugins.ingest", "vlkd.plugins.teach"):
        pm.register(importlib.import_module(name), name=name)
    return Registry(pm)


def recipe_yaml(folder: Path, teach: dict, name: str = "t") -> str:
    data = {"name": name, "ingest": {"plugin": "files", "inputs": str(folder), "workers": 1}, "teach": teach}
    return json.dumps(data, ensure_ascii=False)


def read_pairs(run_dir: Path) -> list[dict]:
    path = run_dir / "teach" / "pairs.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def ledger(run_dir: Path) -> list[dict]:
    path = run_dir / "teach" / "ledger.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def image_hashes(folder: Path) -> dict[str, str]:
    import hashlib

    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.png"))}


FAST = {"retry_initial_delay": 0.01, "retry_max_delay": 0.05}


def section(provider, plugin: str = "openai", **kw) -> dict:
    """A teach section pointing ``plugin`` (openai or anthropic) at the fake provider, with short retries."""
    if plugin == "anthropic":
        base = {"plugin": "anthropic", "model": "claude-sonnet-4-6", "base_url": provider.anthropic_url}
    else:
        base = {"plugin": "openai", "model": "gpt-4o", "base_url": provider.openai_url}
    return {**base, "api_key": provider.api_key, **FAST, **kw}

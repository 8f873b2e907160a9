"""Helpers for verify tests: pages with known text, pairs about them, a recipe runner."""

from __future__ import annotations

import csv
import json
from pathlib import Path


def make_page(path: Path, lines: list[str], size=(900, 0), font_size: int = 30) -> Path:
    """A white page with ``lines`` of black text (Pillow's own scalable font: no font needed)."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=font_size)
    height = size[1] or 60 + len(lines) * int(font_size * 1.8)
    image = Image.new("RGB", (size[0], height), "white")
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        draw.text((40, 30 + i * int(font_size * 1.8)), line, font=font, fill="black")
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


def write_pairs(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    """An annotations CSV (the seed's columns): (image file name, question, answer) rows."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["图像名称", "问题", "答案"])
        w.writerows(rows)
    return path


def registry():
    from vlkd.core.registry import Registry, get_plugin_manager

    return Registry(get_plugin_manager(autoload=False))


def run_recipe(tmp_path: Path, sections: dict, *, run_dir: Path | None = None, overrides=(), **kwargs):
    from vlkd.core.engine import Engine
    from vlkd.core.progress import Reporter
    from vlkd.core.recipe import load_recipe

    path = tmp_path / "recipe.yaml"
    path.write_text(json.dumps({"name": "v", **sections}, ensure_ascii=False), encoding="utf-8")
    recipe = load_recipe(path, list(overrides), registry=registry())
    rd = run_dir or tmp_path / "run"
    engine = Engine(recipe, rd, reporter=Reporter(quiet=True), **kwargs)
    return engine.run(), rd


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def pairs_of(run_dir: Path, stage: str = "verify") -> list[dict]:
    return read_jsonl(run_dir / stage / "pairs.jsonl")


def flags_of(pair: dict) -> set[str]:
    return {f["flag"] for f in pair.get("flags", ())}

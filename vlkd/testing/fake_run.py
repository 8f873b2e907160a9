"""A run directory whose ingest and teach stages are already done, for testing later stages.

``FakeRun`` writes ``ingest/images.jsonl`` and ``teach/pairs.jsonl`` itself and records both
stages as done in the manifest with the fingerprints the real engine computes, so that
``FakeRun.run()`` drives the real engine through review/split/format only.
Used by tests/plugins/{review,split,formats} and tests/commands.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
import yaml
from PIL import Image

from vlkd.core.engine import Engine
from vlkd.core.hookspecs import hookimpl
from vlkd.core.jsonl import write_jsonl_atomic
from vlkd.core.options import PluginOptions
from vlkd.core.plugin import StagePlugin
from vlkd.core.progress import Reporter
from vlkd.core.recipe import build_recipe
from vlkd.core.recipe_source import load_recipe_source
from vlkd.core.records import QARecord
from vlkd.core.registry import Registry, get_plugin_manager


class _Seeded(StagePlugin):
    """Never runs: its stage is seeded by FakeRun."""

    Options = PluginOptions

    def run(self, ctx):  # pragma: no cover - seeded stages are up to date
        raise AssertionError("seeded stage must not run")


class _FakePlugins:
    @hookimpl
    def vlkd_register_ingestors(self, register):
        register("seeded_images", _Seeded)

    @hookimpl
    def vlkd_register_teachers(self, register):
        register("seeded_pairs", _Seeded)


#: a student that is never downloaded in the tests (its family is told by its name)
DEFAULT_STUDENT = "Qwen/Qwen2-VL-2B-Instruct"

#: one instance, so the registry names it the same way in every recipe of the session
_FAKE_PLUGINS = _FakePlugins()


def registry() -> Registry:
    import vlkd.plugins.formats
    import vlkd.plugins.review
    import vlkd.plugins.split
    import vlkd.plugins.students

    pm = get_plugin_manager(autoload=False, builtins=False)
    for module in (
        vlkd.plugins.review,
        vlkd.plugins.split,
        vlkd.plugins.formats,
        vlkd.plugins.students,
        _FAKE_PLUGINS,
    ):
        pm.register(module)
    return Registry(pm)


def make_images(folder: Path, n: int, size: tuple[int, int] = (96, 64)) -> list[dict[str, Any]]:
    """n distinct PNG files and their ImageRecord dicts (ids = SHA-256 of the bytes)."""
    folder.mkdir(parents=True, exist_ok=True)
    records = []
    for i in range(n):
        path = folder / f"page_{i:03d}.png"
        Image.new("RGB", size, ((i * 37) % 256, (i * 91) % 256, (i * 13) % 256)).save(path)
        records.append(
            {
                "id": hashlib.sha256(path.read_bytes()).hexdigest(),
                "path": str(path),
                "width": size[0],
                "height": size[1],
                "sources": [{"path": str(path)}],
                "category": "part_recognition" if i % 2 else "manual_parsing",
            }
        )
    return records


def make_pairs(images: list[dict[str, Any]], per_image: int = 2) -> list[dict[str, Any]]:
    pairs = []
    for i, image in enumerate(images):
        for j in range(per_image):
            q = f"Question {j} about page {i}?"
            pairs.append(
                {
                    "id": QARecord.make_id(image["id"], q),
                    "image_id": image["id"],
                    "question": q,
                    "answer": f"Answer {j} for page {i}.",
                    "category": image["category"],
                    "negative": False,
                    "provenance": {"plugin": "seeded"},
                    "review": "pending",
                }
            )
    return pairs


class FakeRun:
    def __init__(
        self,
        tmp_path: Path,
        stages: dict[str, Any],
        images: list[dict[str, Any]],
        pairs: list[dict[str, Any]],
        name: str = "t",
    ):
        self.tmp_path = tmp_path
        tmp_path.mkdir(parents=True, exist_ok=True)
        self.run_dir = tmp_path / "run"
        self.recipe_path = tmp_path / "recipe.yaml"
        self.images = images
        self.pairs = pairs
        self.set_stages(stages, name)
        write_jsonl_atomic(self.run_dir / "ingest" / "images.jsonl", images)
        write_jsonl_atomic(self.run_dir / "teach" / "pairs.jsonl", pairs)
        engine = Engine(self.recipe, self.run_dir, reporter=Reporter(quiet=True))
        _, fingerprints = engine._instantiate()
        manifest = engine._new_manifest(None, fingerprints)
        for stage in ("ingest", "teach"):
            manifest["stages"][stage] = {"status": "done", "fingerprint": fingerprints[stage]}
        manifest["status"] = "done"
        engine.run_dir.write_manifest(manifest)

    def set_stages(self, stages: dict[str, Any], name: str = "t") -> None:
        """``stages`` may hold a ``student`` section; the student's keys written in the format
        stage (``cutoff_len``, pixel limits, ``tokenizer`` as the model) are moved into it. The
        default student is a hub id that is not downloaded: text tokens are estimated."""
        stages = dict(stages)
        student = dict(stages.pop("student", {"model": DEFAULT_STUDENT}))
        if "format" in stages:
            fmt = stages["format"] = dict(stages["format"])
            for key in ("cutoff_len", "image_min_pixels", "image_max_pixels"):
                if key in fmt:
                    student[key] = fmt.pop(key)
            if "tokenizer" in fmt:
                student["model"] = fmt.pop("tokenizer")
        data = {
            "name": name,
            "student": student,
            "ingest": {"plugin": "seeded_images"},
            "teach": {"plugin": "seeded_pairs"},
            **stages,
        }
        self.recipe_path.write_text(
            yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8"
        )
        self.recipe = build_recipe(load_recipe_source(self.recipe_path, ()), registry())

    def run(self, **kwargs: Any) -> dict[str, Any]:
        return Engine(self.recipe, self.run_dir, reporter=Reporter(quiet=True), **kwargs).run()


@pytest.fixture
def fake_run(tmp_path):
    """fake_run(stages, n_images=4, per_image=2) -> FakeRun with ingest/teach done."""

    def make(stages, n_images=4, per_image=2, size=(96, 64)):
        images = make_images(tmp_path / "images", n_images, size)
        return FakeRun(tmp_path, stages, images, make_pairs(images, per_image))

    return make


def run_cli(capsys, *argv: str) -> tuple[int, str]:
    """Run ``vlkd ARGV`` in-process as the console script does: (exit status, stdout + stderr)."""
    from vlkd.cli import main

    with pytest.raises(SystemExit) as exc:
        main(list(argv))
        raise SystemExit(0)
    out = capsys.readouterr()
    return int(exc.value.code or 0), out.out + out.err

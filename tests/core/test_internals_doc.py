"""docs/internals.md documents what every hook receives, and the hook docs name real objects."""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

from vlkd.core import hookspecs

ROOT = Path(__file__).resolve().parents[2]
INTERNALS = (ROOT / "docs" / "internals.md").read_text(encoding="utf-8")
HOOKS = {n: f for n, f in vars(hookspecs).items() if n.startswith("vlkd_") and inspect.isfunction(f)}


def test_every_hook_and_every_argument_it_receives_is_documented():
    table = INTERNALS.split("## What each hook receives", 1)[1].split("\n## ", 1)[0]
    rows = {line for line in table.splitlines() if line.startswith("| `vlkd_")}
    for name, spec in HOOKS.items():
        row = next((r for r in rows if f"`{name}`" in r), None)
        assert row is not None, f"docs/internals.md: no row for {name}"
        for arg in inspect.signature(spec).parameters:
            assert f"`{arg}`" in row, f"docs/internals.md: {name} receives {arg}, undocumented"


def test_every_object_a_hook_receives_has_its_section():
    for heading in ("## `register`", "## `app`", "## `RunInfo`", "## `StageContext`", "## Stage entry"):
        assert heading in INTERNALS


def test_the_run_end_statuses_are_the_ones_the_engine_sends():
    engine = (ROOT / "vlkd" / "core" / "engine.py").read_text(encoding="utf-8")
    sent = set(re.findall(r'\bstatus = "(\w+)"', engine))
    assert sent == {"done", "waiting", "interrupted", "failed"}
    for status in sent:
        assert f"``{status}``" in hookspecs.vlkd_run_end.__doc__
        assert f"`{status}`" in INTERNALS


def test_the_classes_hook_docs_name_exist_where_they_say():
    for name, spec in HOOKS.items():
        for dotted in re.findall(r"``(vlkd(?:\.\w+)+\.[A-Z]\w+)``", spec.__doc__ or ""):
            module, _, cls = dotted.rpartition(".")
            assert hasattr(importlib.import_module(module), cls), f"{name}: {dotted} does not exist"

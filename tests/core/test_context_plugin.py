"""``ctx.make_plugin(kind, options)``: another installed plugin, from the registry the run was validated with."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from vlkd.core.context import StageContext
from vlkd.core.errors import PluginError
from vlkd.core.registry import find_plugin, load_registry
from vlkd.core.stages import KINDS_BY_NAME


def _ctx(tmp_path, registry) -> StageContext:
    run = SimpleNamespace(recipe=SimpleNamespace(registry=registry, student=None, stages={}, name="t"))
    config = SimpleNamespace(kind=KINDS_BY_NAME["evaluate"], steps=[], settings=None)
    return StageContext(run, config, tmp_path)  # type: ignore[arg-type]


def test_a_stage_gets_another_plugin_from_the_runs_registry(tmp_path):
    registry = load_registry(autoload=False)
    teacher = _ctx(tmp_path, registry).make_plugin("teach", {"plugin": "openai", "model": "gpt-4o-mini"})
    assert type(teacher) is registry.get("teach", "openai").cls
    assert teacher.options.model == "gpt-4o-mini"
    same = _ctx(tmp_path, registry).make_plugin("teach", teacher.options)  # an options model as it is
    assert same.options is teacher.options


def test_an_unknown_plugin_says_what_is_installed(tmp_path):
    with pytest.raises(
        PluginError, match=r"unknown teacher plugin 'opnai' \(did you mean 'openai'\?\); installed: "
    ):
        _ctx(tmp_path, load_registry(autoload=False)).make_plugin("teach", {"plugin": "opnai"})
    with pytest.raises(PluginError, match="did you mean 'openai'"):
        find_plugin("teach", "opnai")

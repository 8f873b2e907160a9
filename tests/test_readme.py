"""The README's recipe snippets use real plugins and real options (docs that cannot drift)."""

import re
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from vlkd.core.registry import Registry, get_plugin_manager
from vlkd.core.stages import STAGE_NAMES

README = Path(__file__).resolve().parents[1] / "README.md"


def snippets():
    for block in re.findall(r"```yaml\n(.*?)```", README.read_text(encoding="utf-8"), re.S):
        data = yaml.safe_load(block)
        for stage, section in data.items():
            if stage not in STAGE_NAMES:
                continue
            steps = section["steps"] if isinstance(section, dict) and "steps" in section else section
            for step in steps if isinstance(steps, list) else [steps]:
                yield pytest.param(stage, step, id=f"{stage}-{step['plugin']}")


@pytest.mark.parametrize(("stage", "step"), list(snippets()))
def test_readme_snippet_is_a_valid_section(stage, step):
    registry = Registry(get_plugin_manager(autoload=False))
    options = registry.get(stage, step["plugin"]).cls.Options
    try:
        options.model_validate(step)
    except ValidationError as exc:
        # example paths (photos/, images.csv) need not exist here; anything else is a docs bug
        real = [e for e in exc.errors() if "no such file or directory" not in e["msg"]]
        assert not real, real

"""schemas/recipe.schema.json is generated from the plugins and must not go stale."""

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from vlkd.core.errors import RecipeError
from vlkd.core.registry import Registry, get_plugin_manager
from vlkd.core.schema import recipe_json_schema
from vlkd.testing.extras import skip_if_only_extras_missing

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "schemas" / "recipe.schema.json"


@pytest.fixture(scope="module")
def schema():
    return recipe_json_schema(Registry(get_plugin_manager(autoload=False)))


def test_committed_schema_is_up_to_date(schema):
    assert json.loads(COMMITTED.read_text()) == schema, (
        "schemas/recipe.schema.json is stale: regenerate it with "
        "VLKD_DISABLE_PLUGIN_AUTOLOAD=1 vlkd schema -o schemas/recipe.schema.json"
    )


def test_schema_covers_plugin_options(schema):
    text = json.dumps(schema)
    registry = Registry(get_plugin_manager(autoload=False))
    for info in registry.all():
        for field in info.cls.Options.model_fields:
            assert f'"{field}"' in text, (info.name, field)


@pytest.mark.parametrize("recipe", sorted((ROOT / "recipes").rglob("*.yaml")), ids=lambda p: p.name)
def test_shipped_recipes_start_with_the_schema_comment(recipe):
    first = recipe.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# yaml-language-server: $schema=")
    target = (recipe.parent / first.split("$schema=", 1)[1]).resolve()
    assert target == COMMITTED


def test_schema_accepts_demo_and_rejects_typos(schema):
    demo = yaml.safe_load((ROOT / "recipes" / "demo.yaml").read_text())
    jsonschema.validate(demo, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**demo, "teacher": {"plugin": "ocr"}}, schema)


@pytest.mark.parametrize("recipe", sorted((ROOT / "recipes").rglob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_recipe_validates_without_keys(recipe, schema, monkeypatch):
    from vlkd.core.recipe import load_recipe

    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "VLLM_API_KEY", "VLLM_BASE_URL", "HF_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    jsonschema.validate(yaml.safe_load(recipe.read_text(encoding="utf-8")), schema)
    try:
        loaded = load_recipe(recipe, registry=Registry(get_plugin_manager(autoload=False)))
    except RecipeError as exc:
        skip_if_only_extras_missing(str(exc))
        raise
    assert loaded.stages

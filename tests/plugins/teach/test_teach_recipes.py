"""The example teacher recipes validate without any key in the environment, and name their plugin."""

from pathlib import Path

import pytest

from vlkd.core.recipe import load_recipe

RECIPES = Path(__file__).resolve().parents[3] / "recipes"


@pytest.mark.parametrize(
    ("name", "plugin", "model"),
    [
        ("gpt4o", "openai", "gpt-4o"),
        ("claude", "anthropic", "claude-sonnet-4-6"),
        ("vllm", "openai", "Qwen/Qwen2-VL-72B-Instruct"),
    ],
)
def test_examples_validate_without_keys(monkeypatch, name, plugin, model):
    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "VLLM_API_KEY", "VLLM_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    recipe = load_recipe(RECIPES / "examples" / f"{name}.yaml")
    step = recipe.stages["teach"].steps[0]
    assert step.info.name == plugin and step.options.model == model
    assert step.options.api_key is None  # "${env:...,}" with the variable unset: the plugin's own lookup
    assert step.options.negative_ratio == 0.2 and step.options.prompt.language == "zh"  # from the base


def test_key_from_env_is_a_secret_and_not_in_the_resolved_recipe(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-live-should-never-leak-123")
    recipe = load_recipe(RECIPES / "examples" / "gpt4o.yaml")
    assert (
        recipe.stages["teach"].steps[0].options.api_key.get_secret_value() == "sk-live-should-never-leak-123"
    )
    assert "sk-live-should-never-leak-123" not in str(recipe.resolved())


def test_vllm_base_url_from_env(monkeypatch):
    monkeypatch.setenv("VLLM_BASE_URL", "http://gpu-box:30000/v1")
    recipe = load_recipe(RECIPES / "examples" / "vllm.yaml")
    assert recipe.stages["teach"].steps[0].options.base_url == "http://gpu-box:30000/v1"

"""Image-exact token estimates, the dry run that prints them, and ``image: student``."""

import io
import json

import pytest

from vlkd.plugins.teach.image_tokens import anthropic_image_tokens, openai_image_tokens
from vlkd.testing.fake_provider import IMAGE_SIZES
from vlkd.testing.teach import make_images, recipe_yaml, section, teach_registry


def test_openai_rules_match_the_documented_examples():
    assert openai_image_tokens(1024, 1024, "high") == (765, (768, 768))
    assert openai_image_tokens(2048, 4096, "high") == (1105, (768, 1536))
    assert openai_image_tokens(4000, 3000, "low") == (85, (512, 384))
    assert openai_image_tokens(500, 400, "auto") == (255, None)  # one tile, kept as it is
    assert openai_image_tokens(1024, 1024, model="gpt-4o-mini")[0] == 2833 + 4 * 5667
    # 32-px patches times a multiplier: 1024 patches; 1800x2400 is cut to 1056x1408 (1452 patches)
    assert openai_image_tokens(1024, 1024, model="gpt-4.1-mini") == (1659, None)
    assert openai_image_tokens(1800, 2400, model="gpt-4.1-mini") == (2353, (1056, 1408))


def test_anthropic_rule_scales_a_large_image_into_the_limits():
    tokens, size = anthropic_image_tokens(4000, 3000)
    assert size is not None and max(size) <= 1568 and tokens <= 1568


def dry_run(tmp_path, folder, teach):
    from rich.console import Console

    from vlkd.core.engine import Engine
    from vlkd.core.progress import Reporter
    from vlkd.core.recipe import load_recipe

    path = tmp_path / "recipe.yaml"
    path.write_text(recipe_yaml(folder, teach), encoding="utf-8")
    recipe = load_recipe(path, registry=teach_registry())
    quiet = Reporter(quiet=True)
    Engine(recipe, tmp_path / "run", to_stage="ingest", reporter=quiet).run()
    out = io.StringIO()
    reporter = Reporter(console=Console(file=out, width=300, highlight=False))
    Engine(recipe, tmp_path / "run", dry_run=True, reporter=reporter).run()
    return out.getvalue()


@pytest.mark.parametrize("mode", ["online", "batch"])
def test_dry_run_prints_per_image_tokens_downscaled_images_and_the_most_it_costs(tmp_path, provider, mode):
    folder = tmp_path / "img"
    make_images(folder, 2, size=(3000, 2000))
    make_images(tmp_path / "small", 1, size=(400, 300))
    (tmp_path / "small" / "img_000.png").rename(folder / "small.png")
    text = dry_run(tmp_path, folder, section(provider, mode=mode, detail="high", max_tokens=1000))
    assert "3 images: 0 done, 0 cached, 3 calls to make" in text
    assert "img_000.png: 3000×2000, ~" in text and "(1,105 image), ≤ 1,000 out" in text
    assert "small.png: 400×300" in text and "(255 image)" in text
    assert "the provider will scale down 2 images" in text and "3000×2000 → 1152×768" in text
    cost = float(text.split("cost: ≤ $", 1)[1].split(" ", 1)[0])
    tokens_in = int(text.split("tokens: ~", 1)[1].split(" ", 1)[0].replace(",", ""))
    half = 0.5 if mode == "batch" else 1.0
    assert cost == pytest.approx(half * (tokens_in * 2.5 + 3000 * 10.0) / 1e6, abs=1e-4)
    assert ("batch price: half of list" in text) == (mode == "batch")


def test_image_student_sends_what_the_student_sees(provider, tmp_path, run_teach):
    folder = tmp_path / "img"
    make_images(folder, 1, size=(1400, 1000))
    _, rd = run_teach(folder, section(provider, image="student"))
    # LLaMA-Factory's default image_max_pixels (768*768) through Qwen2-VL's smart_resize
    (student,) = provider.requests
    assert IMAGE_SIZES[student] == (896, 644)
    # original: another image, another cache key, another request
    run_teach(folder, section(provider), run_dir=tmp_path / "run2")
    (original,) = set(provider.requests) - {student}
    assert IMAGE_SIZES[original] == (1400, 1000)
    assert sum(provider.requests.values()) == 2
    resolved = json.loads((rd / "manifest.json").read_text())["recipe"]["resolved"]["teach"]
    assert resolved["image"] == "student"


def test_image_student_follows_the_student_section(provider, tmp_path):
    from vlkd.core.engine import Engine
    from vlkd.core.progress import Reporter
    from vlkd.core.recipe import load_recipe
    from vlkd.core.registry import Registry, get_plugin_manager

    folder = tmp_path / "img"
    make_images(folder, 1, size=(1400, 1000))
    data = json.loads(recipe_yaml(folder, section(provider, image="student")))
    data["student"] = {"model": "tiny:qwen2_vl", "image_max_pixels": 256 * 256}
    path = tmp_path / "recipe.yaml"
    path.write_text(json.dumps(data), encoding="utf-8")
    recipe = load_recipe(path, registry=Registry(get_plugin_manager(autoload=False)))
    Engine(recipe, tmp_path / "run", reporter=Reporter(quiet=True)).run()
    (sent,) = provider.requests
    assert IMAGE_SIZES[sent] == recipe.student.family.resize(
        1400, 1000, recipe.student.image_min_pixels, 256 * 256
    )
    assert IMAGE_SIZES[sent][0] * IMAGE_SIZES[sent][1] <= 256 * 256


def test_a_dry_run_of_a_new_run_directory_estimates_from_the_inputs(tmp_path, provider):
    """Nothing has run: the free stages run in a scratch directory, the teacher's images are
    counted at the size preprocessing gives them, named by their files; nothing is written."""
    from rich.console import Console

    from vlkd.core.engine import Engine
    from vlkd.core.progress import Reporter
    from vlkd.core.recipe import load_recipe
    from vlkd.core.registry import Registry, get_plugin_manager

    folder = tmp_path / "img"
    make_images(folder, 2, size=(3000, 2000))
    data = json.loads(recipe_yaml(folder, section(provider, detail="high", max_tokens=1000)))
    data["preprocess"] = [{"plugin": "resize", "max_side": 1024}]
    path = tmp_path / "recipe.yaml"
    path.write_text(json.dumps(data), encoding="utf-8")
    out = io.StringIO()
    reporter = Reporter(console=Console(file=out, width=300, highlight=False))
    registry = Registry(get_plugin_manager(autoload=False))
    Engine(load_recipe(path, registry=registry), tmp_path / "run", dry_run=True, reporter=reporter).run()
    text = out.getvalue()
    assert "2 images: 0 done, 0 cached, 2 calls to make" in text, text
    assert "img_000.png: 1024×683, ~" in text and "img_001.png: 1024×683" in text
    assert "cost: ≤ $" in text
    assert not (tmp_path / "run").exists() and not provider.requests

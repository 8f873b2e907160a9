"""Every example the providers' pages give for what an image costs, as of the day the rules were
checked (``image_tokens.CHECKED``). When a page changes, the test that fails names the example.

OpenAI: platform.openai.com/docs/guides/images-vision, "Calculating costs", and the billing
OpenAI reports for sizes where rounding matters. Anthropic: platform.claude.com/docs/en/
build-with-claude/vision, "Evaluate image size"."""

import pytest

from vlkd.plugins.teach import image_tokens as rules
from vlkd.plugins.teach.image_tokens import anthropic_image_tokens, openai_image_tokens


def test_the_rules_say_when_they_were_checked_and_where():
    assert rules.CHECKED == "2026-12-07"
    assert all(limit.checked == rules.CHECKED for limit in rules.ANTHROPIC_LIMITS.values())
    assert rules.OPENAI_SOURCE.startswith("https://platform.openai.com/")
    assert rules.ANTHROPIC_SOURCE.startswith("https://platform.claude.com/")


# -- Anthropic: ⌈w/28⌉·⌈h/28⌉ visual tokens ---------------------------------------------------
@pytest.mark.parametrize(
    ("size", "tokens"),
    [
        # the largest size per aspect ratio that is not resized (the page's table)
        ((1092, 1092), 39 * 39),
        ((951, 1268), 34 * 46),
        ((896, 1344), 32 * 48),
        ((819, 1456), 30 * 52),
        ((784, 1568), 28 * 56),
        # the page's costed examples
        ((200, 200), 64),
        ((1000, 1000), 1296),
    ],
)
def test_anthropic_documented_sizes_are_kept_and_cost_their_patches(size, tokens):
    assert anthropic_image_tokens(*size) == (tokens, None)
    assert anthropic_image_tokens(*size, model="claude-haiku-4-5") == (tokens, None)


def test_anthropic_resizes_beyond_a_models_limits_and_newer_models_take_larger_images():
    # 1,568 px and 1,568 visual tokens for most models
    tokens, size = anthropic_image_tokens(1568, 1568)
    assert size is not None and tokens <= 1568 and max(size) < 1568
    tokens, size = anthropic_image_tokens(785, 1569)  # one pixel over the long edge
    assert size is not None and max(size) <= 1568
    # Claude Opus 4.7: 2,576 px and 4,784 visual tokens
    assert anthropic_image_tokens(1568, 1568, model="claude-opus-4-7") == (56 * 56, None)
    assert anthropic_image_tokens(2576, 1288, model="claude-opus-4-7") == (92 * 46, None)
    assert anthropic_image_tokens(2576, 1932, model="claude-opus-4-7")[1] is not None  # 92*69 > 4784
    tokens, size = anthropic_image_tokens(4000, 3000, model="claude-opus-4-7-20260101")
    assert size is not None and max(size) <= 2576 and 4500 < tokens <= 4784
    # the resize keeps the aspect ratio and is the largest that fits
    w, h = size
    assert abs(w / h - 4 / 3) < 0.01
    assert rules.claude_visual_tokens(w + 1, round((w + 1) * 3 / 4)) > 4784 or w + 1 > 2576


# -- OpenAI: tiles and patches ---------------------------------------------------------------
def test_openai_documented_examples():
    assert openai_image_tokens(1024, 1024, "high") == (765, (768, 768))
    assert openai_image_tokens(2048, 4096, "high") == (1105, (768, 1536))
    assert openai_image_tokens(4096, 8192, "low")[0] == 85
    # patch models: 1024 patches; 1800x2400 is cut to 1056x1408 (1452 patches)
    assert openai_image_tokens(1024, 1024, model="gpt-4.1-mini") == (math_ceil(1024 * 1.62), None)
    assert openai_image_tokens(1800, 2400, model="gpt-4.1-mini") == (math_ceil(1452 * 1.62), (1056, 1408))


def test_openai_rounds_a_scaled_side_to_the_nearest_pixel():
    # OpenAI bills 2049x513 as two rows of tiles (scaled to 2048x513) and 2050x513 as one (2048x512)
    assert openai_image_tokens(2049, 513, "high") == (85 + 8 * 170, (2048, 513))
    assert openai_image_tokens(2050, 513, "high") == (85 + 4 * 170, (2048, 512))


def math_ceil(x: float) -> int:
    import math

    return math.ceil(x)

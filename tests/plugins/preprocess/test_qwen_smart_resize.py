"""qwen_smart_resize gives the sizes and token counts of transformers' own Qwen2-VL processor."""

from __future__ import annotations

import pytest
from PIL import Image

from vlkd.core.errors import SkipItem
from vlkd.core.records import ImageRecord
from vlkd.images.qwen import smart_resize
from vlkd.plugins.preprocess.qwen_smart_resize import QwenSmartResize, QwenSmartResizeOptions
from vlkd.testing import images as tf

SIZES = [
    (4000, 3000),
    (1500, 2000),
    (1000, 560),
    (640, 480),
    (1275, 1651),
    (50, 50),
    (20, 10),
    (13, 13),
    (30, 900),
    (2000, 12),
    (1023, 767),
    (99, 1001),
    (56, 56),
    (5000, 27),
]
SETTINGS = [(56 * 56, 28 * 28 * 1280), (32 * 32, 768 * 768), (3136, 589824), (128 * 28 * 28, 256 * 28 * 28)]


@pytest.fixture(scope="module")
def processor_cls():
    pytest.importorskip("torchvision")
    transformers = pytest.importorskip("transformers")
    return transformers.Qwen2VLImageProcessor


@pytest.mark.parametrize(("min_pixels", "max_pixels"), SETTINGS)
def test_grid_matches_real_processor(processor_cls, min_pixels, max_pixels):
    processor = processor_cls(min_pixels=min_pixels, max_pixels=max_pixels)
    step = QwenSmartResize(
        QwenSmartResizeOptions(plugin="qwen_smart_resize", min_pixels=min_pixels, max_pixels=max_pixels)
    )
    for w, h in SIZES:
        image = tf._picture((w, h))
        rec = ImageRecord(id="x", path="x.png", width=w, height=h)
        out = step.apply(image, rec)
        expected = processor(images=[image], return_tensors="np")["image_grid_thw"][0].tolist()
        assert [1, out.height // 14, out.width // 14] == expected, (w, h)
        assert rec.visual_tokens == expected[1] * expected[2] // 4, (w, h)
        # the processor leaves our output as it is: same grid, so the tokens are exact
        again = processor(images=[out], return_tensors="np")["image_grid_thw"][0].tolist()
        assert again == expected, (w, h)


def test_defaults_are_the_processors(processor_cls):
    import inspect

    from transformers.models.qwen2_vl import image_processing_qwen2_vl

    # (not processor_cls().size: constructing a processor with min/max_pixels rewrites the
    # class-level default dict in transformers 5.6, so it depends on the tests run before)
    defaults = inspect.signature(image_processing_qwen2_vl.smart_resize).parameters
    options = QwenSmartResizeOptions(plugin="qwen_smart_resize")
    assert options.min_pixels == defaults["min_pixels"].default == 56 * 56
    assert options.max_pixels == defaults["max_pixels"].default == 28 * 28 * 1280


def test_aspect_ratio_over_200_is_skipped_with_reason():
    step = QwenSmartResize(QwenSmartResizeOptions(plugin="qwen_smart_resize"))
    image = Image.new("RGB", (4020, 20))
    with pytest.raises(SkipItem) as skipped:
        step.apply(image, ImageRecord(id="x", path="/data/strip.png", width=4020, height=20))
    assert skipped.value.reason == (
        "aspect ratio too extreme: /data/strip.png: 4020x20: aspect ratio 201.0 "
        "is over Qwen2-VL's limit of 200"
    )


def test_min_above_max_is_an_option_error():
    with pytest.raises(ValueError, match=r"min_pixels \(2000\) must not exceed max_pixels \(1000\)"):
        QwenSmartResizeOptions(plugin="qwen_smart_resize", min_pixels=2000, max_pixels=1000)


def test_sides_are_multiples_of_28_within_limits():
    for w, h in SIZES:
        new_h, new_w = smart_resize(h, w, min_pixels=3136, max_pixels=589824)
        assert new_h % 28 == 0 and new_w % 28 == 0
        assert new_h * new_w <= 589824

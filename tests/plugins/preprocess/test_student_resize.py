"""student_resize gives the sizes and token counts of each family's own processor."""

from __future__ import annotations

import re

import pytest
from PIL import Image

from vlkd.core.errors import SkipItem
from vlkd.core.records import ImageRecord
from vlkd.core.student import make_student
from vlkd.plugins.preprocess.student_resize import StudentResize, StudentResizeOptions
from vlkd.students.family import smart_resize
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
#: the families whose processor resizes by the smart_resize rule
SMART_RESIZE_FAMILIES = ["qwen2_vl"]


def step_for(family: str, min_pixels: int | None = None, max_pixels: int | None = None) -> StudentResize:
    section = {"model": f"tiny:{family}", "image_min_pixels": min_pixels, "image_max_pixels": max_pixels}
    student = make_student({k: v for k, v in section.items() if v is not None})
    return StudentResize(StudentResizeOptions(plugin="student_resize"), student)


@pytest.mark.parametrize("family", SMART_RESIZE_FAMILIES)
@pytest.mark.parametrize(("min_pixels", "max_pixels"), SETTINGS)
def test_grid_matches_the_familys_real_processor(vlkd_tiny_student, family, min_pixels, max_pixels):
    pytest.importorskip("torchvision")
    from transformers import AutoProcessor

    step = step_for(family, min_pixels, max_pixels)
    processor = AutoProcessor.from_pretrained(vlkd_tiny_student(family)).image_processor
    step.student.family.set_pixel_limits(SimpleProcessor(processor), min_pixels, max_pixels)
    patch, merge = step.student.family.patch_size, step.student.family.merge_size
    for w, h in SIZES:
        image = tf._picture((w, h))
        rec = ImageRecord(id="x", path="x.png", width=w, height=h)
        out = step.apply(image, rec)
        expected = processor(images=[image], return_tensors="np")["image_grid_thw"][0].tolist()
        assert [1, out.height // patch, out.width // patch] == expected, (w, h)
        assert rec.visual_tokens == expected[1] * expected[2] // merge**2, (w, h)
        # the processor leaves our output as it is: same grid, so the tokens are exact
        again = processor(images=[out], return_tensors="np")["image_grid_thw"][0].tolist()
        assert again == expected, (w, h)


class SimpleProcessor:
    """What set_pixel_limits expects: an object with an ``image_processor``."""

    def __init__(self, image_processor):
        self.image_processor = image_processor


def test_sizes_come_from_the_student_section():
    step = step_for("qwen2_vl", 3136, 589824)
    assert step.target((4000, 3000)) == (868, 644)
    assert step.student.family.block == 28


def test_aspect_ratio_over_200_is_skipped_with_reason():
    step = step_for("qwen2_vl")
    image = Image.new("RGB", (4020, 20))
    with pytest.raises(SkipItem) as skipped:
        step.apply(image, ImageRecord(id="x", path="/data/strip.png", width=4020, height=20))
    assert skipped.value.reason == (
        "aspect ratio too extreme: /data/strip.png: 4020x20: aspect ratio 201.0 "
        "is over qwen2_vl's limit of 200"
    )


def test_sides_are_multiples_of_the_block_within_limits():
    for w, h in SIZES:
        new_h, new_w = smart_resize(h, w, 28, 3136, 589824)
        assert new_h % 28 == 0 and new_w % 28 == 0
        assert new_h * new_w <= 589824


def test_old_name_and_old_options_say_where_they_went(vlkd_recipe, vlkd_registry):
    from vlkd.core.errors import RecipeError

    with pytest.raises(RecipeError) as err:
        vlkd_recipe(
            "name: r\nstudent: tiny:qwen2_vl\ningest: {plugin: files, inputs: [.]}\n"
            "preprocess:\n  - plugin: qwen_smart_resize\n",
            vlkd_registry(),
        )
    assert re.search(
        r"recipe.yaml:5:\d+: preprocess.0.plugin: 'qwen_smart_resize' was renamed: use plugin: student_resize",
        str(err.value),
    )
    with pytest.raises(RecipeError) as err:
        vlkd_recipe(
            "name: r\nstudent: tiny:qwen2_vl\ningest: {plugin: files, inputs: [.]}\n"
            "preprocess:\n  - plugin: student_resize\n    max_pixels: 1000\n",
            vlkd_registry(),
        )
    assert re.search(
        r"recipe.yaml:6:\d+: preprocess.0.max_pixels: 'max_pixels' moved: set student.image_max_pixels instead",
        str(err.value),
    )


def test_a_step_that_needs_the_student_without_a_student_section(vlkd_recipe, vlkd_registry):
    from vlkd.core.errors import RecipeError

    with pytest.raises(RecipeError, match="preprocessor 'student_resize' needs the student: add a top-level"):
        vlkd_recipe(
            "name: r\ningest: {plugin: files, inputs: [.]}\npreprocess:\n  - plugin: student_resize\n",
            vlkd_registry(),
        )

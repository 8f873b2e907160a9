import pytest
from PIL import Image

from vlkd.answering.images import load_student_image
from vlkd.core.errors import SkipItem
from vlkd.students.qwen2_vl import Qwen2VL

QWEN2_VL = Qwen2VL()


def _save(tmp_path, size, mode="RGB"):
    path = tmp_path / f"{size[0]}x{size[1]}.png"
    Image.new(mode, size).save(path)
    return path


def test_llamafactory_prescale_keeps_the_aspect_within_the_pixel_bounds(tmp_path):
    big = load_student_image(_save(tmp_path, (1000, 500)), QWEN2_VL, 32 * 32, 128 * 128)
    assert big.width * big.height <= 128 * 128 and big.size == (181, 90)  # int(1000 * sqrt(16384 / 500000))
    small = load_student_image(_save(tmp_path, (20, 10), "L"), QWEN2_VL, 32 * 32, 128 * 128)
    assert small.mode == "RGB" and small.size == (45, 28)  # grown to 1024 px, then each side >= 28
    untouched = load_student_image(_save(tmp_path, (1000, 500)), QWEN2_VL, 32 * 32, 128 * 128, prescale=False)
    assert untouched.size == (1000, 500)  # the peft trainer leaves resizing to the processor


def test_missing_and_unreadable_images_skip_the_item_with_the_path(tmp_path):
    with pytest.raises(SkipItem, match=r"file disappeared: .*nope\.png"):
        load_student_image(tmp_path / "nope.png", QWEN2_VL, 1, 10)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"no")
    with pytest.raises(SkipItem, match=r"not an image: .*bad\.png: it is a text file"):
        load_student_image(bad, QWEN2_VL, 1, 10)
    with pytest.raises(SkipItem, match=r"not in images\.jsonl"):
        load_student_image("", QWEN2_VL, 1, 10)

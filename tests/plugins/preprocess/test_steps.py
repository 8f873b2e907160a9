"""The preprocess steps, one by one, on real Pillow images (no engine)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from vlkd.core.errors import SkipItem
from vlkd.core.records import ImageRecord, Source
from vlkd.plugins.preprocess.dedup_near import DedupNear, DedupNearOptions
from vlkd.plugins.preprocess.exif_transpose import ExifTranspose
from vlkd.plugins.preprocess.filter import Filter, FilterOptions
from vlkd.plugins.preprocess.resize import Resize, ResizeOptions
from vlkd.plugins.preprocess.to_rgb import ToRGB, ToRGBOptions
from vlkd.testing import images as tf


def record(image: Image.Image, fmt: str = "PNG") -> ImageRecord:
    return ImageRecord(id="x", path="/data/x.png", width=image.width, height=image.height, format=fmt)


# -- exif_transpose ------------------------------------------------------------------------
def test_exif_orientation_is_applied(tmp_path):
    upright = Image.new("RGB", (60, 40), "white")
    upright.paste((255, 0, 0), (0, 0, 10, 10))  # red square top-left when upright
    exif = Image.Exif()
    exif[0x0112] = 6  # stored turned: the viewer must rotate 90 degrees clockwise
    upright.rotate(90, expand=True).save(tmp_path / "p.jpg", exif=exif.tobytes(), quality=95)
    image = Image.open(tmp_path / "p.jpg")
    step = ExifTranspose(ExifTranspose.Options(plugin="exif_transpose"))
    assert step.planned_size(image.size, image) == (60, 40)
    rec = record(image)
    out = step.apply(image, rec)
    assert out.size == (60, 40)
    assert out.getpixel((3, 3))[0] > 200 and out.getpixel((3, 3))[1] < 60
    assert rec.notes == ["applied EXIF orientation 6"]


def test_no_exif_is_left_alone():
    image = Image.new("RGB", (30, 20))
    rec = record(image)
    assert ExifTranspose(ExifTranspose.Options(plugin="exif_transpose")).apply(image, rec) is image
    assert rec.notes == []


# -- to_rgb ----------------------------------------------------------------------------------
def rgb(background: str = "white") -> ToRGB:
    return ToRGB(ToRGBOptions(plugin="to_rgb", background=background))


def test_transparent_rgba_composited_on_white_by_default():
    image = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    image.putpixel((0, 0), (255, 0, 0, 255))
    image.putpixel((1, 0), (0, 0, 255, 128))
    rec = record(image)
    out = rgb().apply(image, rec)
    assert out.mode == "RGB"
    assert out.getpixel((0, 0)) == (255, 0, 0)
    assert out.getpixel((3, 3)) == (255, 255, 255)  # not black, which convert("RGB") gives
    assert out.getpixel((1, 0)) == (127, 127, 255)
    assert rec.notes == ["composited RGBA transparency on background #ffffff"]


def test_background_colour_option_and_la_and_palette_transparency():
    la = Image.new("LA", (2, 2), (0, 0))
    assert rgb("#203040").apply(la, record(la)).getpixel((0, 0)) == (0x20, 0x30, 0x40)
    pal = Image.new("P", (2, 2), 0)
    pal.putpalette([0, 0, 0, 255, 0, 0])
    pal.info["transparency"] = 0
    pal.putpixel((1, 1), 1)
    out = rgb("black").apply(pal, record(pal))
    assert out.getpixel((0, 0)) == (0, 0, 0) and out.getpixel((1, 1)) == (255, 0, 0)
    out = rgb().apply(pal, record(pal))
    assert out.getpixel((0, 0)) == (255, 255, 255)


def test_unknown_background_colour_is_an_option_error():
    with pytest.raises(ValueError, match="unknown colour 'whiteish'"):
        ToRGBOptions(plugin="to_rgb", background="whiteish")


def test_16bit_png_is_scaled_not_clipped(tmp_path):
    image = Image.open(tf.png16(tmp_path / "deep.png", (256, 4)))
    assert image.mode.startswith("I")
    rec = record(image)
    out = rgb().apply(image, rec)
    row = np.asarray(out)[0, :, 0]
    assert row[0] == 0 and row[-1] == 255
    assert 120 <= row[128] <= 135  # mid-grey, where convert("RGB") would give white
    assert rec.notes[0].endswith("(high bit depth) to 8-bit RGB")


def test_cmyk_jpeg_colours_come_back(tmp_path):
    image = Image.open(tf.cmyk_jpeg(tmp_path / "print.jpg", (64, 48)))
    assert image.mode == "CMYK"
    rec = record(image, "JPEG")
    out = rgb().apply(image, rec)
    expected = np.asarray(tf._picture((64, 48)), dtype=np.int16)
    assert out.mode == "RGB"
    assert np.abs(np.asarray(out, dtype=np.int16) - expected).mean() < 8
    assert rec.notes == ["converted CMYK to RGB"]


def test_greyscale_to_rgb():
    image = Image.new("L", (3, 3), 77)
    out = rgb().apply(image, record(image))
    assert out.mode == "RGB" and out.getpixel((1, 1)) == (77, 77, 77)


# -- resize ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((4000, 3000), (1024, 768)),
        ((3000, 4000), (768, 1024)),
        ((1500, 100), (1024, 68)),
        ((800, 600), (800, 600)),  # never upscaled
        ((1024, 10), (1024, 10)),
    ],
)
def test_resize_keeps_aspect_and_never_upscales(size, expected):
    step = Resize(ResizeOptions(plugin="resize"))
    image = Image.new("RGB", size)
    rec = record(image)
    out = step.apply(image, rec)
    assert out.size == expected
    assert (out is image) == (size == expected)


def test_resize_is_lanczos_by_default():
    image = tf._picture((400, 300))
    out = Resize(ResizeOptions(plugin="resize", max_side=100)).apply(image, record(image))
    assert out.tobytes() == image.resize((100, 75), Image.Resampling.LANCZOS).tobytes()
    near = Resize(ResizeOptions(plugin="resize", max_side=100, resample="nearest")).apply(
        image, record(image)
    )
    assert near.tobytes() == image.resize((100, 75), Image.Resampling.NEAREST).tobytes()


# -- filter ------------------------------------------------------------------------------------
def test_filter_min_size_aspect_and_format():
    step = Filter(FilterOptions(plugin="filter", min_side=50, max_aspect_ratio=4, formats=["jpg", "png"]))
    ok = Image.new("RGB", (100, 60))
    assert step.apply(ok, record(ok)) is ok
    small = Image.new("RGB", (100, 40))
    with pytest.raises(SkipItem, match=r"too small: /data/x.png: 100x40 is below the filter's minimum"):
        step.apply(small, record(small))
    long = Image.new("RGB", (500, 100))
    with pytest.raises(
        SkipItem, match=r"aspect ratio too extreme: /data/x\.png: 500x100 has aspect ratio 5\.00"
    ):
        step.apply(long, record(long))
    with pytest.raises(SkipItem, match=r"format not allowed: /data/x\.png: GIF is not one of JPEG, PNG"):
        step.apply(ok, record(ok, "GIF"))
    assert step.apply(ok, record(ok, "MPO")) is ok  # phones' JPEGs are MPO to Pillow


# -- dedup_near -----------------------------------------------------------------------------
def test_near_duplicates_dropped_first_kept():
    step = DedupNear(DedupNearOptions(plugin="dedup_near", threshold=6))
    base = tf._picture((320, 240))
    burst = base.crop((4, 3, 320, 240)).resize((320, 240)).point(lambda v: min(255, int(v * 1.05)))
    other = Image.linear_gradient("L").rotate(90).resize((320, 240)).convert("RGB")
    images = {"a": base, "b": burst, "c": other}
    entries = []
    for key, image in images.items():
        page = 2 if key == "a" else None
        rec = ImageRecord(
            id=key,
            path=f"/run/{key}.png",
            width=320,
            height=240,
            sources=[Source(path=f"/p/{key}.jpg", page=page)],
        )
        entries.append((rec, step.collect(image, record(image))))
    drop = step.select(entries)  # records, as the driver hands them
    assert list(drop) == ["b"]
    assert drop["b"].startswith("near duplicate: /p/b.jpg looks like /p/a.jpg page 2 (phash distance ")

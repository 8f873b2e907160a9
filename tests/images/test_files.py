"""vlkd.images.files: how the stages after ingest open an image file."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from vlkd.images.decode import BadImage
from vlkd.images.files import TRUSTED_MAX_PIXELS, image_size, open_as, resized_png, thumbnail
from vlkd.testing import images as odd


def test_open_as_gives_the_mode_asked_for(tmp_path):
    rgba = tmp_path / "a.png"
    Image.new("RGBA", (30, 20), (10, 20, 30, 0)).save(rgba)
    image = open_as(rgba)
    assert image.mode == "RGB" and image.size == (30, 20)
    assert image.getpixel((0, 0)) == (10, 20, 30)  # Pillow's plain convert, as LLaMA-Factory's
    assert open_as(odd.png16(tmp_path / "g.png"), "L").mode == "L"
    assert open_as(odd.cmyk_jpeg(tmp_path / "c.jpg")).mode == "RGB"


def test_every_bad_file_is_a_skip_that_names_it(tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("hello")
    cases = {
        tmp_path / "gone.png": r"file disappeared: .*gone\.png",
        text: r"not an image: .*notes\.png: it is a text file",
        odd.truncated(tmp_path / "cut.jpg"): r"truncated image: .*cut\.jpg",
        odd.corrupt_png(tmp_path / "bad.png"): r"image: .*bad\.png",
        tmp_path: "not a file: .*it is a directory",
    }
    for path, reason in cases.items():
        with pytest.raises(BadImage, match=reason):
            open_as(path)


def test_bytes_are_named_by_the_file_never_shown(tmp_path):
    with pytest.raises(BadImage) as caught:
        open_as(b"\x00\x01not an image at all" * 50, name="run/ingest/x.png")
    assert "run/ingest/x.png" in caught.value.reason and "not an image" in caught.value.reason
    assert "not an image at all" not in caught.value.reason
    with pytest.raises(BadImage, match="image bytes"):
        open_as(b"\x00\x01\x02")


def test_the_pixel_guard_refuses_before_decoding(tmp_path):
    bomb = odd.png_bomb(tmp_path / "bomb.png")  # header: 100000 x 100000, a few bytes of data
    assert TRUSTED_MAX_PIXELS < 100_000 * 100_000
    for call in (lambda: image_size(bomb), lambda: open_as(bomb), lambda: thumbnail(bomb, 64)):
        with pytest.raises(BadImage, match=r"too many pixels: .*bomb\.png: 100000x100000"):
            call()
    photo = odd.photo(tmp_path / "p.png", size=(64, 48))
    assert image_size(photo, max_pixels=64 * 48) == (64, 48)
    with pytest.raises(BadImage, match="too many pixels"):
        image_size(photo, max_pixels=64 * 48 - 1)


def test_image_size_reads_the_header_and_decodes_only_when_asked(tmp_path):
    cut = odd.truncated(tmp_path / "cut.png", "PNG", size=(256, 192))
    assert image_size(cut) == (256, 192)
    with pytest.raises(BadImage, match=r"truncated image: cut\.png"):
        image_size(cut, decode=True, name="cut.png")


def test_thumbnail_fits_the_box_in_the_format_asked(tmp_path):
    photo = odd.photo(tmp_path / "wide.jpg", size=(1200, 600), fmt="JPEG")
    jpeg, w, h = thumbnail(photo, 100)
    assert (w, h) == (100, 50) and jpeg[:3] == b"\xff\xd8\xff"
    png, w2, h2 = thumbnail(photo, 100, format="PNG", draft=True)
    assert (w2, h2) == (100, 50) and png[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(io.BytesIO(png)) as im:
        assert im.mode == "RGB" and im.size == (100, 50)
    _, w3, h3 = thumbnail(odd.photo(tmp_path / "s.png", size=(40, 30)), 100)
    assert (w3, h3) == (40, 30)  # never enlarged


def test_resized_png_is_the_same_bytes_for_the_same_input(tmp_path):
    """The teacher's response cache is keyed on the bytes sent: a resize must be reproducible."""
    data = odd.photo(tmp_path / "p.png", size=(300, 200)).read_bytes()
    first = resized_png(data, (150, 100))
    assert first == resized_png(data, (150, 100))
    with Image.open(io.BytesIO(first)) as im:
        assert im.format == "PNG" and im.mode == "RGB" and im.size == (150, 100)
    with pytest.raises(BadImage, match=r"not an image: x\.png"):
        resized_png(b"GIF89a-not-really", (10, 10), name="x.png")


def test_upright_turns_by_exif_only_when_asked(tmp_path):
    photo = tmp_path / "side.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # stored on its side: turn 90 degrees clockwise to view
    Image.new("RGB", (60, 20), (200, 30, 30)).save(photo, "JPEG", exif=exif)
    assert open_as(photo).size == (60, 20)  # what both trainers see
    assert open_as(photo, upright=True).size == (20, 60)
    assert open_as(odd.photo(tmp_path / "plain.png"), upright=True).size == (64, 48)

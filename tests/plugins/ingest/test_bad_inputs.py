"""Every bad input of issue 3 is skipped with a clear per-file reason (or converted, with a note)."""

from __future__ import annotations

import pytest

from vlkd.core.errors import SkipItem, StageError
from vlkd.core.jsonl import read_jsonl
from vlkd.plugins.ingest.files import FilesOptions
from vlkd.plugins.ingest.reading import ReadFile
from vlkd.testing import images as tf
from vlkd.testing.images import run_image_stages


def ingest_folder(tmp_path, extra: str = ""):
    manifest, run_dir = run_image_stages(
        f"name: t\ningest:\n  plugin: files\n  inputs: in\n  workers: 1\n{extra}", tmp_path
    )
    stage = manifest["stages"]["ingest"]
    reasons = {p["item"].rsplit("/", 1)[-1]: p["reason"] for p in stage["counts"].get("problems", [])}
    records = {r["path"].rsplit("/", 1)[-1]: r for r in read_jsonl(run_dir / "ingest" / "images.jsonl")}
    return stage, reasons, records


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "in").mkdir()
    return tmp_path / "in"


def test_truncated_jpeg(tmp_path, folder):
    tf.truncated(folder / "cut.jpg", "JPEG")
    _, reasons, _ = ingest_folder(tmp_path)
    assert reasons["cut.jpg"].startswith(f"truncated image: {folder / 'cut.jpg'}: image file is truncated")


def test_truncated_png(tmp_path, folder):
    tf.truncated(folder / "cut.png", "PNG")
    _, reasons, _ = ingest_folder(tmp_path)
    assert reasons["cut.png"].startswith(f"truncated image: {folder / 'cut.png'}: image file is truncated")


def test_corrupt_png_data(tmp_path, folder):
    tf.corrupt_png(folder / "bad.png")
    _, reasons, _ = ingest_folder(tmp_path)
    assert (
        reasons["bad.png"]
        == f"corrupt image: {folder / 'bad.png'}: broken data stream when reading image file"
    )


def test_text_file_named_jpg(tmp_path, folder):
    (folder / "photo.jpg").write_text("Order #123: 4 brake pads\n", encoding="utf-8")
    _, reasons, _ = ingest_folder(tmp_path)
    assert (
        reasons["photo.jpg"]
        == f"not an image: {folder / 'photo.jpg'}: it is a text file ('Order #123: 4 brake pads'...)"
    )


def test_zero_byte_file(tmp_path, folder):
    (folder / "empty.png").write_bytes(b"")
    stage, reasons, _ = ingest_folder(tmp_path)
    assert reasons["empty.png"] == f"empty file: {folder / 'empty.png'}: 0 bytes"
    assert stage["counts"]["skipped_by_reason"] == {"empty file": 1}


def test_decompression_bomb_over_pillows_limit(tmp_path, folder):
    tf.png_bomb(folder / "bomb.png", 100_000, 100_000)
    _, reasons, _ = ingest_folder(tmp_path)
    assert reasons["bomb.png"] == (
        f"too many pixels: {folder / 'bomb.png'}: 100000x100000 = 10,000,000,000 pixels is over the limit of "
        "89,478,485 (a decompression bomb?); raise max_pixels if you trust this file"
    )


def test_pixel_limit_is_configurable(tmp_path, folder):
    tf.photo(folder / "big.png", (200, 100))
    tf.photo(folder / "small.png", (50, 40))
    _, reasons, records = ingest_folder(tmp_path, "  max_pixels: 10000\n")
    assert "200x100 = 20,000 pixels is over the limit of 10,000" in reasons["big.png"]
    assert list(records) == ["small.png"]


@pytest.mark.parametrize("fmt", ["GIF", "WEBP"])
def test_animated_image_first_frame_with_note(tmp_path, folder, fmt):
    tf.animated(folder / f"anim.{fmt.lower()}", fmt, frames=3)
    _, _, records = ingest_folder(tmp_path)
    rec = records[f"anim.{fmt.lower()}"]
    assert rec["notes"] == [f"animated {fmt}: 3 frames, first frame used"]
    assert (rec["width"], rec["height"]) == (48, 32)


def test_16bit_png_and_cmyk_jpeg_are_taken(tmp_path, folder):
    tf.png16(folder / "deep.png")
    tf.cmyk_jpeg(folder / "print.jpg")
    stage, _, records = ingest_folder(tmp_path)
    assert stage["counts"]["skipped"] == 0
    assert set(records) == {"deep.png", "print.jpg"}


def test_unreadable_pdf(tmp_path, folder):
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4\n this is not really a PDF\n")
    (folder / "fake.pdf").write_bytes(b"GIF89a not a pdf at all")
    _, reasons, _ = ingest_folder(tmp_path)
    assert (
        reasons["broken.pdf"] == f"unreadable PDF: {folder / 'broken.pdf'}: Failed to load document "
        "(PDFium: Data format error)."
    )
    assert reasons["fake.pdf"] == f"unreadable PDF: {folder / 'fake.pdf'}: not a PDF file (no %PDF header)"


def test_encrypted_pdf(tmp_path, folder):
    tf.pdf(folder / "locked.pdf", encrypt=True)
    _, reasons, _ = ingest_folder(tmp_path)
    assert reasons["locked.pdf"] == (
        f"encrypted PDF: {folder / 'locked.pdf'}: it is password-protected; "
        "save an unprotected copy to include it"
    )


def test_file_disappears_between_listing_and_reading(tmp_path, folder):
    tf.photo(folder / "a.png")
    tf.photo(folder / "b.png", seed=3)
    from vlkd.plugins.ingest.files import FilesIngestor

    options = FilesOptions(plugin="files", inputs=[str(folder)])
    listing = FilesIngestor(options).listing()
    (folder / "a.png").unlink()  # gone after it was listed
    work = ReadFile(options, tmp_path / "pages")
    with pytest.raises(SkipItem) as skipped:
        work(listing.files[0].to_json())
    assert skipped.value.reason.startswith(f"file disappeared: {folder / 'a.png'}: it was listed but is gone")
    assert work(listing.files[1].to_json())[0]["width"] == 64


def test_chinese_paths(tmp_path):
    folder = tmp_path / "in" / "零件照片"
    tf.photo(folder / "前刹车片 04465.jpg")
    (folder / "损坏.png").write_bytes(b"")
    _, reasons, records = ingest_folder(tmp_path)
    assert records["前刹车片 04465.jpg"]["sources"][0]["path"] == str(folder / "前刹车片 04465.jpg")
    assert reasons["损坏.png"] == f"empty file: {folder / '损坏.png'}: 0 bytes"


def test_skipped_reasons_in_manifest_and_good_files_kept(tmp_path, folder):
    tf.photo(folder / "good.png")
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "text.jpg").write_text("hello")
    stage, _, records = ingest_folder(tmp_path)
    assert stage["status"] == "done"
    assert stage["counts"]["ok"] == 1 and stage["counts"]["skipped"] == 2
    assert stage["counts"]["skipped_by_reason"] == {"empty file": 1, "not an image": 1}
    assert list(records) == ["good.png"]


def test_on_error_fail_stops_the_run_naming_the_file(tmp_path, folder):
    (folder / "bad.jpg").write_text("not a jpeg")
    with pytest.raises(StageError) as err:
        ingest_folder(tmp_path, "  on_error: fail\n  verify: true\n")
    assert f"not an image: {folder / 'bad.jpg'}" in str(err.value)


def test_pdf_without_pypdfium2_is_skipped_with_the_install_hint(monkeypatch, tmp_path):
    import sys

    from vlkd.images.decode import BadImage
    from vlkd.images.pdf import render_pages

    monkeypatch.setitem(sys.modules, "pypdfium2", None)  # as if the 'pdf' extra were not installed
    with pytest.raises(BadImage, match=r'PDF support not installed: manual.pdf: pip install "vlkd\[pdf\]"'):
        next(render_pages(b"%PDF-1.7\n", "manual.pdf", dpi=72, pages=None, max_pixels=None))

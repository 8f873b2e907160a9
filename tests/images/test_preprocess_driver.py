"""The preprocess driver: one decode, JPEG draft, outputs in the run dir, originals untouched."""

from __future__ import annotations

import hashlib
import io

import pytest
from PIL import Image

from vlkd.core.artifacts import read_images
from vlkd.core.errors import SkipItem, StageError
from vlkd.core.records import ImageRecord
from vlkd.core.student import make_student
from vlkd.images.preprocess_driver import Chain, Settings, draft_box, plan_sizes
from vlkd.plugins.preprocess.exif_transpose import ExifTranspose
from vlkd.plugins.preprocess.resize import Resize, ResizeOptions
from vlkd.plugins.preprocess.student_resize import StudentResize, StudentResizeOptions
from vlkd.plugins.preprocess.to_rgb import ToRGB, ToRGBOptions
from vlkd.testing import images as tf
from vlkd.testing.extras import needs
from vlkd.testing.images import run_image_stages

HEAD = "name: t\ningest:\n  plugin: files\n  inputs: in\n  workers: 1\n"


def recipe(steps: str, settings: str = "  workers: 1\n") -> str:
    return HEAD + "preprocess:\n  steps:\n" + steps + settings


def out_records(run_dir):
    """The preprocess stage's records, paths as files (stored relative to the run directory)."""
    return [r.model_dump(mode="json") for r in read_images(run_dir / "preprocess" / "images.jsonl")]


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_outputs_in_run_dir_and_originals_untouched(tmp_path):
    a = tf.photo(tmp_path / "in" / "a.jpg", (1600, 1200), seed=1)
    b = tf.photo(tmp_path / "in" / "零件" / "b.png", (300, 200), seed=2)
    before = {p: (digest(p), p.stat().st_mtime_ns) for p in (a, b)}
    manifest, run_dir = run_image_stages(
        recipe("    - plugin: to_rgb\n    - plugin: resize\n      max_side: 400\n"), tmp_path
    )
    assert {p: (digest(p), p.stat().st_mtime_ns) for p in (a, b)} == before
    recs = {r["sources"][0]["path"]: r for r in out_records(run_dir)}
    ra, rb = recs[str(a)], recs[str(b)]
    assert ra["path"] == str(run_dir / "preprocess" / "images" / f"{ra['id']}.png")
    assert (ra["width"], ra["height"], ra["format"]) == (400, 300, "PNG")
    assert Image.open(ra["path"]).size == (400, 300)
    assert ra["original"] == {"path": str(a), "width": 1600, "height": 1200, "format": "JPEG"}
    assert (rb["width"], rb["height"]) == (300, 200)  # never upscaled
    assert manifest["stages"]["preprocess"]["facts"] == {
        "images_in": 2,
        "images_out": 2,
        "output_format": "png",
    }


def test_jpeg_output_with_quality(tmp_path):
    np = pytest.importorskip("numpy", reason="numpy comes with vlkd[images]")
    tf.photo(tmp_path / "in" / "a.png", (200, 100), seed=1)
    tf.animated(tmp_path / "in" / "anim.gif")
    _, run_dir = run_image_stages(
        recipe("    - plugin: resize\n", "  output_format: jpeg\n  quality: 60\n"), tmp_path
    )
    recs = out_records(run_dir)
    assert all(r["path"].endswith(".jpg") and r["format"] == "JPEG" for r in recs)
    gif = next(r for r in recs if r["original"]["format"] == "GIF")
    assert Image.open(gif["path"]).format == "JPEG"
    # palette frame converted for JPEG, and the animation noted
    assert "animated GIF: 3 frames, first frame used" in gif["notes"]
    assert any(n.startswith("converted P to RGB") for n in gif["notes"])
    red = np.asarray(Image.open(gif["path"]))[10, 10]
    assert red[0] > 200 and red[1] < 60  # the first (red) frame


def test_plan_and_draft_box():
    resize = Resize(ResizeOptions(plugin="resize", max_side=1024))
    qwen = StudentResize(
        StudentResizeOptions(plugin="student_resize"),
        make_student({"model": "tiny:qwen2_vl", "image_max_pixels": 768 * 768}),
    )
    to_rgb = ToRGB(ToRGBOptions(plugin="to_rgb"))
    header = Image.new("RGB", (1, 1))
    sizes = plan_sizes([to_rgb, resize, qwen], (4000, 3000), header)
    assert sizes == [(4000, 3000), (4000, 3000), (1024, 768), (868, 644)]
    assert draft_box(sizes) == (1024, 768)  # the largest size a step resizes to
    assert draft_box(plan_sizes([resize], (1500, 1000), header)) is None  # not 2x smaller
    assert plan_sizes([resize, object()], (10, 10), header) is None  # a step that cannot plan


def jpeg_record(tmp_path, size=(4000, 3000), name="big.jpg") -> ImageRecord:
    path = tf.photo(tmp_path / name, size, seed=5, quality=92)
    return ImageRecord(id="big", path=str(path), width=size[0], height=size[1], format="JPEG")


def test_draft_decode_matches_full_decode(tmp_path):
    np = pytest.importorskip("numpy", reason="numpy comes with vlkd[images]")
    rec = jpeg_record(tmp_path)
    steps = [Resize(ResizeOptions(plugin="resize", max_side=1024))]
    drafted = Chain(steps, tmp_path / "d", Settings(draft=True))
    full = Chain(steps, tmp_path / "f", Settings(draft=False))
    (tmp_path / "d").mkdir()
    (tmp_path / "f").mkdir()
    a = drafted(rec)[0]
    b = full(rec)[0]
    assert (a["width"], a["height"]) == (b["width"], b["height"]) == (1024, 768)
    assert a["notes"] == b["notes"] == ["resized: 4000x3000 -> 1024x768"]
    x = np.asarray(Image.open(a["path"]), dtype=np.int16)
    y = np.asarray(Image.open(b["path"]), dtype=np.int16)
    assert np.abs(x - y).mean() < 2.0


def test_draft_is_really_used_for_large_jpegs(tmp_path):
    """The decoded pixels are at most half size: Image.draft picked a DCT scale."""
    from vlkd.images.decode import load_image, open_image

    rec = jpeg_record(tmp_path)
    header, _ = open_image(rec.path, load=False)
    box = draft_box(plan_sizes([Resize(ResizeOptions(plugin="resize"))], header.size, header))
    notes = load_image(header, rec.path, draft=box)
    assert header.size == (2000, 1500)
    assert notes == ["decoded at 2000x1500 (JPEG draft) for a smaller target"]


def test_qwen_size_from_true_size_even_when_drafted(tmp_path):
    """qwen's target is computed from the original size, not the reduced draft's."""
    rec = jpeg_record(tmp_path, (4001, 2999))
    student = make_student({"model": "tiny:qwen2_vl", "image_max_pixels": 512 * 28 * 28})
    step = StudentResize(StudentResizeOptions(plugin="student_resize"), student)
    (tmp_path / "o").mkdir()
    out = Chain([step], tmp_path / "o", Settings())(rec)[0]
    from vlkd.students.family import smart_resize

    h, w = smart_resize(2999, 4001, 28, student.image_min_pixels, 512 * 28 * 28)
    assert (out["width"], out["height"]) == (w, h)
    assert out["visual_tokens"] == (h // 28) * (w // 28)


def test_exif_rotation_with_draft(tmp_path):
    np = pytest.importorskip("numpy", reason="numpy comes with vlkd[images]")
    upright = tf._picture((3000, 2000))
    exif = Image.Exif()
    exif[0x0112] = 8
    upright.rotate(-90, expand=True).save(tmp_path / "r.jpg", exif=exif.tobytes(), quality=90)
    rec = ImageRecord(id="r", path=str(tmp_path / "r.jpg"), width=2000, height=3000, format="JPEG")
    steps = [
        ExifTranspose(ExifTranspose.Options(plugin="exif_transpose")),
        Resize(ResizeOptions(plugin="resize", max_side=600)),
    ]
    (tmp_path / "o").mkdir()
    out = Chain(steps, tmp_path / "o", Settings())(rec)[0]
    assert (out["width"], out["height"]) == (600, 400)
    got = np.asarray(Image.open(out["path"]), dtype=np.int16)
    want = np.asarray(upright.resize((600, 400), Image.Resampling.LANCZOS), dtype=np.int16)
    assert np.abs(got - want).mean() < 3.0


def test_file_removed_between_ingest_and_preprocess(tmp_path):
    rec = ImageRecord(id="gone", path=str(tmp_path / "照片" / "gone.png"), width=10, height=10, format="PNG")
    (tmp_path / "o").mkdir()
    with pytest.raises(SkipItem) as skipped:
        Chain([], tmp_path / "o", Settings())(rec)
    assert skipped.value.reason.startswith(
        f"file disappeared: {tmp_path / '照片' / 'gone.png'}: it was listed"
    )


def test_on_error_fail_stops_on_a_broken_file_but_not_on_a_filter(tmp_path):
    tf.photo(tmp_path / "in" / "a.png", (40, 30), seed=1)
    manifest, _ = run_image_stages(
        recipe("    - plugin: filter\n      min_side: 35\n", "  on_error: fail\n  workers: 1\n"), tmp_path
    )
    assert manifest["stages"]["preprocess"]["counts"]["skipped_by_reason"] == {"too small": 1}
    cut = tf.truncated(tmp_path / "in" / "b.jpg", keep=0.6)
    text = recipe("    - plugin: resize\n", "  on_error: fail\n  workers: 1\n").replace(
        "  workers: 1\npreprocess", "  workers: 1\n  verify: false\npreprocess"
    )
    with pytest.raises(StageError) as err:
        run_image_stages(text, tmp_path)
    assert "stage 'preprocess' stopped at item" in str(err.value)
    assert f"UnreadableImage: truncated image: {cut}" in str(err.value)


@needs("images")
def test_dedup_near_in_the_chain_with_workers_and_resume(tmp_path):
    base = tf._picture((640, 480))
    (tmp_path / "in").mkdir()
    base.save(tmp_path / "in" / "1.jpg", quality=95)
    base.save(tmp_path / "in" / "2.jpg", quality=70)  # same photo, other bytes
    Image.linear_gradient("L").rotate(90).resize((640, 480)).convert("RGB").save(tmp_path / "in" / "3.jpg")
    text = recipe("    - plugin: resize\n      max_side: 320\n    - plugin: dedup_near\n", "  workers: 2\n")
    manifest, run_dir = run_image_stages(text, tmp_path)
    kept = sorted(r["sources"][0]["path"].rsplit("/", 1)[-1] for r in out_records(run_dir))
    assert kept == ["1.jpg", "3.jpg"]
    counts = manifest["stages"]["preprocess"]["counts"]
    assert counts["ok"] == 2 and counts["skipped_by_reason"] == {"near duplicate": 1}
    assert "2.jpg looks like" in counts["problems"][0]["reason"]
    assert all("_collected" not in r for r in out_records(run_dir))
    assert len(list((run_dir / "preprocess" / "images").iterdir())) == 2
    # resumed from the ledger: the same decision without hashing again
    ledger = run_dir / "preprocess" / "ledger.jsonl"
    lines = ledger.read_text().splitlines()
    ledger.write_text("\n".join(lines[:2]) + "\n")  # as if killed after two images
    manifest["stages"]["preprocess"]["status"] = "running"
    from vlkd.core.jsonl import write_json_atomic

    write_json_atomic(run_dir / "manifest.json", manifest)
    again, _ = run_image_stages(text, tmp_path, fresh=False)
    assert again["stages"]["preprocess"]["counts"]["ok"] == 2
    assert sorted(r["sources"][0]["path"].rsplit("/", 1)[-1] for r in out_records(run_dir)) == kept


def test_encode_png_compress_level(tmp_path):
    image = tf._picture((300, 200))
    rec = ImageRecord(id="p", path="x", width=300, height=200)
    (tmp_path / "o").mkdir()
    fast = Chain([], tmp_path / "o", Settings(png_compress_level=1)).encode(image, rec)
    data = fast.read_bytes()
    assert Image.open(io.BytesIO(data)).tobytes() == image.tobytes()


def test_preprocess_pixel_limit(tmp_path):
    path = tf.photo(tmp_path / "a.png", (64, 48))
    rec = ImageRecord(id="a", path=str(path), width=64, height=48, format="PNG")
    (tmp_path / "o").mkdir()
    with pytest.raises(
        SkipItem, match=r"too many pixels: .*a\.png: 64x48 = 3,072 pixels is over the limit of 1,000"
    ):
        Chain([], tmp_path / "o", Settings(max_pixels=1000))(rec)
    assert Chain([], tmp_path / "o", Settings())(rec)[0]["width"] == 64

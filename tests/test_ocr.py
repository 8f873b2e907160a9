"""The one OCR reader: spaces rapidocr drops are put back; a page is read once per run; bad pages."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("rapidocr_onnxruntime")

from vlkd import ocr as ocr_engine

DEMO = Path(__file__).resolve().parents[1] / "recipes" / "data" / "demo"


@pytest.mark.skipif(not (DEMO / "dashboard.png").exists(), reason="demo images not generated")
def test_words_rapidocr_runs_together_are_separated_again():
    text = ocr_engine.ocr_text(DEMO / "dashboard.png")
    assert "Low oil pressure" in text and "Lowoilpressure" not in text
    faults = ocr_engine.ocr_text(DEMO / "fault_codes.png")
    assert "Catalyst efficiency low" in faults and "Random misfire" in faults
    parts = ocr_engine.ocr_text(DEMO / "parts_table.png")
    # never inside numbers or codes
    assert "87139-02090" in parts and "90915-YZZD2" in parts and "04465-02220" in parts


@pytest.mark.skipif(not (DEMO / "dashboard_phone.jpg").exists(), reason="demo images not generated")
def test_a_phone_photo_stored_on_its_side_reads_as_lines_with_their_spaces():
    # the JPEG's pixels are stored turned (EXIF orientation 6); read as stored, the engine finds
    # vertical lines and no space came back ("Lowtyrepressure"); its letters sit close (1-2 px),
    # so its 5 px word gaps were under the height share too ("ECOmodeon"). "Powersteering"
    # stays: its 4 px gap is twice its letter gaps, as wide as letter gaps in other fonts
    text = ocr_engine.ocr_text(DEMO / "dashboard_phone.jpg")
    lines = text.splitlines()
    assert "Low tyre pressure | Brake system | Powersteering | ECO mode on" in lines, text
    assert "请检查胎压 Check tyre pressure：左前 LF180 kPa" in lines, text


def test_the_run_cache_reads_a_page_once(tmp_path):
    data = (DEMO / "manual_torque.png").read_bytes()
    before = ocr_engine.reads
    first = ocr_engine.read_boxes(data, cache_dir=tmp_path)
    again = ocr_engine.read_boxes(data, 0.9, cache_dir=tmp_path)  # another min_score: the same reading
    assert ocr_engine.reads - before == 1
    assert again == [b for b in first if b.score >= 0.9]
    (entry,) = (tmp_path / "ocr").rglob("*.json")
    entry.write_text("{torn")  # a damaged entry is read again, not trusted
    assert ocr_engine.read_boxes(data, cache_dir=tmp_path) == first
    assert ocr_engine.reads - before == 2


def test_a_file_that_is_no_image_is_a_clear_error():
    with pytest.raises(ocr_engine.OCRError, match="not an image OCR can read"):
        ocr_engine.read_boxes(b"this is a text file named page.png")


def test_the_engine_pool_is_sized_to_usable_cpus_and_its_idle_threads_sleep():
    from vlkd.core.cpus import usable_cpus

    engine = ocr_engine._get_engine()
    for part in (engine.text_det, engine.text_cls, engine.text_rec):
        session = getattr(part, "infer", None) or part.session  # rapidocr names it either way
        options = session.session.get_session_options()
        assert options.intra_op_num_threads == usable_cpus() and options.inter_op_num_threads == 1
        assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"

"""``vlkd predict`` on what it cannot answer: one line saying why, before any long work."""

import pytest
from PIL import Image

from .conftest import cli

pytest.importorskip("peft")


@pytest.fixture
def trained(run_layout, tiny_student, tiny_adapter):
    return run_layout(student=tiny_student, adapter=tiny_adapter)  # cutoff_len 1024


def test_an_empty_question_is_refused(trained, capsys, vlkd_images):
    image = str(vlkd_images(n=1, size=(96, 64))[0])
    for question in ("", "  \n"):
        code, out, err = cli(capsys, "predict", str(trained), image, question)
        assert code == 2 and out == "" and "the question is empty" in err


def test_an_image_the_student_cannot_take_is_one_line(trained, capsys, tmp_path):
    tall = tmp_path / "tall.png"
    Image.new("RGB", (1, 100_000), (200, 0, 0)).save(tall)
    code, _, err = cli(capsys, "predict", str(trained), str(tall), "What is it?")
    assert code == 2 and "Traceback" not in err
    assert "1x100000" in err and "aspect ratio" in err
    pdf = tmp_path / "manual.pdf"
    pdf.write_bytes(b"%PDF-1.7\n1 0 obj<</Type/Catalog>>endobj\ntrailer<<>>\n%%EOF\n")
    code, _, err = cli(capsys, "predict", str(trained), str(pdf), "What is it?")
    assert code == 2 and "it is a PDF document" in err and "text file" not in err


@pytest.mark.parametrize("question", ["x" * 30_000, "word " * 1_500], ids=["30000-characters", "1500-tokens"])
def test_a_question_longer_than_the_training_cutoff_is_refused(trained, capsys, vlkd_images, question):
    image = str(vlkd_images(n=1, size=(96, 64))[0])
    code, out, err = cli(capsys, "predict", str(trained), image, question, "--max-new-tokens", "2")
    assert code == 2 and out == ""
    assert "the question is too long" in err and "1,024 tokens (cutoff_len)" in err

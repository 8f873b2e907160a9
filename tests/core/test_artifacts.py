"""Artifacts read as models: a bad line is a StageError at file:line; one lookup, one resolver."""

import json

import pytest

from vlkd.core.artifacts import DatasetCard, ModelCard, image_path, read_images, read_pairs, write_records
from vlkd.core.errors import StageError
from vlkd.core.records import ImageRecord
from vlkd.core.rundir import RunDir

IMAGE = {"id": "a" * 64, "path": "ingest/pages/x.png", "width": 4, "height": 3}
PAIR = {"id": "p1", "image_id": "a" * 64, "question": "Q?", "answer": "A", "provenance": {"plugin": "t"}}


def lines(path, *rows, tail=b""):
    path.write_bytes(
        b"".join((r if isinstance(r, bytes) else json.dumps(r).encode()) + b"\n" for r in rows) + tail
    )
    return path


def test_records_round_trip_with_unknown_keys_kept(tmp_path):
    path = tmp_path / "run" / "ingest" / "images.jsonl"
    path.parent.mkdir(parents=True)
    write_records(path, [ImageRecord.model_validate({**IMAGE, "brand_new": 1})])
    (rec,) = read_images(path)  # a path inside the run comes back against the run directory
    assert rec.path == str(tmp_path / "run" / IMAGE["path"]) and rec.model_extra == {"brand_new": 1}


def test_a_bad_line_is_named_by_file_and_line(tmp_path):
    path = lines(tmp_path / "pairs.jsonl", PAIR, b"", {**PAIR, "question": None})
    with pytest.raises(StageError) as err:
        read_pairs(path)
    assert str(err.value) == (
        f"{path}:3: not a question/answer record (question: Input should be a valid string); "
        "fix the line or re-run the stage that wrote it"
    )


def test_a_line_that_is_not_json(tmp_path):
    path = lines(tmp_path / "images.jsonl", IMAGE, b"{oops")
    with pytest.raises(StageError, match=r"images\.jsonl:2: not valid JSON; fix or delete this line"):
        read_images(path)


def test_a_torn_last_line_is_left_out(tmp_path):
    path = lines(tmp_path / "images.jsonl", IMAGE, tail=b'{"id": "b')
    assert [r.id for r in read_images(path)] == [IMAGE["id"]]


def test_every_missing_field_is_counted(tmp_path):
    path = lines(tmp_path / "images.jsonl", {"id": "x"})
    with pytest.raises(
        StageError, match=r"images\.jsonl:1: not an image record \(path: Field required, and 2 more\)"
    ):
        read_images(path)


def test_a_missing_file_says_what_to_do(tmp_path):
    with pytest.raises(StageError, match="missing; re-run the stage that writes it"):
        read_pairs(tmp_path / "nope.jsonl")


def test_image_paths_resolve_against_the_run_directory(tmp_path):
    assert image_path(tmp_path, "ingest/a.png") == tmp_path / "ingest" / "a.png"
    assert image_path(tmp_path, "/data/a.png").as_posix() == "/data/a.png"


def test_cards_read_write_and_say_which_stage_to_re_run(tmp_path):
    card = DatasetCard(format="llamafactory", splits={"train": "train.json"}, pairs=3, images=2)
    card.write(tmp_path)
    assert DatasetCard.read(tmp_path) == card
    assert DatasetCard.read(tmp_path).media_root(tmp_path) == tmp_path
    with pytest.raises(StageError, match=r"vlkd_model\.json: missing; re-run the train stage"):
        ModelCard.read(tmp_path)
    (tmp_path / "vlkd_model.json").write_text('{"trainer": "peft", "base_model": ""}')
    with pytest.raises(StageError, match=r"vlkd_model\.json: base_model: String should have at least 1"):
        ModelCard.read(tmp_path)
    (tmp_path / "vlkd_model.json").write_text('{"base_model": "s", "adapter": "adapter", "log": "/l.jsonl"}')
    model = ModelCard.read(tmp_path)
    assert model.path(tmp_path, model.adapter) == tmp_path / "adapter"
    assert model.path(tmp_path, model.log).as_posix() == "/l.jsonl"


def test_run_dir_artifact_is_the_latest_producer(tmp_path):
    rd = RunDir(tmp_path)
    stages = ["ingest", "preprocess", "teach", "review", "split", "format", "evaluate"]
    assert rd.artifact("images", before="teach", stages=stages) == rd.path / "preprocess" / "images.jsonl"
    assert rd.artifact("pairs", before="format", stages=stages) == rd.path / "split" / "pairs.jsonl"
    assert rd.artifact("pairs", before="review", stages=stages) == rd.path / "teach" / "pairs.jsonl"
    assert rd.artifact("model", stages=stages) is None  # no train stage
    assert rd.producer("images", stages=["ingest", "teach"], before="teach") == "ingest"
    (rd.path / "ingest").mkdir(parents=True)
    (rd.path / "ingest" / "images.jsonl").write_text("")
    assert rd.artifact("images", stages=stages, written=True) == rd.path / "ingest" / "images.jsonl"


def test_an_image_file_reads_each_record_when_asked_and_notices_a_changed_file(tmp_path):
    from vlkd.core.artifacts import index_images

    path = tmp_path / "run" / "ingest" / "images.jsonl"
    path.parent.mkdir(parents=True)
    other = {**IMAGE, "id": "b" * 64, "path": "/data/b.png", "category": "manual"}
    lines(path, IMAGE, other, IMAGE, tail=b'{"id": "torn')  # a duplicate id, a torn last line
    images = index_images(path)
    assert images.ids == ["a" * 64, "b" * 64] and len(images) == 2
    assert images[0].path == str(tmp_path / "run" / IMAGE["path"])  # as read_images gives it
    assert [r.id for r in images] == images.ids and images[1].path == "/data/b.png"
    manuals = index_images(path, keep=lambda r: r.category == "manual")
    assert manuals.ids == ["b" * 64]
    lines(path, other, IMAGE)  # rewritten while a stage reads it
    with pytest.raises(StageError, match="changed while the stage was reading it"):
        images[0]


def test_stored_image_paths_as_pathlib_says(tmp_path):
    """The prefix shortcut gives what ``Path.relative_to`` gives, odd spellings included."""
    from pathlib import Path

    from vlkd.core.artifacts import stored_image_paths

    root = (tmp_path / "run").resolve()

    def reference(value: str) -> str:
        path = Path(value)
        return path.relative_to(root).as_posix() if path.is_absolute() and root in path.parents else value

    values = [
        f"{root}/images/a.png",
        f"{root}/a.png",
        f"{root}/images/a.png/",
        f"{root}",
        f"{root}/",
        f"{root}x/a.png",
        f"{root}//images/a.png",
        f"{root}/./images/a.png",
        f"{root}/images/../b.png",
        f"{root}/.hidden/a.png",
        "/elsewhere/a.png",
        "images/a.png",
        "/",
    ]
    records = [ImageRecord(id=str(i), path=v, width=1, height=1) for i, v in enumerate(values)]
    got = [r.path for r in stored_image_paths(tmp_path / "run", records)]
    assert got == [reference(v) for v in values]

"""The ``files`` ingestor: folders, globs, lists, manifests, PDFs, duplicates, re-runs."""

from __future__ import annotations

import hashlib
import json
import os

import pytest

from vlkd.core.errors import RecipeError, StageError
from vlkd.core.jsonl import read_jsonl
from vlkd.testing import images as tf
from vlkd.testing.images import run_image_stages


def recipe(ingest: str, preprocess: str = "") -> str:
    return "name: t\ningest:\n  plugin: files\n  workers: 1\n" + ingest + preprocess


def images(run_dir):
    return list(read_jsonl(run_dir / "ingest" / "images.jsonl"))


def test_directory_is_searched_recursively_and_other_types_are_counted(tmp_path):
    tf.photo(tmp_path / "in" / "a.jpg", seed=1)
    tf.photo(tmp_path / "in" / "sub" / "deeper" / "b.png", seed=2)
    (tmp_path / "in" / "notes.txt").write_text("not an image")
    (tmp_path / "in" / ".hidden.jpg").write_bytes(b"")
    manifest, run_dir = run_image_stages(recipe("  inputs: in\n"), tmp_path)
    recs = images(run_dir)
    assert sorted(os.path.basename(r["path"]) for r in recs) == ["a.jpg", "b.png"]
    facts = manifest["stages"]["ingest"]["facts"]
    assert facts["ignored_files"] == {".txt": 1}
    b = next(r for r in recs if r["path"].endswith("b.png"))
    assert b["id"] == hashlib.sha256((tmp_path / "in/sub/deeper/b.png").read_bytes()).hexdigest()
    assert (b["width"], b["height"], b["format"]) == (64, 48, "PNG")
    assert b["sources"] == [{"path": str(tmp_path / "in/sub/deeper/b.png"), "page": None}]


def test_glob_and_list_of_inputs(tmp_path):
    tf.photo(tmp_path / "x" / "a.jpg", seed=1)
    tf.photo(tmp_path / "x" / "b.png", seed=2)
    tf.photo(tmp_path / "y" / "c.png", seed=3)
    _, run_dir = run_image_stages(recipe("  inputs: ['x/*.jpg', y]\n"), tmp_path)
    assert sorted(os.path.basename(r["path"]) for r in images(run_dir)) == ["a.jpg", "c.png"]


def test_missing_input_is_a_recipe_error_with_its_line(tmp_path):
    (tmp_path / "ok").mkdir()
    with pytest.raises(RecipeError) as err:
        run_image_stages(recipe("  inputs: [ok, nowhere]\n"), tmp_path)
    assert "recipe.yaml:5" in str(err.value) and "no such file or directory" in str(err.value)
    assert "nowhere" in str(err.value)


def test_csv_manifest_gives_category_and_metadata(tmp_path):
    tf.photo(tmp_path / "data" / "刹车片.jpg", seed=1)
    tf.photo(tmp_path / "data" / "dash.png", seed=2)
    (tmp_path / "data" / "list.csv").write_text(
        "\ufeffpath,category,brand,vehicle_model,workshop\n"
        "刹车片.jpg,part_recognition,丰田,卡罗拉 E210,北京店\n"
        "dash.png,fault_diagnosis,BYD,Qin Plus,\n",
        encoding="utf-8",
    )
    _, run_dir = run_image_stages(recipe("  manifest: data/list.csv\n"), tmp_path)
    recs = {os.path.basename(r["path"]): r for r in images(run_dir)}
    assert recs["刹车片.jpg"]["category"] == "part_recognition"
    assert recs["刹车片.jpg"]["metadata"] == {
        "brand": "丰田",
        "vehicle_model": "卡罗拉 E210",
        "workshop": "北京店",
    }
    assert recs["dash.png"]["metadata"] == {"brand": "BYD", "vehicle_model": "Qin Plus"}


def test_jsonl_manifest_and_missing_listed_file(tmp_path):
    tf.photo(tmp_path / "a.png", seed=1)
    (tmp_path / "m.jsonl").write_text(
        json.dumps({"path": "a.png", "category": "manual_parsing", "brand": "Geely", "year": 2021})
        + "\n"
        + json.dumps({"path": "gone.png", "category": "manual_parsing"})
        + "\n",
        encoding="utf-8",
    )
    manifest, run_dir = run_image_stages(recipe("  manifest: m.jsonl\n"), tmp_path)
    (rec,) = images(run_dir)
    assert rec["category"] == "manual_parsing" and rec["metadata"] == {"brand": "Geely", "year": 2021}
    (problem,) = manifest["stages"]["ingest"]["counts"]["problems"]
    assert (
        problem["reason"] == f"file not found: {tmp_path / 'gone.png'} (listed at {tmp_path / 'm.jsonl'}:2); "
        "fix the path in the manifest"
    )


def test_manifest_without_path_column_names_file_and_columns(tmp_path):
    (tmp_path / "m.csv").write_text("image_file,category\na.png,x\n", encoding="utf-8")
    with pytest.raises(StageError) as err:
        run_image_stages(recipe("  manifest: m.csv\n"), tmp_path)
    assert f"{tmp_path / 'm.csv'}:2: no path column" in str(err.value)
    assert "columns found: image_file, category" in str(err.value)


def test_manifest_not_utf8(tmp_path):
    (tmp_path / "m.csv").write_bytes("path,brand\na.png,丰田\n".encode("gbk"))
    with pytest.raises(StageError, match=r"m\.csv: not UTF-8 .*save it as 'CSV UTF-8'"):
        run_image_stages(recipe("  manifest: m.csv\n"), tmp_path)


def test_pdf_pages_rendered_to_files_with_page_range(tmp_path):
    tf.pdf(tmp_path / "manual.pdf", pages=3)
    manifest, run_dir = run_image_stages(
        recipe("  inputs: manual.pdf\n  pdf_dpi: 72\n  pdf_pages: '2-'\n"), tmp_path
    )
    recs = images(run_dir)
    assert [r["sources"] for r in recs] == [
        [{"path": str(tmp_path / "manual.pdf"), "page": p}] for p in (2, 3)
    ]
    for r in recs:
        assert r["path"].startswith("ingest/pages/")  # inside the run: relative, so a copy still works
        assert (r["width"], r["height"]) == (200, 150)
        assert r["id"] == hashlib.sha256((run_dir / r["path"]).read_bytes()).hexdigest()
        assert r["metadata"]["pdf_pages"] == 3
    assert manifest["stages"]["ingest"]["facts"]["pdf_pages"] == 2


def test_manifest_pages_column_overrides(tmp_path):
    tf.pdf(tmp_path / "manual.pdf", pages=3)
    (tmp_path / "m.csv").write_text("path,pages,category\nmanual.pdf,1,manual_parsing\n", encoding="utf-8")
    _, run_dir = run_image_stages(recipe("  manifest: m.csv\n  pdf_dpi: 72\n"), tmp_path)
    (rec,) = images(run_dir)
    assert rec["sources"][0]["page"] == 1 and rec["category"] == "manual_parsing"


def test_bad_page_range_is_a_recipe_error(tmp_path):
    tf.pdf(tmp_path / "manual.pdf")
    with pytest.raises(RecipeError, match=r"ingest\.pdf_pages: page range '3-1'"):
        run_image_stages(recipe("  inputs: manual.pdf\n  pdf_pages: '3-1'\n"), tmp_path)


def test_exact_duplicates_collapse_keeping_every_source(tmp_path):
    src = tf.photo(tmp_path / "in" / "a.jpg", seed=1)
    (tmp_path / "in" / "copy of a.jpg").write_bytes(src.read_bytes())
    (tmp_path / "in" / "再来一张.jpg").write_bytes(src.read_bytes())
    tf.photo(tmp_path / "in" / "b.jpg", seed=2)
    manifest, run_dir = run_image_stages(recipe("  inputs: in\n"), tmp_path)
    recs = images(run_dir)
    assert len(recs) == 2
    a = next(r for r in recs if len(r["sources"]) > 1)
    assert sorted(os.path.basename(s["path"]) for s in a["sources"]) == [
        "a.jpg",
        "copy of a.jpg",
        "再来一张.jpg",
    ]
    assert manifest["stages"]["ingest"]["facts"]["duplicates_collapsed"] == 2


def test_new_file_reruns_stage_and_unchanged_is_skipped(tmp_path):
    tf.photo(tmp_path / "in" / "a.png", seed=1)
    text = recipe("  inputs: in\n")
    first, run_dir = run_image_stages(text, tmp_path)
    again, _ = run_image_stages(text, tmp_path, fresh=False)
    assert again["stages"]["ingest"]["started"] == first["stages"]["ingest"]["started"]  # skipped, up to date
    tf.photo(tmp_path / "in" / "b.png", seed=2)
    third, _ = run_image_stages(text, tmp_path, fresh=False)
    assert third["fingerprints"]["ingest"] != first["fingerprints"]["ingest"]
    assert len(images(run_dir)) == 2


def test_process_workers_give_the_same_records(tmp_path):
    for i in range(4):
        tf.photo(tmp_path / "in" / f"{i}.png", seed=i)
    tf.pdf(tmp_path / "in" / "m.pdf", pages=2)
    _, one = run_image_stages(recipe("  inputs: in\n  pdf_dpi: 72\n"), tmp_path)
    serial = images(one)
    _, two = run_image_stages(
        recipe("  inputs: in\n  pdf_dpi: 72\n").replace("workers: 1", "workers: 2"), tmp_path
    )
    assert [r["id"] for r in images(two)] == [r["id"] for r in serial]
    assert len(serial) == 6


def test_symlink_loop_is_walked_once(tmp_path):
    tf.photo(tmp_path / "in" / "a.png")
    (tmp_path / "in" / "loop").symlink_to(tmp_path / "in")
    _, run_dir = run_image_stages(recipe("  inputs: in\n"), tmp_path)
    assert [os.path.basename(r["path"]) for r in images(run_dir)] == ["a.png"]


def test_no_files_found_is_an_error_that_says_what_was_there(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "scan.heic").write_bytes(b"x")
    with pytest.raises(StageError) as err:
        run_image_stages(recipe("  inputs: in\n"), tmp_path)
    assert str(err.value) == (
        f"ingest: no image or PDF files found in {tmp_path / 'in'} "
        "(only other types: 1 .heic; see ingest.extensions)"
    )


def test_duplicates_merge_in_place_with_categories_and_metadata(tmp_path):
    """The merged record stands where its bytes were first listed; a later listing fills in
    metadata the first lacks and its other category is kept as a note."""
    a = tf.photo(tmp_path / "a.jpg", seed=1)
    tf.photo(tmp_path / "b.jpg", seed=2)
    (tmp_path / "copy.jpg").write_bytes(a.read_bytes())
    rows = [
        {"path": "a.jpg", "category": "dashboard"},
        {"path": "b.jpg", "category": "parts_table", "brand": "B"},
        {"path": "copy.jpg", "category": "manual_parsing", "brand": "A"},
    ]
    (tmp_path / "m.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    manifest, run_dir = run_image_stages(recipe("  manifest: m.jsonl\n"), tmp_path)
    first, second = images(run_dir)
    assert [os.path.basename(s["path"]) for s in first["sources"]] == ["a.jpg", "copy.jpg"]
    assert first["category"] == "dashboard" and first["metadata"]["brand"] == "A"
    assert any("also listed as category 'manual_parsing'" in n for n in first["notes"])
    assert os.path.basename(second["path"]) == "b.jpg" and len(second["sources"]) == 1
    assert manifest["stages"]["ingest"]["facts"]["duplicates_collapsed"] == 1
    assert manifest["stages"]["ingest"]["facts"]["images"] == 2


def test_the_walk_spells_paths_as_pathlib_does(tmp_path, monkeypatch):
    """Files found in folders are named as ``str(Path(folder) / name)`` names them."""
    from pathlib import Path

    from vlkd.plugins.ingest.listing import _suffix, _walk

    (tmp_path / "imgs" / "sub").mkdir(parents=True)
    names = ["a.png", "b.PNG", "c.", "d", "e.tar.gz", "f..jpg", ".hidden.png", "sub/g.jpg"]
    for name in names:
        (tmp_path / "imgs" / name).write_bytes(b"x")
    monkeypatch.chdir(tmp_path)

    def reference(root: Path) -> list[str]:
        import os

        found = []
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            found.extend(str(Path(dirpath) / f) for f in sorted(filenames) if not f.startswith("."))
        return found

    for root in [Path("imgs"), Path("./imgs/"), Path("."), tmp_path / "imgs", Path("imgs/sub")]:
        got = _walk(root)
        assert got == reference(root)
        assert [_suffix(p) for p in got] == [Path(p).suffix.lower() for p in got]

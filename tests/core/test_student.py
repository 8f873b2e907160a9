"""The recipe's student: section: resolution, family detection, old keys, and what stages see."""

from __future__ import annotations

import json
import re

import pytest

from vlkd.core.errors import RecipeError, StageError
from vlkd.core.student import make_student
from vlkd.llamafactory.families import template as lf_template


def test_model_path_hub_id_local_dir_and_bad_names(tmp_path):
    hub = make_student({"model": "Qwen/Qwen2-VL-7B-Instruct", "family": "qwen2_vl"})
    assert hub.path(tmp_path) == "Qwen/Qwen2-VL-7B-Instruct"
    local = tmp_path / "recipes" / "models" / "mine"
    local.mkdir(parents=True)
    (local / "config.json").write_text(json.dumps({"model_type": "qwen2_vl"}))
    (local / "preprocessor_config.json").write_text("{}")
    # relative to the recipe's directory, family from config.json's model_type
    mine = make_student({"model": "models/mine"}, base_dir=str(tmp_path / "recipes"))
    assert mine.family.name == "qwen2_vl"
    assert mine.path(tmp_path / "run") == str(local)
    (local / "preprocessor_config.json").unlink()
    with pytest.raises(StageError, match=r"has no processor"):
        mine.path(tmp_path)
    with pytest.raises(StageError, match="is not a hub id"):
        make_student({"model": "./nowhere", "family": "qwen2_vl"}).path(tmp_path)
    (tmp_path / "weights.bin").write_text("")
    with pytest.raises(StageError, match="is a file"):
        make_student({"model": str(tmp_path / "weights.bin"), "family": "qwen2_vl"}).path(tmp_path)


def test_family_defaults_and_the_old_tiny_name():
    student = make_student("tiny-qwen2-vl")
    assert student.model == "tiny:qwen2_vl" and student.tiny
    assert student.family.name == "qwen2_vl"
    assert student.template == lf_template(student.family)
    assert (student.image_min_pixels, student.image_max_pixels) == (
        student.family.default_min_pixels,
        student.family.default_max_pixels,
    )
    assert make_student({"model": "tiny:qwen2_vl", "template": "mine"}).template == "mine"


def test_family_from_the_hub_id_when_nothing_is_downloaded(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    assert make_student("Qwen/Qwen2-VL-2B-Instruct").family.name == "qwen2_vl"


def test_family_from_the_hugging_face_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    snap = tmp_path / "models--acme--vision-7b" / "snapshots" / "abc"
    snap.mkdir(parents=True)
    (snap / "config.json").write_text(json.dumps({"model_type": "qwen2_vl"}))
    assert make_student("acme/vision-7b").family.name == "qwen2_vl"


RECIPE = "name: r\nstudent:\n{student}\n"


@pytest.mark.parametrize(
    ("section", "message"),
    [
        (
            "  model: tiny:qwen9",
            r"recipe.yaml:3:\d+: student.model: unknown family 'qwen9' in 'tiny:qwen9'.*families: ",
        ),
        (
            "  model: acme/unknown-7b",
            r"student.model: cannot tell the family of 'acme/unknown-7b'.*set student.family",
        ),
        (
            "  model: tiny:qwen2_vl\n  family: gemma9",
            r"recipe.yaml:4:\d+: student.family: unknown family 'gemma9'",
        ),
        (
            "  model: tiny:qwen2_vl\n  cutoff_len: 2",
            r"student.cutoff_len: Input should be greater than or equal to 8",
        ),
        (
            "  model: tiny:qwen2_vl\n  cutof_len: 2",
            r"student.cutof_len: unknown key 'cutof_len' \(did you mean 'cutoff_len'\?\)",
        ),
        (
            "  model: tiny:qwen2_vl\n  image_min_pixels: 9000\n  image_max_pixels: 100",
            r"student: image_min_pixels 9000 > image_max_pixels 100",
        ),
        ("  - tiny:qwen2_vl", r"student: must be a mapping"),
    ],
)
def test_bad_student_sections(vlkd_recipe, vlkd_registry, tmp_path, monkeypatch, section, message):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(RecipeError) as err:
        vlkd_recipe(RECIPE.format(student=section), vlkd_registry())
    assert re.search(message, str(err.value)), str(err.value)


def test_unknown_model_type_lists_the_families(vlkd_recipe, vlkd_registry, tmp_path):
    local = tmp_path / "llava"
    local.mkdir()
    (local / "config.json").write_text(json.dumps({"model_type": "llava"}))
    with pytest.raises(
        RecipeError, match=r"model_type 'llava' is no known student family; families: .*qwen2_vl"
    ):
        vlkd_recipe(RECIPE.format(student="  model: llava"), vlkd_registry())


@pytest.mark.parametrize(
    ("stage", "key", "where"),
    [
        ("train", "student", "student.model"),
        ("train", "cutoff_len", "student.cutoff_len"),
        ("train", "image_max_pixels", "student.image_max_pixels"),
        ("format", "tokenizer", "student.model"),
        ("format", "image_min_pixels", "student.image_min_pixels"),
    ],
)
def test_old_keys_say_where_they_moved(vlkd_recipe, vlkd_registry, stage, key, where):
    plugin = {"train": "peft", "format": "llamafactory"}[stage]
    text = (
        "name: r\nstudent: tiny:qwen2_vl\ningest: {plugin: files, inputs: [.]}\n"
        "teach: {plugin: ocr}\n"
        f"{stage}:\n  plugin: {plugin}\n  {key}: 1024\n"
    )
    with pytest.raises(RecipeError) as err:
        vlkd_recipe(text, vlkd_registry())
    assert re.search(
        rf"recipe.yaml:7:3: {stage}.{key}: '{key}' moved: set {re.escape(where)}", str(err.value)
    ), str(err.value)


def test_resolved_recipe_shows_the_student_and_stages_get_it(vlkd_recipe, vlkd_registry):
    recipe = vlkd_recipe(
        "name: r\nstudent: {model: tiny:qwen2_vl, cutoff_len: 512}\ningest: {plugin: files, inputs: [.]}\n"
        "preprocess: [{plugin: resize}, {plugin: student_resize}]\n",
        vlkd_registry(),
    )
    assert recipe.resolved()["student"] == {
        "model": "tiny:qwen2_vl",
        "family": "qwen2_vl",
        "image_min_pixels": recipe.student.family.default_min_pixels,
        "image_max_pixels": recipe.student.family.default_max_pixels,
        "cutoff_len": 512,
        "template": lf_template(recipe.student.family),
    }
    resize, student_resize = (step.instantiate(recipe.student) for step in recipe.stages["preprocess"].steps)
    assert resize.student is None  # only plugins that read the student get it
    assert student_resize.student == recipe.student


def test_changing_the_student_reruns_only_the_stages_that_read_it(vlkd_recipe, vlkd_registry, tmp_path):
    from vlkd.core.engine import Engine

    def fingerprints(cutoff):
        recipe = vlkd_recipe(
            f"name: r\nstudent: {{model: tiny:qwen2_vl, cutoff_len: {cutoff}}}\n"
            "ingest: {plugin: files, inputs: [.]}\npreprocess: [{plugin: resize}]\n"
            "teach: {plugin: ocr}\nformat: {plugin: llamafactory}\n",
            vlkd_registry(),
        )
        return Engine(recipe, tmp_path / "run")._instantiate()[1]

    a, b = fingerprints(512), fingerprints(1024)
    assert [a[s] == b[s] for s in ("ingest", "preprocess", "teach", "format")] == [True, True, True, False]

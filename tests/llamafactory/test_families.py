"""The LLaMA-Factory mapping of the student families lives in one table (vlkd/llamafactory/
families.py): the families know nothing of LLaMA-Factory, and the teach machinery asks the
student API, not a family module or LLaMA-Factory's defaults."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import vlkd
from vlkd.core.registry import load_registry
from vlkd.core.student import make_student, student_of
from vlkd.llamafactory import families as lf

ROOT = Path(vlkd.__file__).parent
BUILTIN = load_registry(autoload=False).families()


def _vlkd_imports(folder: Path) -> list[str]:
    found = []
    for path in sorted(folder.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            names += [a.name for a in node.names] if isinstance(node, ast.Import) else []
            found += [f"{path.name}: {n}" for n in names if n.startswith("vlkd.")]
    return found


def test_every_built_in_family_has_its_row():
    assert set(lf.FAMILIES) == set(BUILTIN)
    templates = {name: lf.template(family) for name, family in BUILTIN.items()}
    assert templates == {
        "qwen2_vl": "qwen2_vl",
        "qwen2_5_vl": "qwen2_vl",
        "qwen3_vl": "qwen3_vl_nothink",
        "qwen3_5": "qwen3_5",
        "gemma3": "gemma3",
    }
    assert make_student("tiny:qwen3_vl").template == "qwen3_vl_nothink"  # the section's default


def test_the_families_know_nothing_of_llamafactory():
    assert not [
        i for i in _vlkd_imports(ROOT / "students") if i.split(": ")[1].startswith("vlkd.llamafactory")
    ]
    for family in BUILTIN.values():
        assert not [a for a in dir(family) if a.startswith("llamafactory")], family.name


def test_the_teach_machinery_asks_the_student_api():
    crossings = [
        i
        for i in _vlkd_imports(ROOT / "teach")
        if i.split(": ")[1].startswith(("vlkd.students", "vlkd.llamafactory"))
    ]
    assert crossings == []


def test_a_recipe_without_a_student_is_taught_for_the_seeds_student():
    student = student_of(object())
    assert (student.family.name, student.image_min_pixels, student.image_max_pixels) == (
        "qwen2_vl",
        32 * 32,
        768 * 768,
    )


@pytest.mark.parametrize(
    ("family", "size", "expected"),
    [
        ("qwen2_vl", (20, 10), (45, 28)),  # grown to 1,024 px, then each side at least 28 (Qwen2VLPlugin)
        ("qwen3_5", (30, 7000), (30, 5400)),  # an aspect ratio over 200 clamped to 180
        ("gemma3", (20, 10), (45, 22)),  # the base rule only
    ],
)
def test_each_template_s_plugin_scales_as_llamafactory_does(family, size, expected):
    assert lf.prescale(BUILTIN[family], *size, 32 * 32, 768 * 768) == expected


def test_a_family_derived_from_one_in_the_table_takes_its_row_and_others_none():
    from vlkd.students.family import StudentFamily
    from vlkd.students.qwen2_vl import Qwen2VL

    class MyVL(Qwen2VL):
        name = "my_vl"

    class Other(StudentFamily):
        name = "other_vl"

    assert lf.template(MyVL()) == "qwen2_vl" and lf.prescale(MyVL(), 20, 10, 32 * 32, 768 * 768) == (45, 28)
    assert lf.template(Other()) is None and lf.prescale(Other(), 20, 10, 32 * 32, 768 * 768) == (45, 22)

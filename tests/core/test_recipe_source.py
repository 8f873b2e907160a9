import pytest

from vlkd.core.errors import RecipeError
from vlkd.core.recipe_source import load_recipe_source, parse_set


def test_extends_merges_maps_deeply_and_replaces_lists(write):
    write(
        "base/automotive.yaml",
        "name: base\ningest:\n  plugin: counting\n  n: 3\n  label: base\n"
        "preprocess:\n  - {plugin: a}\n  - {plugin: b}\n",
    )
    path = write(
        "brands/byd.yaml",
        "extends: ../base/automotive.yaml\nname: byd\ningest:\n  n: 5\npreprocess:\n  - {plugin: c}\n",
    )
    src = load_recipe_source(path)
    assert src.data == {
        "name": "byd",
        "ingest": {"plugin": "counting", "n": 5, "label": "base"},
        "preprocess": [{"plugin": "c"}],
    }
    # each key remembers the file it came from
    assert str(src.where(("ingest", "label"))).endswith("base/automotive.yaml:5:3")
    assert str(src.where(("ingest", "n"))).endswith("brands/byd.yaml:4:3")
    assert str(src.where(("preprocess", 0))).endswith("brands/byd.yaml:6:5")
    assert len(src.files) == 2


def test_extends_list_later_bases_win(write):
    write("a.yaml", "name: a\ningest: {plugin: counting, n: 1, label: a}\n")
    write("b.yaml", "name: b\ningest: {n: 2}\n")
    src = load_recipe_source(write("c.yaml", "extends: [a.yaml, b.yaml]\nname: c\n"))
    assert src.data["ingest"] == {"plugin": "counting", "n": 2, "label": "a"}


def test_extends_cycle_names_the_chain(write):
    write("a.yaml", "extends: b.yaml\nname: a\n")
    write("b.yaml", "extends: a.yaml\nname: b\n")
    with pytest.raises(RecipeError) as err:
        load_recipe_source(write("a.yaml", "extends: b.yaml\nname: a\n"))
    message = str(err.value)
    assert "extends cycle" in message
    assert message.count("a.yaml") >= 2 and "b.yaml ->" in message


def test_extends_diamonds_read_each_base_once(write):
    # each level extends the one below twice: 2**25 ways down, 26 files
    write("r0.yaml", "name: r0\ningest: {plugin: counting, n: 1}\n")
    for i in range(1, 26):
        write(f"r{i}.yaml", f"extends: [r{i - 1}.yaml, r{i - 1}.yaml]\nname: r{i}\ningest: {{label: l{i}}}\n")
    src = load_recipe_source(write("top.yaml", "extends: [r25.yaml, r12.yaml]\nname: top\n"))
    assert src.data == {
        "name": "top",
        "ingest": {"plugin": "counting", "n": 1, "label": "l12"},
    }  # later bases win
    assert len(src.files) == 27  # each file read once
    assert str(src.where(("ingest", "n"))).endswith("r0.yaml:2:28")


def test_extends_a_shared_base_is_not_changed_by_one_branch(write):
    write("a.yaml", "name: a\ningest: {plugin: counting, n: 1, opts: {x: 1}}\n")
    write("b.yaml", "extends: a.yaml\nname: b\ningest: {opts: {x: 2}}\n")
    src = load_recipe_source(write("c.yaml", "extends: [b.yaml, a.yaml]\nname: c\n"))
    assert src.data["ingest"]["opts"] == {"x": 1}  # a, read once, is still a after b merged onto it
    assert str(src.where(("ingest", "opts", "x"))).endswith("a.yaml:2:41")


def test_extends_missing_base(write):
    with pytest.raises(RecipeError, match=r"r.yaml:1:1: extends: no such file: nope.yaml"):
        load_recipe_source(write("r.yaml", "extends: nope.yaml\nname: r\n"))


def test_env_interpolation_and_default(write, monkeypatch):
    monkeypatch.setenv("VLKD_TEST_MODEL", "gpt-4o")
    monkeypatch.delenv("VLKD_TEST_UNSET", raising=False)
    src = load_recipe_source(
        write(
            "r.yaml",
            "name: r\nteach:\n  model: ${env:VLKD_TEST_MODEL}\n"
            "  base_url: http://${env:VLKD_TEST_UNSET,localhost}:8000/v1\n",
        )
    )
    assert src.data["teach"] == {"model": "gpt-4o", "base_url": "http://localhost:8000/v1"}


def test_missing_env_var_names_variable_and_key(write, monkeypatch):
    monkeypatch.delenv("VLKD_TEST_KEY", raising=False)
    with pytest.raises(RecipeError) as err:
        load_recipe_source(
            write("r.yaml", "name: r\nteach:\n  plugin: openai\n  api_key: ${env:VLKD_TEST_KEY}\n")
        )
    assert str(err.value).endswith(
        "r.yaml:4:3: teach.api_key: environment variable VLKD_TEST_KEY is not set "
        "(set it, or give a default: ${env:VLKD_TEST_KEY,VALUE})"
    )


@pytest.mark.parametrize(
    ("expr", "path", "value"),
    [
        ("teach.model=gpt-4o-mini", ("teach", "model"), "gpt-4o-mini"),
        ("teach.concurrency=8", ("teach", "concurrency"), 8),
        ("train.bf16=false", ("train", "bf16"), False),
        ("ingest.inputs=[a, b]", ("ingest", "inputs"), ["a", "b"]),
        ("teach.temperature=0.5", ("teach", "temperature"), 0.5),
    ],
)
def test_parse_set_types_values_as_yaml(expr, path, value):
    assert parse_set(expr) == (path, value)


def test_set_overrides_creates_and_indexes(write):
    path = write("r.yaml", "name: r\npreprocess:\n  - {plugin: resize, max_side: 1024}\n")
    src = load_recipe_source(path, ["preprocess.0.max_side=512", "teach.plugin=ocr", "name=other"])
    assert src.data == {
        "name": "other",
        "preprocess": [{"plugin": "resize", "max_side": 512}],
        "teach": {"plugin": "ocr"},
    }
    assert str(src.where(("preprocess", 0, "max_side"))) == "--set preprocess.0.max_side=512"


def test_set_without_equals_is_an_error(write):
    with pytest.raises(RecipeError, match="expected KEY=VALUE"):
        load_recipe_source(write("r.yaml", "name: r\n"), ["teach.model"])


def test_recipe_must_be_a_mapping(write):
    with pytest.raises(RecipeError, match=r"r.yaml:1:1: a recipe must be a mapping"):
        load_recipe_source(write("r.yaml", "- a\n- b\n"))

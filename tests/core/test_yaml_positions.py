import pytest

from vlkd.core.errors import RecipeError
from vlkd.core.yaml_positions import load_yaml_with_positions, nearest_location


def test_positions_point_at_keys_and_items():
    text = "name: a\nteach:\n  plugin: openai\n  model: gpt-4o\ninputs:\n  - x\n  - y\n"
    data, pos = load_yaml_with_positions(text, "r.yaml")
    assert data["teach"]["model"] == "gpt-4o"
    assert str(pos[("teach", "model")]) == "r.yaml:4:3"
    assert str(pos[("inputs", 1)]) == "r.yaml:7:5"


def test_nearest_location_falls_back_to_parent():
    _, pos = load_yaml_with_positions("teach:\n  plugin: x\n", "r.yaml")
    assert str(nearest_location(pos, ("teach", "missing", "deeper"))) == "r.yaml:1:1"


def test_syntax_error_has_file_line_column():
    with pytest.raises(RecipeError) as err:
        load_yaml_with_positions("name: a\nteach:\n  plugin: [openai\n  model: x\n", "r.yaml")
    message = str(err.value)
    assert message.startswith("r.yaml:4:")
    assert "YAML syntax error" in message


def test_duplicate_key_is_an_error():
    with pytest.raises(RecipeError, match=r"r.yaml:3:1: teach: duplicate key 'teach'"):
        load_yaml_with_positions("teach: {}\nname: a\nteach: {}\n", "r.yaml")


def test_merge_keys_and_anchors():
    text = "base: &b\n  x: 1\nother:\n  <<: *b\n  y: 2\n"
    data, _ = load_yaml_with_positions(text, "r.yaml")
    assert data["other"] == {"x": 1, "y": 2}

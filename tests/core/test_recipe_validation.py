"""Every recipe error a person can make: message, file and line."""

import pytest

from vlkd.core.errors import RecipeError
from vlkd.core.recipe import build_recipe
from vlkd.core.recipe_source import load_recipe_source
from vlkd.testing.extras import needs


def problems(write, registry, text, name="r.yaml", overrides=()):
    path = write(name, text)
    with pytest.raises(RecipeError) as err:
        build_recipe(load_recipe_source(path, overrides), registry)
    return [p.split(str(path.parent) + "/", 1)[-1] for p in err.value.problems]


def test_valid_recipe(write, registry):
    path = write("r.yaml", "name: r\ningest:\n  plugin: counting\n  n: 3\nreport:\n  plugin: count_report\n")
    recipe = build_recipe(load_recipe_source(path), registry)
    assert list(recipe.stages) == ["ingest", "report"]
    assert recipe.stages["ingest"].steps[0].options.n == 3


def test_unknown_plugin_did_you_mean(write, registry):
    assert problems(write, registry, "name: r\ningest:\n  plugin: countin\n") == [
        "r.yaml:3:3: ingest.plugin: unknown ingestor plugin 'countin' (did you mean 'counting'?); "
        "installed: " + ", ".join(registry.names("ingest"))
    ]


def test_unknown_plugin_lists_installed(write, registry):
    [problem] = problems(write, registry, "name: r\nteach:\n  plugin: opneai\n")
    assert problem.startswith("r.yaml:3:3: teach.plugin: unknown teacher plugin 'opneai'")
    assert "installed: " + ", ".join(registry.names("teach")) in problem


def test_missing_extra_names_the_pip_command(write, registry):
    [problem] = problems(write, registry, "name: r\nteach:\n  plugin: missing_extra\n")
    assert problem == (
        "r.yaml:3:3: teach.plugin: plugin 'missing_extra' needs: pip install \"vlkd[openai]\" "
        "(missing: vlkd_no_such_module_for_tests)"
    )


def test_unknown_key_wrong_type_and_range_all_reported(write, registry):
    found = problems(
        write,
        registry,
        "name: r\ningest:\n  plugin: counting\n  n: zero\n  lable: y\n"
        "report:\n  plugin: count_report\n  title: [1]\n",
    )
    assert found == [
        "r.yaml:4:3: ingest.n: Input should be a valid integer, unable to parse string as an integer",
        "r.yaml:5:3: ingest.lable: unknown key 'lable' (did you mean 'label'?); allowed: api_key, calls_file, "
        "die_at, die_marker, fail_at, hang_at, label, n, on_error, plugin, skip_every, workers",
        "r.yaml:8:3: report.title: Input should be a valid string",
    ]


def test_value_out_of_range(write, registry):
    assert problems(write, registry, "name: r\ningest:\n  plugin: counting\n  n: 0\n") == [
        "r.yaml:4:3: ingest.n: Input should be greater than 0"
    ]


def test_unknown_top_level_key(write, registry):
    [problem] = problems(write, registry, "name: r\nteacher:\n  plugin: ocr\n")
    assert problem.startswith("r.yaml:2:1: teacher: unknown key 'teacher' (did you mean 'teach'?)")


def test_missing_name_and_missing_plugin(write, registry):
    found = problems(write, registry, "ingest:\n  n: 3\n")
    assert found[0].startswith("r.yaml:1:1: <recipe>: required key 'name' is missing")
    assert found[1].startswith("r.yaml:1:1: ingest: missing 'plugin: NAME'; installed ingestors: counting")


def test_error_in_base_points_at_base_file(write, registry):
    write("base/automotive.yaml", "name: base\ningest:\n  plugin: counting\n  n: -1\n")
    found = problems(write, registry, "extends: base/automotive.yaml\nname: byd\n", name="byd.yaml")
    assert found == ["base/automotive.yaml:4:3: ingest.n: Input should be greater than 0"]


def test_error_from_set_points_at_set(write, registry):
    found = problems(write, registry, "name: r\ningest:\n  plugin: counting\n", overrides=["ingest.n=-2"])
    assert found == ["--set ingest.n=-2: ingest.n: Input should be greater than 0"]


def test_missing_file_resolved_against_the_recipe_that_names_it(write, registry):
    write("base/prompt.txt", "hello")
    write("base/r.yaml", "name: base\ningest:\n  plugin: needs_file\n  prompt_file: prompt.txt\n")
    recipe = build_recipe(
        load_recipe_source(write("brand.yaml", "extends: base/r.yaml\nname: b\n")), registry
    )
    assert recipe.stages["ingest"].steps[0].options.prompt_file.read_text() == "hello"
    found = problems(write, registry, "name: r\ningest:\n  plugin: needs_file\n  prompt_file: nope.txt\n")
    assert len(found) == 1
    assert found[0].startswith("r.yaml:4:3: ingest.prompt_file: no such file or directory: ")
    assert found[0].endswith("/nope.txt")


def test_stage_needing_input_from_a_missing_stage(write, registry):
    found = problems(write, registry, "name: r\nformat:\n  plugin: x\n")
    # plugin errors come first; once the plugin is valid the missing input is reported
    assert any("format.plugin: unknown format plugin 'x'" in p for p in found)


def test_stage_without_its_input(write, vlkd_registry):
    from vlkd.core.hookspecs import hookimpl
    from vlkd.core.plugin import StagePlugin
    from vlkd.testing import fixture_plugins

    class Exporter(StagePlugin):
        pass

    class Plugins:
        @hookimpl
        def vlkd_register_formats(self, register):
            register("t_export", Exporter)

    registry = vlkd_registry(fixture_plugins, Plugins())
    found = problems(write, registry, "name: r\nformat:\n  plugin: t_export\n")
    assert found == [
        "r.yaml:2:1: format: needs pairs from an earlier stage: add a 'teach' or 'verify' or 'review' or 'split' section"
    ]


def test_bad_name(write, registry):
    assert problems(write, registry, "name: ../evil\n") == [
        "r.yaml:1:1: name: must be letters, digits, '.', '_' or '-' (it names the run directory)"
    ]


def test_secrets_are_redacted_in_the_resolved_recipe(write, registry, monkeypatch):
    monkeypatch.setenv("VLKD_TEST_SECRET", "sk-test-very-secret")
    path = write("r.yaml", "name: r\ningest:\n  plugin: counting\n  api_key: ${env:VLKD_TEST_SECRET}\n")
    recipe = build_recipe(load_recipe_source(path), registry)
    assert recipe.stages["ingest"].steps[0].options.api_key.get_secret_value() == "sk-test-very-secret"
    assert "sk-test-very-secret" not in str(recipe.resolved())
    assert "sk-test-very-secret" not in recipe.hash


def test_secret_values_never_appear_in_errors(write, registry, monkeypatch):
    monkeypatch.setenv("VLKD_TEST_SECRET", "sk-test-very-secret")
    found = problems(write, registry, "name: r\ningest:\n  plugin: counting\n  n: ${env:VLKD_TEST_SECRET}\n")
    assert found and all("sk-test" not in p for p in found)


@needs("train")
def test_a_trainer_may_bring_its_own_dataset(write, registry):
    path = write("r.yaml", "name: r\nstudent: tiny-qwen2-vl\ntrain:\n  plugin: peft\n  dataset: data/lf\n")
    recipe = build_recipe(load_recipe_source(path), registry)
    assert recipe.stages["train"].steps[0].options.dataset == path.parent / "data" / "lf"


def test_problems_are_listed_in_file_order(write, registry):
    # the checks run top-level keys first; the reader meets ingest's problem first
    found = problems(
        write, registry, "name: r\ningest:\n  plugin: counting\n  n: zero\nreprot:\n  plugin: x\n"
    )
    assert [p.split(":")[1] for p in found] == ["4", "5"]
    assert found[1].startswith("r.yaml:5:1: reprot: unknown key 'reprot' (did you mean 'report'?)")


def test_a_swapped_pair_of_letters_suggests_the_word_it_spells(write, vlkd_registry):
    from vlkd.core.errors import did_you_mean
    from vlkd.testing import fixture_plugins

    assert did_you_mean("modle", ["mode", "model"]) == " (did you mean 'model'?)"
    assert did_you_mean("mdoe", ["model", "mode"]) == " (did you mean 'mode'?)"
    found = problems(
        write,
        vlkd_registry(fixture_plugins),
        "name: r\nteach:\n  plugin: openai\n  modle: gpt-4o\n",
    )
    assert any("teach.modle: unknown key 'modle' (did you mean 'model'?)" in p for p in found), found

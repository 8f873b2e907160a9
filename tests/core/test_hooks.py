"""Every hook of ``vlkd.core.hookspecs``, tested under its own name (``test_hook_<name>``).

datasette's two rules, kept by the last two tests here: every hook is in the plugin
reference (docs/plugins.md) and every hook has a test named after it.
"""

import contextlib
import re
from pathlib import Path

import pytest

from vlkd.core import hookspecs
from vlkd.core.engine import Engine
from vlkd.core.errors import StageError
from vlkd.core.hookspecs import hookimpl
from vlkd.core.plugin import Preprocessor, StagePlugin
from vlkd.core.progress import Reporter
from vlkd.core.stages import STAGE_KINDS
from vlkd.core.verify import Verifier
from vlkd.teach import Teacher
from vlkd.testing import fixture_plugins

ROOT = Path(__file__).resolve().parents[2]
HOOKS = sorted(name for name in dir(hookspecs) if name.startswith("vlkd_"))


# -- registration: a class registered through the hook is the one a recipe gets ------------


def registers(vlkd_registry, vlkd_recipe, stage: str, base: type) -> None:
    kind = next(k for k in STAGE_KINDS if k.name == stage)
    cls = type(f"Hooked{stage.title()}", (base,), {"__doc__": f"A {kind.singular} from a test."})

    class Plugin:
        pass

    def register_it(register):
        register("hooked", cls)

    setattr(Plugin, kind.hook, staticmethod(hookimpl(register_it)))
    registry = vlkd_registry(Plugin(), builtins=False)
    assert registry.names(stage) == ["hooked"]
    info = registry.get(stage, "hooked")
    assert info.cls is cls and info.description == f"A {kind.singular} from a test."
    if stage == "ingest":  # a stage that needs no input validates alone in a recipe
        recipe = vlkd_recipe({"name": "t", stage: {"plugin": "hooked"}}, registry)
        assert [s.info.cls for s in recipe.stages[stage].steps] == [cls]


def test_hook_vlkd_register_ingestors(vlkd_registry, vlkd_recipe):
    registers(vlkd_registry, vlkd_recipe, "ingest", StagePlugin)


def test_hook_vlkd_register_preprocessors(vlkd_registry, vlkd_recipe):
    registers(vlkd_registry, vlkd_recipe, "preprocess", Preprocessor)


def test_hook_vlkd_register_teachers(vlkd_registry, vlkd_recipe):
    registers(vlkd_registry, vlkd_recipe, "teach", Teacher)


def test_hook_vlkd_register_verifiers(vlkd_registry, vlkd_recipe):
    registers(vlkd_registry, vlkd_recipe, "verify", Verifier)


def test_hook_vlkd_register_reviewers(vlkd_registry, vlkd_recipe):
    registers(vlkd_registry, vlkd_recipe, "review", StagePlugin)


def test_hook_vlkd_register_splitters(vlkd_registry, vlkd_recipe):
    registers(vlkd_registry, vlkd_recipe, "split", StagePlugin)


def test_hook_vlkd_register_formats(vlkd_registry, vlkd_recipe):
    registers(vlkd_registry, vlkd_recipe, "format", StagePlugin)


def test_hook_vlkd_register_trainers(vlkd_registry, vlkd_recipe):
    registers(vlkd_registry, vlkd_recipe, "train", StagePlugin)


def test_hook_vlkd_register_evaluators(vlkd_registry, vlkd_recipe):
    registers(vlkd_registry, vlkd_recipe, "evaluate", StagePlugin)


def test_hook_vlkd_register_reporters(vlkd_registry, vlkd_recipe):
    registers(vlkd_registry, vlkd_recipe, "report", StagePlugin)


# (test_hook_vlkd_register_commands is in test_commands_hook.py)


def test_hook_vlkd_register_students(vlkd_registry, vlkd_recipe):
    from vlkd.core.errors import PluginError
    from vlkd.students.qwen2_vl import Qwen2VL

    class MyVL(Qwen2VL):
        name = "my_vl"
        model_types = ("my_vl",)
        hub_names = ("my-vl",)

    class Plugin:
        @hookimpl
        def vlkd_register_students(self, register):
            register("my_vl", MyVL)

    registry = vlkd_registry(Plugin())
    assert isinstance(registry.families()["my_vl"], MyVL)
    recipe = vlkd_recipe({"name": "t", "student": "acme/my-vl-7b"}, registry)
    assert recipe.student.family.name == "my_vl" and recipe.student.template == "qwen2_vl"

    class Twice:
        @hookimpl
        def vlkd_register_students(self, register):
            register("qwen2_vl", Qwen2VL)

    with pytest.raises(PluginError, match=r"student family 'qwen2_vl' is registered twice: by .*vlkd 0"):
        vlkd_registry(Twice())

    class Misnamed:
        @hookimpl
        def vlkd_register_students(self, register):
            register("other", MyVL)

    with pytest.raises(PluginError, match="registered as 'other' but its class says name = 'my_vl'"):
        vlkd_registry(Misnamed())


# -- lifecycle: observers see the run, and a failure ------------------------------------------

RECIPE = "name: t\ningest:\n  plugin: counting\n  n: 2\n{extra}report:\n  plugin: count_report\n"


class Observer:
    def __init__(self):
        self.seen = []

    @hookimpl
    def vlkd_run_start(self, run):
        self.seen.append(("run_start", run.recipe.name, run.run_dir.path.name))

    @hookimpl
    def vlkd_stage_start(self, run, stage):
        self.seen.append(("stage_start", stage))

    @hookimpl
    def vlkd_stage_end(self, run, stage, result):
        self.seen.append(("stage_end", stage, result["status"], result.get("counts", {}).get("ok")))

    @hookimpl
    def vlkd_run_end(self, run, status):
        self.seen.append(("run_end", status))


@pytest.fixture
def observe(vlkd_registry, vlkd_recipe, vlkd_run_dir):
    def go(extra=""):
        observer = Observer()
        recipe = vlkd_recipe(RECIPE.format(extra=extra), vlkd_registry(fixture_plugins, observer))
        with contextlib.suppress(StageError):  # a failing run is observed too
            Engine(recipe, vlkd_run_dir, reporter=Reporter(quiet=True)).run()
        return observer.seen

    return go


def test_hook_vlkd_run_start(observe):
    assert observe()[0] == ("run_start", "t", "run")


def test_hook_vlkd_stage_start(observe):
    assert [s for s in observe() if s[0] == "stage_start"] == [
        ("stage_start", "ingest"),
        ("stage_start", "report"),
    ]
    assert [s for s in observe() if s[0] == "stage_start"] == []  # skipped as up to date: not started


def test_hook_vlkd_stage_end(observe):
    assert [s for s in observe() if s[0] == "stage_end"] == [
        ("stage_end", "ingest", "done", 2),
        ("stage_end", "report", "done", 2),
    ]


def test_hook_vlkd_run_end(observe):
    assert observe()[-1] == ("run_end", "done")


def test_hook_vlkd_run_end_on_failure(observe):
    seen = observe("  fail_at: 1\n  on_error: fail\n")
    assert seen[-1] == ("run_end", "failed")


def test_hook_vlkd_report_sections(vlkd_plugin_manager, monkeypatch):
    from vlkd.core import registry
    from vlkd.core.report_parts import ReportSection, ReportTable, report_sections
    from vlkd.core.results import Manifest

    class Adds:
        @hookimpl
        def vlkd_report_sections(self, manifest, add):
            table = ReportTable("t", "Stages", ["stage"], [[name] for name in manifest.stages])
            add(ReportSection("From a plugin", [f"{len(manifest.stages)} stages"], [table], "mine"))

    def manager(**kwargs):
        pm = registry.plugin_manager(autoload=False)
        pm.register(Adds())
        return pm

    monkeypatch.setattr(registry, "get_plugin_manager", manager)
    [section] = report_sections(Manifest(stages={"ingest": {}, "teach": {}}))
    assert (section.title, section.lines, section.anchor) == ("From a plugin", ["2 stages"], "mine")
    assert section.tables[0].rows == [["ingest"], ["teach"]]


# -- datasette's rules --------------------------------------------------------------------


def test_every_hook_is_in_the_plugin_reference():
    reference = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^### `(vlkd_\w+)", reference, re.M))
    assert not set(HOOKS) - documented, f"hooks missing from docs/plugins.md: {set(HOOKS) - documented}"
    assert not documented - set(HOOKS), (
        f"docs/plugins.md documents hooks that do not exist: {documented - set(HOOKS)}"
    )


def test_every_hook_has_a_test_named_after_it():
    tests = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "tests").rglob("test_*.py"))
    untested = [h for h in HOOKS if not re.search(rf"^def test_hook_{h}\(", tests, re.M)]
    assert not untested, f"hooks without a test named test_hook_<hook> (see CONTRIBUTING.md): {untested}"

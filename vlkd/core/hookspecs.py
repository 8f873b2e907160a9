"""The vlkd plugin API: every hook a plugin can implement.

A plugin is a module or object with functions marked ``@vlkd.hookimpl``, installed
through the ``vlkd`` entry-point group::

    # pyproject.toml of your package
    [project.entry-points.vlkd]
    my_plugin = "my_package.plugin"

    # my_package/plugin.py
    from vlkd.api import hookimpl

    @hookimpl
    def vlkd_register_preprocessors(register):
        register("sharpen", Sharpen)

``vlkd.api`` is the public surface for plugin authors (``hookimpl``, the plugin base
classes, option types, records, errors); ``@vlkd.hookimpl`` is the same marker.

Registration hooks (one per stage kind) receive a ``register(name, plugin_class)``
callback. Names are unique per kind across all installed packages: registering a taken
name is an error that names both distributions. The built-in plugins in
``vlkd.plugins`` use exactly these hooks.

``vlkd_register_commands`` adds command-line commands beside a plugin's code.

Lifecycle hooks are for observers (loggers, trackers, notifiers); they must not change
the run's outputs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import typer

    from vlkd.core.context import RunInfo
    from vlkd.core.plugin import Plugin
    from vlkd.core.report_parts import ReportSection
    from vlkd.core.results import Manifest
    from vlkd.students.family import StudentFamily

hookspec = pluggy.HookspecMarker("vlkd")
hookimpl = pluggy.HookimplMarker("vlkd")

Register = Callable[[str, "type[Plugin]"], None]


# -- registration: one hook per stage kind ---------------------------------------------------


@hookspec
def vlkd_register_ingestors(register: Register) -> None:
    """Register ``ingest`` plugins: ``StagePlugin`` subclasses that list the input images and
    write ``ImageRecord`` lines to ``ctx.output("images")``."""


@hookspec
def vlkd_register_preprocessors(register: Register) -> None:
    """Register ``preprocess`` steps: ``Preprocessor`` subclasses whose ``apply(image, record)``
    returns the transformed image (or raises ``SkipItem``). Steps run in worker processes."""


@hookspec
def vlkd_register_teachers(register: Register) -> None:
    """Register ``teach`` plugins: ``vlkd.teach.Teacher`` subclasses that turn one image
    and prompt into one response. Concurrency, rate limits, retries, the response cache and
    cost accounting are done by the core for every teacher."""


@hookspec
def vlkd_register_verifiers(register: Register) -> None:
    """Register ``verify`` checks: ``vlkd.api.Verifier`` subclasses whose
    ``check(image, pairs, found)`` reads one image and its pairs and raises doubts with
    ``found.flag(pair, flag, reason)``. A check never changes a question or an answer; the
    stage journals each image's flags (resumable per image) and drops flagged pairs only
    where the recipe says ``drop: [flag, ...]``. ``start(ctx, images, pairs)`` runs once
    before the per-image loop, for checks that need every image or a teacher's services."""


@hookspec
def vlkd_register_reviewers(register: Register) -> None:
    """Register ``review`` plugins: ``StagePlugin`` subclasses that read ``pairs`` and write the
    reviewed ``pairs`` (with ``review`` status set)."""


@hookspec
def vlkd_register_splitters(register: Register) -> None:
    """Register ``split`` plugins: ``StagePlugin`` subclasses that assign each pair's ``split``."""


@hookspec
def vlkd_register_formats(register: Register) -> None:
    """Register ``format`` plugins: ``StagePlugin`` subclasses that export the pairs as a
    training dataset into ``ctx.output("dataset")``."""


@hookspec
def vlkd_register_trainers(register: Register) -> None:
    """Register ``train`` plugins: ``StagePlugin`` subclasses that train the student on the
    dataset and save the result (an adapter) into ``ctx.output("model")``."""


@hookspec
def vlkd_register_evaluators(register: Register) -> None:
    """Register ``evaluate`` plugins: ``StagePlugin`` subclasses that score base and tuned
    students and write ``ctx.output("metrics")``."""


@hookspec
def vlkd_register_reporters(register: Register) -> None:
    """Register ``report`` plugins: ``StagePlugin`` subclasses that render the run's report."""


@hookspec
def vlkd_register_students(register: Callable[[str, type[StudentFamily]], None]) -> None:
    """Register student families: ``vlkd.students.family.StudentFamily`` subclasses that hold
    all vlkd knows about one kind of vision-language model (transformers classes, resize rule
    and visual tokens, image placeholder, LLaMA-Factory template, chat template and special
    tokens, LoRA targets, which trainers train it, how to build a tiny one offline). The
    recipe's ``student.family`` names one; ``vlkd student families`` lists them."""


# -- the command line ------------------------------------------------------------------------


@hookspec
def vlkd_register_commands(app: typer.Typer) -> None:
    """Add commands or command groups to the ``vlkd`` command line.

    ``app`` is the root ``typer.Typer``: ``app.command("name")(function)`` adds a command,
    ``app.add_typer(group, name="name")`` a group (``vlkd name ...``). It is called at every
    start of the CLI, before ``--help`` is shown, so import nothing heavy at module level
    and import what a command needs inside its function. A command raises ``VlkdError`` for
    a user error (one line, exit status 2). A name already taken (by vlkd or another plugin)
    is an error naming both distributions. The built-in groups in ``vlkd/commands/`` use
    this hook.
    """


# -- the report ---------------------------------------------------------------------------


@hookspec
def vlkd_report_sections(manifest: Manifest, add: Callable[[ReportSection], None]) -> None:
    """Add sections to a run's report (pytest's ``pytest_terminal_summary``): read what you need
    from ``manifest`` (``vlkd.api.Manifest``: each stage's entry, its ``facts``) and call
    ``add(vlkd.api.ReportSection(title, lines, tables, anchor))`` for each section, with
    ``vlkd.api.ReportTable`` tables of formatted cells. Called by the report stage and
    ``vlkd report``; a plugin that has nothing to say adds nothing. The verify package adds its
    checks section this way, without importing the report plugin."""


# -- lifecycle: observers ------------------------------------------------------------------


@hookspec
def vlkd_run_start(run: RunInfo) -> None:
    """A run begins: the recipe is valid and the run directory is ready."""


@hookspec
def vlkd_run_end(run: RunInfo, status: str) -> None:
    """A run ends; ``status`` is ``done``, ``waiting`` (a stage waits for people, e.g. the experts'
    review: later stages wait, the exit status is 0), ``failed`` or ``interrupted``."""


@hookspec
def vlkd_stage_start(run: RunInfo, stage: str) -> None:
    """A stage starts (it is not called for stages skipped as up to date)."""


@hookspec
def vlkd_stage_end(run: RunInfo, stage: str, result: dict[str, Any]) -> None:
    """A stage ends; ``result`` is its manifest entry (status, counts, wall time, usage)."""

"""The public surface for plugin authors: everything a plugin needs, from one module.

::

    from vlkd.api import PluginOptions, Preprocessor, hookimpl

Importing this module is cheap (pluggy only): every other name is imported the first time
it is used, so a plugin's command-line code can import ``hookimpl`` from here at CLI
start-up without loading pydantic. Names not listed here are internal and may change.

The built-in plugins (``vlkd/plugins/``) import vlkd's engine only from here
(``tests/core/test_plugin_imports.py`` keeps it so), so this door holds all they need:

- **plugin bases and what a stage sees**: ``Plugin``, ``StagePlugin``, ``Preprocessor``,
  ``renamed``; ``StageContext`` (``ctx.load(name)``/``ctx.save(name, records)`` by the
  catalog's artifact names, ``ctx.input``/``ctx.output`` for a directory, ``ctx.map_items``,
  ``ctx.make_plugin(kind, options)`` for another installed plugin), ``RunInfo``, ``Usage``,
  ``ItemCounts``, ``StageConfig``, ``Reporter``; ``KINDS_BY_NAME`` (the stage kinds),
  ``ARTIFACT_PATHS`` (the catalog's file names), ``load_artifact(name, path)`` (an artifact
  read outside a stage, by a command), ``fingerprint_options`` (what of an options
  model counts towards re-running a stage), ``find_plugin(kind, name)`` (a plugin class where
  there is no context: an option validator), ``stage_context_outside_a_recipe`` (benchmarks
  and notebooks);
- **options**: ``Options``, ``PluginOptions``, ``RecipePath``, ``ExistingPath``, ``OneOrMany``,
  ``OnError``, ``RUN_ONLY``;
- **records and what stages pass on**: ``Record``, ``ImageRecord``, ``QARecord``, ``Flag``,
  ``Provenance``, ``Source``, ``ReviewStatus``, ``Split``, ``sha256_bytes``; ``Metrics``,
  ``Prediction``, ``Manifest`` (``metrics.json``, ``predictions.jsonl``, ``manifest.json``);
  ``DatasetCard``, ``ModelCard`` (a format's and a trainer's directories); ``ReportSection``,
  ``ReportTable``, ``report_sections(manifest)`` (what plugins add to a report through
  ``vlkd_report_sections``);
- **files** (prefer ``ctx.load``/``ctx.save``): ``read_images``, ``read_pairs``, ``write_records``,
  ``scan_records``/``record_at`` (byte offsets instead of records), ``image_path`` (the one
  resolver of an image record's path), ``read_json``, ``read_jsonl``, ``write_json_atomic``,
  ``write_jsonl_atomic``, ``JsonlAppender``, ``parse_line`` (one JSONL line, torn or named at file:line), ``file_problem``, ``printable_name``, ``load_yaml_file``
  and ``nearest_location`` (YAML with each key's file:line:col, for a plugin's own YAML files);
- **the run directory**: ``RunDir``, ``MANIFEST_TIME``, ``DECISIONS_DIR``;
- **students**: ``StudentFamily``, ``Student``, ``make_student``, ``family_of``, ``hub_cache_file``, ``local_dir``;
- **errors**: ``VlkdError``, ``RecipeError``, ``PluginError``, ``StageError``, ``SkipItem``,
  ``RunInterrupted``, ``StageWaiting``, ``did_you_mean``;
- **teachers**: ``Teacher``, ``TeachRequest``, ``TeachResponse``, ``TeacherOptions``,
  ``APITeacherOptions``, ``PromptOptions``, ``PromptPack``, ``Price``, ``TeacherError``,
  ``TransientError``, ``FatalError``, ``http_error``, ``retry_after_seconds``,
  ``negatives_wanted``, ``is_header_row``/``unquote_cell`` (the CSV rules of teachers' answers),
  ``redact_url``, ``redact_query``, ``url_secrets``, ``url_basic_auth``, ``PUBLIC_QUERY`` (keys
  out of what is written), ``BatchAPI``, ``BatchItem``, ``BatchState``, ``Undecided`` (a
  provider's batch endpoints), ``run_teach``/``estimate_teach`` (the teach driver, for a check
  that asks a teacher);
- **verify checks**: ``Verifier``, ``VerifierOptions``, ``Findings``, ``UNVERIFIABLE``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from vlkd.core.hookspecs import Register, hookimpl

if TYPE_CHECKING:  # what type checkers and editors see; at run time the names load lazily
    from vlkd.core.artifacts import (
        DatasetCard,
        ModelCard,
        image_path,
        read_images,
        read_pairs,
        record_at,
        scan_records,
        write_records,
    )
    from vlkd.core.catalog import ARTIFACT_PATHS
    from vlkd.core.catalog import load as load_artifact
    from vlkd.core.context import RunInfo, StageContext, Usage, stage_context_outside_a_recipe
    from vlkd.core.counts import ItemCounts
    from vlkd.core.cpus import usable_cpus
    from vlkd.core.engine import _fingerprint_options as fingerprint_options
    from vlkd.core.errors import (
        PluginError,
        RecipeError,
        RunInterrupted,
        SkipItem,
        StageError,
        StageWaiting,
        VlkdError,
        did_you_mean,
    )
    from vlkd.core.jsonl import (
        JsonlAppender,
        parse_line,
        read_json,
        read_jsonl,
        write_json_atomic,
        write_jsonl_atomic,
    )
    from vlkd.core.options import (
        RUN_ONLY,
        ExistingPath,
        OneOrMany,
        OnError,
        Options,
        PluginOptions,
        RecipePath,
    )
    from vlkd.core.plugin import Plugin, Preprocessor, StagePlugin, renamed
    from vlkd.core.progress import Reporter
    from vlkd.core.recipe import StageConfig
    from vlkd.core.records import (
        Flag,
        ImageRecord,
        Provenance,
        QARecord,
        Record,
        ReviewStatus,
        Source,
        Split,
        sha256_bytes,
    )
    from vlkd.core.registry import find_plugin
    from vlkd.core.report_parts import ReportSection, ReportTable, report_sections
    from vlkd.core.results import Manifest, Metrics, Prediction
    from vlkd.core.rundir import DECISIONS_DIR, MANIFEST_TIME, RunDir
    from vlkd.core.safe_files import file_problem, printable_name
    from vlkd.core.stages import KINDS_BY_NAME
    from vlkd.core.student import Student, family_of, hub_cache_file, local_dir, make_student
    from vlkd.core.verify import UNVERIFIABLE, Findings, Verifier, VerifierOptions
    from vlkd.core.yaml_positions import load_yaml_file, nearest_location
    from vlkd.students.family import StudentFamily
    from vlkd.teach import (
        APITeacherOptions,
        FatalError,
        Price,
        PromptOptions,
        Teacher,
        TeacherError,
        TeacherOptions,
        TeachRequest,
        TeachResponse,
        TransientError,
        http_error,
        retry_after_seconds,
    )
    from vlkd.teach.batch_api import BatchAPI, BatchItem, BatchState, Undecided
    from vlkd.teach.estimate import estimate as estimate_teach
    from vlkd.teach.options import PUBLIC_QUERY, redact_query, redact_url, url_basic_auth, url_secrets
    from vlkd.teach.pairs import negatives_wanted
    from vlkd.teach.parsing import _is_header as is_header_row
    from vlkd.teach.parsing import _unquote as unquote_cell
    from vlkd.teach.prompts import PromptPack
    from vlkd.teach.run import run_teach

_LAZY: dict[str, str] = {  # name -> "module" (the same name there) or "module:name"
    # plugin base classes and what a stage sees
    "Plugin": "vlkd.core.plugin",
    "StagePlugin": "vlkd.core.plugin",
    "Preprocessor": "vlkd.core.plugin",
    "renamed": "vlkd.core.plugin",
    "StageContext": "vlkd.core.context",
    "Usage": "vlkd.core.context",
    "RunInfo": "vlkd.core.context",
    "ItemCounts": "vlkd.core.counts",
    "StageConfig": "vlkd.core.recipe",
    "Reporter": "vlkd.core.progress",
    "KINDS_BY_NAME": "vlkd.core.stages",
    "ARTIFACT_PATHS": "vlkd.core.catalog",
    "load_artifact": "vlkd.core.catalog:load",
    "fingerprint_options": "vlkd.core.engine:_fingerprint_options",
    "find_plugin": "vlkd.core.registry",
    "stage_context_outside_a_recipe": "vlkd.core.context",
    "usable_cpus": "vlkd.core.cpus",
    # option models and types
    "Options": "vlkd.core.options",
    "PluginOptions": "vlkd.core.options",
    "RecipePath": "vlkd.core.options",
    "ExistingPath": "vlkd.core.options",
    "OneOrMany": "vlkd.core.options",
    "OnError": "vlkd.core.options",
    "RUN_ONLY": "vlkd.core.options",
    # records, and what later stages read
    "Record": "vlkd.core.records",
    "ImageRecord": "vlkd.core.records",
    "QARecord": "vlkd.core.records",
    "Flag": "vlkd.core.records",
    "Provenance": "vlkd.core.records",
    "Source": "vlkd.core.records",
    "ReviewStatus": "vlkd.core.records",
    "Split": "vlkd.core.records",
    "sha256_bytes": "vlkd.core.records",
    "Metrics": "vlkd.core.results",
    "Prediction": "vlkd.core.results",
    "Manifest": "vlkd.core.results",
    "ReportSection": "vlkd.core.report_parts",
    "ReportTable": "vlkd.core.report_parts",
    "report_sections": "vlkd.core.report_parts",
    "DatasetCard": "vlkd.core.artifacts",
    "ModelCard": "vlkd.core.artifacts",
    # reading and writing artifacts and files (prefer ctx.load/ctx.save)
    "read_images": "vlkd.core.artifacts",
    "read_pairs": "vlkd.core.artifacts",
    "write_records": "vlkd.core.artifacts",
    "scan_records": "vlkd.core.artifacts",
    "record_at": "vlkd.core.artifacts",
    "image_path": "vlkd.core.artifacts",
    "read_json": "vlkd.core.jsonl",
    "read_jsonl": "vlkd.core.jsonl",
    "write_json_atomic": "vlkd.core.jsonl",
    "write_jsonl_atomic": "vlkd.core.jsonl",
    "JsonlAppender": "vlkd.core.jsonl",
    "parse_line": "vlkd.core.jsonl",
    "file_problem": "vlkd.core.safe_files",
    "printable_name": "vlkd.core.safe_files",
    "load_yaml_file": "vlkd.core.yaml_positions",
    "nearest_location": "vlkd.core.yaml_positions",
    # the run directory
    "RunDir": "vlkd.core.rundir",
    "MANIFEST_TIME": "vlkd.core.rundir",
    "DECISIONS_DIR": "vlkd.core.rundir",
    # students
    "StudentFamily": "vlkd.students.family",
    "Student": "vlkd.core.student",
    "make_student": "vlkd.core.student",
    "family_of": "vlkd.core.student",
    "hub_cache_file": "vlkd.core.student",
    "local_dir": "vlkd.core.student",
    # errors
    "VlkdError": "vlkd.core.errors",
    "RecipeError": "vlkd.core.errors",
    "PluginError": "vlkd.core.errors",
    "StageError": "vlkd.core.errors",
    "SkipItem": "vlkd.core.errors",
    "RunInterrupted": "vlkd.core.errors",
    "StageWaiting": "vlkd.core.errors",
    "did_you_mean": "vlkd.core.errors",
    # teachers
    "Teacher": "vlkd.teach",
    "TeachRequest": "vlkd.teach",
    "TeachResponse": "vlkd.teach",
    "TeacherOptions": "vlkd.teach",
    "APITeacherOptions": "vlkd.teach",
    "PromptOptions": "vlkd.teach",
    "Price": "vlkd.teach",
    "TeacherError": "vlkd.teach",
    "TransientError": "vlkd.teach",
    "FatalError": "vlkd.teach",
    "http_error": "vlkd.teach",
    "retry_after_seconds": "vlkd.teach",
    "PromptPack": "vlkd.teach.prompts",
    "negatives_wanted": "vlkd.teach.pairs",
    "is_header_row": "vlkd.teach.parsing:_is_header",
    "unquote_cell": "vlkd.teach.parsing:_unquote",
    "redact_url": "vlkd.teach.options",
    "redact_query": "vlkd.teach.options",
    "url_secrets": "vlkd.teach.options",
    "url_basic_auth": "vlkd.teach.options",
    "PUBLIC_QUERY": "vlkd.teach.options",
    "BatchAPI": "vlkd.teach.batch_api",
    "BatchItem": "vlkd.teach.batch_api",
    "BatchState": "vlkd.teach.batch_api",
    "Undecided": "vlkd.teach.batch_api",
    "run_teach": "vlkd.teach.run",
    "estimate_teach": "vlkd.teach.estimate:estimate",
    # verify checks
    "Verifier": "vlkd.core.verify",
    "VerifierOptions": "vlkd.core.verify",
    "Findings": "vlkd.core.verify",
    "UNVERIFIABLE": "vlkd.core.verify",
}

__all__ = [
    "ARTIFACT_PATHS",
    "DECISIONS_DIR",
    "KINDS_BY_NAME",
    "MANIFEST_TIME",
    "PUBLIC_QUERY",
    "RUN_ONLY",
    "UNVERIFIABLE",
    "APITeacherOptions",
    "BatchAPI",
    "BatchItem",
    "BatchState",
    "DatasetCard",
    "ExistingPath",
    "FatalError",
    "Findings",
    "Flag",
    "ImageRecord",
    "ItemCounts",
    "JsonlAppender",
    "Manifest",
    "Metrics",
    "ModelCard",
    "OnError",
    "OneOrMany",
    "Options",
    "Plugin",
    "PluginError",
    "PluginOptions",
    "Prediction",
    "Preprocessor",
    "Price",
    "PromptOptions",
    "PromptPack",
    "Provenance",
    "QARecord",
    "RecipeError",
    "RecipePath",
    "Record",
    "Register",
    "ReportSection",
    "ReportTable",
    "Reporter",
    "ReviewStatus",
    "RunDir",
    "RunInfo",
    "RunInterrupted",
    "SkipItem",
    "Source",
    "Split",
    "StageConfig",
    "StageContext",
    "StageError",
    "StagePlugin",
    "StageWaiting",
    "Student",
    "StudentFamily",
    "TeachRequest",
    "TeachResponse",
    "Teacher",
    "TeacherError",
    "TeacherOptions",
    "TransientError",
    "Undecided",
    "Usage",
    "Verifier",
    "VerifierOptions",
    "VlkdError",
    "did_you_mean",
    "estimate_teach",
    "family_of",
    "file_problem",
    "find_plugin",
    "fingerprint_options",
    "hookimpl",
    "http_error",
    "hub_cache_file",
    "image_path",
    "is_header_row",
    "load_artifact",
    "load_yaml_file",
    "local_dir",
    "make_student",
    "nearest_location",
    "negatives_wanted",
    "parse_line",
    "printable_name",
    "read_images",
    "read_json",
    "read_jsonl",
    "read_pairs",
    "record_at",
    "redact_query",
    "redact_url",
    "renamed",
    "report_sections",
    "retry_after_seconds",
    "run_teach",
    "scan_records",
    "sha256_bytes",
    "stage_context_outside_a_recipe",
    "unquote_cell",
    "url_basic_auth",
    "url_secrets",
    "usable_cpus",
    "write_json_atomic",
    "write_jsonl_atomic",
    "write_records",
]


assert set(__all__) == {"Register", "hookimpl", *_LAZY}  # one list of the public names


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'vlkd.api' has no attribute '{name}'")
    module, _, attr = module.partition(":")
    value = getattr(importlib.import_module(module), attr or name)
    globals()[name] = value  # the next access is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(__all__)

"""Validate recipe data against the installed plugins and turn it into a :class:`Recipe`.

Each stage section is validated by its plugin's own options model. Every problem found is
reported at once, as ``FILE:LINE:COL: dotted.path: message`` pointing at the offending
key in the file it came from (an ``extends`` base included); a key without a position
falls back to its nearest parent.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from vlkd.core.errors import Location, PluginError, RecipeError, did_you_mean
from vlkd.core.executor import ExecutorOptions, parse_executor
from vlkd.core.options import Options, PluginOptions, SourcedStr
from vlkd.core.recipe_source import RecipeSource, dotted, load_recipe_source
from vlkd.core.registry import PluginInfo, Registry
from vlkd.core.stages import STAGE_KINDS, STAGE_NAMES, StageKind
from vlkd.core.student import Student, StudentOptions, StudentProblem, resolve_student
from vlkd.core.yaml_positions import Path_

TOP_LEVEL_KEYS = ("name", "description", "student", "executor", *STAGE_NAMES)
MAX_NAME = 100  # directory names may have 255 bytes; runs/<name>/... also names files after it
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass
class Step:
    """One configured plugin: what it is, its validated options, and where it was written."""

    info: PluginInfo
    options: PluginOptions
    path: Path_

    def instantiate(self, student: Student | None = None):
        return self.info.cls(self.options, student if self.info.cls.uses_student else None)


@dataclass
class StageConfig:
    kind: StageKind
    steps: list[Step]
    #: stage-level settings of multi-plugin stages (``preprocess: {steps: [...], workers: 4}``)
    settings: Options | None = None

    @property
    def name(self) -> str:
        return self.kind.name


@dataclass
class Recipe:
    name: str
    description: str
    stages: dict[str, StageConfig]
    source: RecipeSource
    registry: Registry = field(repr=False)
    #: plugins whose extras are not installed here (only when validated not strict)
    missing: list[str] = field(default_factory=list)
    student: Student | None = None
    #: where the stages' items run (``executor:``; ``vlkd run --executor`` overrides it)
    executor: ExecutorOptions | None = None

    def resolved(self) -> dict[str, Any]:
        """The recipe as validated, secrets redacted: safe to write to the run directory."""
        out: dict[str, Any] = {"name": self.name}
        if self.description:
            out["description"] = self.description
        if self.student is not None:
            out["student"] = self.student.to_json()
        if self.executor is not None:
            out["executor"] = self.executor.model_dump(mode="json", exclude_defaults=True)
        for name, stage in self.stages.items():
            steps = [s.options.model_dump(mode="json") for s in stage.steps]
            if stage.kind.multi:
                out[name] = {"steps": steps}
                if stage.settings is not None:
                    out[name].update(stage.settings.model_dump(mode="json"))
            else:
                out[name] = steps[0]
        return out

    @property
    def hash(self) -> str:
        return stable_hash(self.resolved())


def stable_hash(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def settings_model(kind: StageKind) -> type[Options] | None:
    """Stage-level settings model for multi-plugin stages (lives beside the stage's driver)."""
    return kind.driver.settings() if kind.multi else None


def _wrap_sources(value: Any, path: Path_, src: RecipeSource) -> Any:
    """Mark strings with the directory of the file they came from (for ``RecipePath``)."""
    if isinstance(value, dict):
        return {k: _wrap_sources(v, (*path, k), src) for k, v in value.items()}
    if isinstance(value, list):
        return [_wrap_sources(v, (*path, i), src) for i, v in enumerate(value)]
    if isinstance(value, str):
        loc = src.where(path)
        file = Path(loc.file)
        base = str(file.parent) if loc.line and file.is_file() else str(Path.cwd())
        return SourcedStr(value, base)
    return value


class _Problems:
    def __init__(self, src: RecipeSource, strict: bool = True):
        self.src = src
        self.items: list[str] = []
        #: not strict: plugins whose extra is not installed here are noted, not errors
        self.strict = strict
        self.missing: list[str] = []
        self._where: list[Location] = []

    def add(self, path: Path_, message: str) -> None:
        where = self.src.where(path)
        self._where.append(where)
        self.items.append(f"{where}: {dotted(path)}: {message}")

    def in_file_order(self) -> list[str]:
        """The problems as a reader meets them: each file in the order it first comes up, then
        by line and column (the recipe's own order, not the order the checks ran in)."""
        files = {w.file: i for i, w in reversed(list(enumerate(self._where)))}
        keyed = sorted(
            zip(self._where, self.items, strict=True), key=lambda e: (files[e[0].file], e[0].line, e[0].col)
        )
        return [item for _, item in keyed]

    def add_validation(self, exc: ValidationError, prefix: Path_, model: type[Options]) -> None:
        for err in exc.errors():
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
            path = (*prefix, *loc)
            kind = err["type"]
            if kind == "extra_forbidden":
                key = str(loc[-1])
                allowed = _allowed_keys(model, loc[:-1])
                hint = did_you_mean(key, allowed) if allowed else ""
                choices = f"; allowed: {', '.join(allowed)}" if allowed else ""
                self.add(path, f"unknown key '{key}'{hint}{choices}")
            elif kind == "missing":
                self.add(path, f"required key '{loc[-1]}' is missing" if loc else "a value is required")
            else:
                msg = err["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
                self.add(path, msg)


def _allowed_keys(model: type[Options], loc: tuple) -> list[str]:
    """Field names of the (nested) model at ``loc``; empty when it cannot be followed."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        fields = getattr(current, "model_fields", None)
        if not fields or part not in fields:
            return []
        current = _model_of(fields[part].annotation)
        if current is None:
            return []
    fields = getattr(current, "model_fields", None)
    return sorted(fields) if fields else []


def _model_of(annotation: Any) -> Any:
    if isinstance(annotation, type) and hasattr(annotation, "model_fields"):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def _validate_step(
    section: Any, path: Path_, kind: StageKind, registry: Registry, problems: _Problems
) -> Step | None:
    if not isinstance(section, dict):
        problems.add(
            path, f"must be a mapping with 'plugin: NAME' (installed: {', '.join(registry.names(kind.name))})"
        )
        return None
    name = section.get("plugin")
    if not isinstance(name, str) or not name:
        problems.add(
            path,
            f"missing 'plugin: NAME'; installed {kind.plural}: "
            f"{', '.join(registry.names(kind.name)) or 'none'}",
        )
        return None
    try:
        info = registry.get(kind.name, str(name))
        if problems.strict:
            info.check_available()
        elif info.missing_modules():
            problems.missing.append(f"{dotted(path)}: {info.name} needs {info.install_hint()}")
    except PluginError as exc:
        problems.add((*path, "plugin"), str(exc))
        return None
    moved = [k for k in section if k in info.cls.moved_options]
    for key in moved:
        problems.add((*path, key), f"'{key}' moved: set {info.cls.moved_options[key]} instead")
    if moved:
        return None
    try:
        options = info.cls.Options.model_validate(section)
    except ValidationError as exc:
        problems.add_validation(exc, path, info.cls.Options)
        return None
    return Step(info, options, path)


def _validate_stage(
    value: Any, kind: StageKind, registry: Registry, problems: _Problems
) -> StageConfig | None:
    path: Path_ = (kind.name,)
    if not kind.multi:
        step = _validate_step(value, path, kind, registry, problems)
        return StageConfig(kind, [step]) if step else None
    settings_cls = settings_model(kind)
    settings = None
    steps_path = path
    if isinstance(value, dict) and settings_cls is not None:
        rest = {k: v for k, v in value.items() if k != "steps"}
        if "steps" not in value:
            problems.add(path, "must be a list of steps, or a mapping with 'steps:' and stage settings")
            return None
        try:
            settings = settings_cls.model_validate(rest)
        except ValidationError as exc:
            problems.add_validation(exc, path, settings_cls)
        value, steps_path = value["steps"], (*path, "steps")
    if not isinstance(value, list):
        problems.add(steps_path, "must be a list of steps, each '{plugin: NAME, ...options}'")
        return None
    before = len(problems.items)
    steps = [_validate_step(item, (*steps_path, i), kind, registry, problems) for i, item in enumerate(value)]
    if len(problems.items) != before:
        return None
    return StageConfig(kind, [s for s in steps if s], settings)


def build_recipe(src: RecipeSource, registry: Registry, *, strict: bool = True) -> Recipe:
    """Validate merged recipe data; raise :class:`RecipeError` listing every problem.

    Not ``strict``: a plugin whose extra is not installed here is validated all the same and
    listed in ``Recipe.missing`` (``vlkd validate`` of a GPU recipe on a laptop).
    """
    problems = _Problems(src, strict)
    data = _wrap_sources(src.data, (), src)
    for key in data:
        if key not in TOP_LEVEL_KEYS:
            problems.add(
                (key,),
                f"unknown key '{key}'{did_you_mean(str(key), TOP_LEVEL_KEYS)}; "
                f"allowed: name, extends, description, student, executor, {', '.join(STAGE_NAMES)}",
            )
    name = data.get("name")
    if name is None:
        problems.add((), "required key 'name' is missing (it names the run directory: runs/<name>/)")
    elif not isinstance(name, str) or not NAME_PATTERN.match(name):
        problems.add(("name",), "must be letters, digits, '.', '_' or '-' (it names the run directory)")
    elif len(name) > MAX_NAME:
        problems.add(
            ("name",), f"{len(name)} characters is too long (at most {MAX_NAME}: it names the run directory)"
        )
    description = data.get("description") or ""
    if not isinstance(description, str):
        problems.add(("description",), "must be a string")
    student = _validate_student(data.get("student"), src, registry, problems) if "student" in data else None
    executor = _validate_executor(data["executor"], problems) if "executor" in data else None
    stages: dict[str, StageConfig] = {}
    for kind in STAGE_KINDS:
        if kind.name in data:
            stage = _validate_stage(data[kind.name], kind, registry, problems)
            if stage is not None:
                stages[kind.name] = stage
    if not problems.items:
        _check_inputs(stages, problems)
        _check_student(stages, student, "student" in data, problems)
    if problems.items:
        raise RecipeError(problems.in_file_order())
    return Recipe(str(name), str(description), stages, src, registry, problems.missing, student, executor)


def _validate_executor(section: Any, problems: _Problems) -> ExecutorOptions | None:
    if isinstance(section, str) and section not in ("local", "ray"):
        problems.add(
            ("executor",),
            f"'{section}' is not an executor{did_you_mean(section, ('local', 'ray'))}; choose local or ray",
        )
        return None
    try:
        return parse_executor(section)
    except ValidationError as exc:
        problems.add_validation(exc, ("executor",), ExecutorOptions)
        return None


def _validate_student(
    section: Any, src: RecipeSource, registry: Registry, problems: _Problems
) -> Student | None:
    path: Path_ = ("student",)
    if isinstance(section, str):  # the short form: student: Qwen/Qwen2-VL-7B-Instruct
        section = {"model": section}
    if not isinstance(section, dict):
        problems.add(path, "must be a mapping: {model: HUB_ID | DIRECTORY | tiny:FAMILY, ...}")
        return None
    try:
        options = StudentOptions.model_validate(section)
    except ValidationError as exc:
        problems.add_validation(exc, path, StudentOptions)
        return None
    loc = src.where((*path, "model"))
    base = str(Path(loc.file).parent) if loc.line and Path(loc.file).is_file() else None
    try:
        return resolve_student(options, registry.families(), base)
    except StudentProblem as exc:
        problems.add((*path, exc.key) if exc.key and exc.key in section else path, str(exc))
        return None


def _check_student(
    stages: dict[str, StageConfig], student: Student | None, written: bool, problems: _Problems
) -> None:
    """Stages whose plugins read the student need a ``student:`` section, and must accept it."""
    for stage in stages.values():
        for step in stage.steps:
            if not step.info.cls.uses_student:
                continue
            if student is None:
                if not written:  # a broken section was reported already
                    problems.add(
                        step.path,
                        f"{step.info.kind.singular} '{step.info.name}' needs the student: add a top-level "
                        "'student:' section (model: HUB_ID, a local directory, or tiny:FAMILY)",
                    )
                return
            reason = step.info.cls.check_student(student)
            if reason:
                problems.add((*step.path, "plugin"), reason)
                continue
            found = step.instantiate(student).check_options()
            if found:
                problems.add((*step.path, *found[0]), found[1])


def _check_inputs(stages: dict[str, StageConfig], problems: _Problems) -> None:
    """Every stage's required artifacts must be produced by an earlier stage of the recipe."""
    produced: set[str] = set()
    for name, stage in stages.items():
        for artifact in stage.kind.consumes:
            required = artifact in _REQUIRED.get(name, stage.kind.consumes)
            if required and artifact not in produced:
                makers = [k.name for k in STAGE_KINDS if artifact in k.produces and k.name != name]
                problems.add(
                    (name,),
                    f"needs {artifact} from an earlier stage: add a "
                    f"{' or '.join(repr(m) for m in makers)} section",
                )
        produced.update(stage.kind.produces)


#: artifacts a stage cannot do without (others are used when present). A trainer can also be
#: given a dataset directory of its own (``train: {dataset: ...}``), so it needs no format stage.
_REQUIRED: dict[str, tuple[str, ...]] = {
    "verify": ("pairs",),
    "review": ("pairs",),
    "format": ("pairs",),
    "train": (),
    "evaluate": ("pairs",),
    "report": (),
}


def load_recipe(
    path: str | Path,
    overrides: list[str] | tuple[str, ...] = (),
    *,
    registry: Registry | None = None,
    strict: bool = True,
) -> Recipe:
    """Load, merge, interpolate and validate a recipe file (``strict``: see :func:`build_recipe`)."""
    from vlkd.core.registry import load_registry

    src = load_recipe_source(path, overrides)
    return build_recipe(src, registry or load_registry(), strict=strict)

"""The recipe's ``student:`` section: which model is tuned, its family, and its limits.

One section, read by every stage that needs the student (the ``student_resize`` step of
preprocess, the format pre-flight and its token counts, train, evaluate)::

    student:
      model: Qwen/Qwen2-VL-7B-Instruct   # hub id, local directory, or tiny:FAMILY (built offline)
      family: qwen2_vl                   # optional: from config.json's model_type, or the hub id
      image_min_pixels: 3136             # default: the family's
      image_max_pixels: 589824
      cutoff_len: 2048
      template: qwen2_vl                 # LLaMA-Factory template; default: the family's

The family is detected without a download: ``tiny:FAMILY`` names it, a local directory's
``config.json`` has its ``model_type``, a hub id is looked up in the Hugging Face cache and
then matched by name. What a family knows lives in its module (:mod:`vlkd.students`).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field, model_validator

from vlkd.core.errors import StageError
from vlkd.core.options import Options

if TYPE_CHECKING:
    from vlkd.students.family import StudentFamily

TINY_PREFIX = "tiny:"
#: the name the tiny Qwen2-VL had before families existed; it keeps working
LEGACY_TINY = {"tiny-qwen2-vl": "tiny:qwen2_vl"}
PROCESSOR_FILES = ("preprocessor_config.json", "processor_config.json")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class StudentOptions(Options):
    """The ``student:`` section of a recipe."""

    model: str = Field(
        description="Hub id (Qwen/Qwen2-VL-7B-Instruct), local checkpoint directory, or tiny:FAMILY "
        "(a tiny random student built offline into the run directory)"
    )
    family: str | None = Field(
        None, description="Student family (vlkd student families); default: detected from the model"
    )
    image_min_pixels: int | None = Field(
        None, ge=1, description="Fewest pixels per image; default: the family's"
    )
    image_max_pixels: int | None = Field(
        None, ge=1, description="Most pixels per image; default: the family's"
    )
    cutoff_len: int = Field(2048, ge=8, description="Maximum tokens per sample (text + visual)")
    template: str | None = Field(None, description="LLaMA-Factory template; default: the family's")

    @model_validator(mode="after")
    def _pixels_ordered(self) -> StudentOptions:
        lo, hi = self.image_min_pixels, self.image_max_pixels
        if lo is not None and hi is not None and lo > hi:
            raise ValueError(f"image_min_pixels {lo} > image_max_pixels {hi}")
        return self


@dataclass(frozen=True)
class Student:
    """The resolved student: what every stage reads (picklable: preprocess workers get it)."""

    model: str
    family: StudentFamily
    image_min_pixels: int
    image_max_pixels: int
    cutoff_len: int
    template: str | None
    #: directory of the recipe file that named a relative local path
    base_dir: str | None = None
    #: what resolving the section changed, for ``vlkd validate`` and ``vlkd run`` to say
    notes: tuple[str, ...] = ()

    @property
    def tiny(self) -> bool:
        return self.model.startswith(TINY_PREFIX)

    def to_json(self) -> dict[str, Any]:
        """As the resolved recipe shows it (and as fingerprints hash it)."""
        return {
            "model": self.model,
            "family": self.family.name,
            "image_min_pixels": self.image_min_pixels,
            "image_max_pixels": self.image_max_pixels,
            "cutoff_len": self.cutoff_len,
            "template": self.template,
        }

    def path(self, run_dir: Path) -> str:
        """A local directory or hub id that ``from_pretrained`` loads; a tiny student is built
        into ``<run_dir>/students/tiny-FAMILY`` first."""
        if self.tiny:
            return str(self.family.build_tiny(self.tiny_dir(run_dir)))
        local = local_dir(self.model, self.base_dir)
        if local is not None:
            check_student_dir(local)
            return str(local.resolve())
        if Path(os.path.expanduser(self.model)).exists():
            raise StageError(
                f"student.model: {self.model} is a file; name a checkpoint directory, a hub id, or tiny:FAMILY"
            )
        if _HUB_ID.match(self.model) and not self.model.startswith((".", "/", "~")):
            return self.model
        raise StageError(
            f"student.model: no such directory {self.model}, and it is not a hub id (org/name); "
            f"use e.g. Qwen/Qwen2-VL-2B-Instruct or tiny:{self.family.name}"
        )

    def processor_pixels(self, run_dir: Path) -> tuple[int, int]:
        """The pixel bounds of the student's own processor (LLaMA-Factory keeps them): from its
        saved config when it is on this machine, else the family's released checkpoints'."""
        if self.tiny:  # not built just for this: tiny students ship the family's bounds
            return self.family.processor_pixels(None)
        return self.family.processor_pixels(self.local_path(run_dir))

    def tiny_dir(self, run_dir: str | os.PathLike[str]) -> Path:
        """Where a tiny student of this run is built (``<run_dir>/students/tiny-FAMILY``)."""
        return Path(run_dir) / "students" / f"tiny-{self.family.name}"

    def local_path(self, run_dir: Path) -> str | None:
        """The student's directory when it is on this machine without a download, else None."""
        if self.tiny:
            return self.path(run_dir)
        local = local_dir(self.model, self.base_dir)
        if local is not None:
            return str(local.resolve())
        cached = hub_cache_file(self.model, "config.json")
        return str(cached.parent) if cached is not None else None


def local_dir(model: str, base_dir: str | None) -> Path | None:
    path = Path(os.path.expanduser(model))
    if not path.is_absolute() and base_dir is not None and (Path(base_dir) / path).is_dir():
        return Path(base_dir) / path
    return path if path.is_dir() else None


def check_student_dir(path: Path) -> None:
    if not (path / "config.json").is_file():
        raise StageError(
            f"student.model: {path} has no config.json; it is not a Hugging Face checkpoint directory"
        )
    if not any((path / name).is_file() for name in PROCESSOR_FILES):
        raise StageError(
            f"student.model: {path} has no processor ({' or '.join(PROCESSOR_FILES)}); a vision-language "
            "student needs its image processor and tokenizer. Save them next to the weights: "
            "AutoProcessor.from_pretrained(<base model>).save_pretrained(" + repr(str(path)) + ")"
        )


def hub_cache_file(repo_id: str, filename: str) -> Path | None:
    """A file of a hub model already in the Hugging Face cache (no network, no huggingface_hub import)."""
    if not _HUB_ID.match(repo_id):
        return None
    cache = os.environ.get("HF_HUB_CACHE") or os.path.join(
        os.environ.get("HF_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "huggingface"), "hub"
    )
    snapshots = Path(cache) / ("models--" + repo_id.replace("/", "--")) / "snapshots"
    if not snapshots.is_dir():
        return None
    found = sorted(snapshots.glob(f"*/{filename}"), key=lambda p: p.stat().st_mtime, reverse=True)
    return found[0] if found else None


def model_config(model: str, base_dir: str | None) -> tuple[dict[str, Any] | None, str]:
    """(config.json, where it was read) of a local or cached student; (None, "") when not here."""
    local = local_dir(model, base_dir)
    file = local / "config.json" if local is not None else hub_cache_file(model, "config.json")
    if file is None or not file.is_file():
        return None, ""
    try:
        return json.loads(file.read_text(encoding="utf-8")), str(file)
    except (OSError, ValueError):
        return None, ""


class StudentProblem(ValueError):
    """A ``student:`` section that cannot be resolved: (key, message)."""

    def __init__(self, key: str | None, message: str):
        super().__init__(message)
        self.key = key


def resolve_student(
    options: StudentOptions, families: dict[str, StudentFamily], base_dir: str | None = None
) -> Student:
    """The :class:`Student` of a validated section; raises :class:`StudentProblem`."""
    model = LEGACY_TINY.get(options.model, options.model)
    family = detect_family(model, options.family, families, base_dir)
    lo = options.image_min_pixels or min(family.default_min_pixels, options.image_max_pixels or 1 << 62)
    hi = options.image_max_pixels or max(family.default_max_pixels, options.image_min_pixels or 0)
    local = None if model.startswith(TINY_PREFIX) else local_dir(model, base_dir)
    floor = family.pixel_floor(local)
    notes: list[str] = []
    if lo < floor:
        notes.append(
            f"student.image_min_pixels {lo:,} is below the {family.name} processor's floor of {floor:,} "
            f"pixels, which transformers and LLaMA-Factory apply in training: vlkd uses {floor:,}, so that "
            "what it records, trains and evaluates is the same size"
        )
        lo, hi = floor, max(hi, floor)
    from vlkd.llamafactory.families import template

    return Student(
        model=model,
        family=family,
        image_min_pixels=lo,
        image_max_pixels=hi,
        cutoff_len=options.cutoff_len,
        template=options.template or template(family),
        base_dir=base_dir,
        notes=tuple(notes),
    )


def detect_family(
    model: str, named: str | None, families: dict[str, StudentFamily], base_dir: str | None = None
) -> StudentFamily:
    listing = ", ".join(sorted(families)) or "none installed"
    if named is not None and named not in families:
        from vlkd.core.errors import did_you_mean

        raise StudentProblem(
            "family", f"unknown family '{named}'{did_you_mean(named, families)}; families: {listing}"
        )
    if model.startswith(TINY_PREFIX):
        name = model[len(TINY_PREFIX) :]
        if name not in families:
            from vlkd.core.errors import did_you_mean

            raise StudentProblem(
                "model",
                f"unknown family '{name}' in '{model}'{did_you_mean(name, families)}; families: {listing}",
            )
        if named is not None and named != name:
            raise StudentProblem("family", f"family '{named}' contradicts model '{model}'; leave family out")
        return families[name]
    config, where = model_config(model, base_dir)
    if config is not None:
        model_type = config.get("model_type")
        found = [f for f in families.values() if model_type in f.model_types]
        if named is not None:
            if found and families[named] not in found:
                raise StudentProblem(
                    "family",
                    f"family '{named}' contradicts {where} (model_type '{model_type}' is family "
                    f"'{found[0].name}'); leave family out",
                )
            return families[named]
        if not found:
            raise StudentProblem(
                "model",
                f"{where}: model_type '{model_type}' is no known student family; families: {listing} "
                "(set student.family if it is one of them, or add a family: see the README)",
            )
        return found[0]
    if named is not None:
        return families[named]
    lowered = model.lower()
    by_name = [f for f in families.values() if any(n in lowered for n in f.hub_names)]
    if len(by_name) == 1:
        return by_name[0]
    raise StudentProblem(
        "model",
        f"cannot tell the family of '{model}' without its config.json (not a local directory, not in "
        f"the Hugging Face cache); set student.family to one of: {listing}",
    )


def family_of(model: str, named: str | None = None) -> StudentFamily:
    """The family of a student known only by its model (e.g. from ``vlkd_model.json``): the
    installed families, ``named`` when given, else detected; raises StageError."""
    from vlkd.core.registry import load_registry

    try:
        return detect_family(LEGACY_TINY.get(model, model), named, load_registry().families())
    except StudentProblem as exc:
        raise StageError(f"student {model}: {exc}") from None


#: the student of a recipe without a ``student:`` section (the seed's: Qwen2-VL, at LLaMA-Factory's
#: default pixel limits, 32x32 to 768x768)
SEED_STUDENT = {"model": "tiny:qwen2_vl", "image_min_pixels": 32 * 32, "image_max_pixels": 768 * 768}


def student_of(recipe: Any) -> Student:
    """The recipe's student; without a ``student:`` section, :data:`SEED_STUDENT`."""
    student = getattr(recipe, "student", None)
    return student if student is not None else make_student(SEED_STUDENT)


def make_student(section: dict[str, Any] | str, base_dir: str | None = None) -> Student:
    """A resolved :class:`Student` from a ``student:`` section (a mapping, or just the model),
    with the installed families: for code and tests that run a stage outside a recipe."""
    from vlkd.core.registry import load_registry

    data = {"model": section} if isinstance(section, str) else section
    return resolve_student(StudentOptions.model_validate(data), load_registry().families(), base_dir)

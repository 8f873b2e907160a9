"""Base classes for plugins.

A plugin is a class registered under a name for one stage kind (see ``hookspecs``). The
engine builds one instance per stage section, passing the validated options. What the
instance must do depends on the kind:

- most kinds (ingest, review, split, format, train, evaluate, report) subclass
  :class:`StagePlugin` and implement ``run(ctx)``;
- preprocessors subclass :class:`Preprocessor` and transform one image at a time;
- teachers subclass ``vlkd.teach.Teacher`` and answer one request at a time; the
  core teach driver adds concurrency, rate limits, retries, caching and cost accounting.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from vlkd.core.options import PluginOptions

if TYPE_CHECKING:
    from PIL import Image

    from vlkd.core.context import StageContext
    from vlkd.core.records import ImageRecord
    from vlkd.core.student import Student


class Plugin:
    """Base of every plugin class."""

    #: the pydantic model of this plugin's options (unknown keys are errors)
    Options: ClassVar[type[PluginOptions]] = PluginOptions
    #: top-level modules that must be importable for the plugin to run
    requires: ClassVar[tuple[str, ...]] = ()
    #: the vlkd extra that installs ``requires`` (used in the error message)
    extra: ClassVar[str | None] = None
    #: the install command to show instead (third-party plugins: ``pip install "my-pkg[gpu]"``)
    install: ClassVar[str | None] = None
    #: one line shown by ``vlkd plugins``; defaults to the class docstring's first line
    description: ClassVar[str] = ""
    #: the plugin reads the recipe's ``student:`` section (given as ``self.student``; the
    #: section then counts in the stage's fingerprint, and a recipe without one is an error)
    uses_student: ClassVar[bool] = False
    #: options that moved elsewhere: ``{old key: where it lives now}`` (an old key is an error saying so)
    moved_options: ClassVar[dict[str, str]] = {}

    def __init__(self, options: PluginOptions, student: Student | None = None):
        self.options = options
        self.student = student

    #: set on a stand-in registered under a plugin's old name: using the old name is an error
    #: naming the new one (the stand-in is not listed among the installed plugins)
    renamed_to: ClassVar[str | None] = None
    renamed_why: ClassVar[str] = ""

    @classmethod
    def check_student(cls, student: Student) -> str | None:
        """A reason this plugin cannot work with ``student`` (checked when the recipe is validated)."""
        return None

    def check_options(self) -> tuple[tuple[str, ...], str] | None:
        """A problem of this configured plugin (its options with the recipe's student), found when
        the recipe is validated, before any weights load: ``(keys below the plugin's section,
        message)``, or ``None``. Only files on disk may be read; nothing heavy imported."""
        return None

    def cluster_gpus(self) -> tuple[float, str] | None:
        """GPUs this plugin's work asks a Ray cluster for, and the option that asks (checked when
        the executor starts, before any stage runs); ``None``: none."""
        return None

    def fingerprint(self) -> Any:
        """Anything besides the options that decides this plugin's output (JSON-serialisable).

        For example an ingestor returns the sizes and modification times of its input
        files, so that adding an image re-runs the stage. ``None`` when options suffice.
        """
        return None

    def changed_outside(self, run_dir: Path, entry: dict[str, Any]) -> str | None:
        """Why this finished stage must run again although its fingerprint is unchanged, or ``None``.

        For files people change between runs (an expert edits the exported review sheet,
        the review page records a decision): the engine then resumes the stage and re-runs
        every later one. ``entry`` is the stage's manifest entry from its last run.
        """
        return None


class StagePlugin(Plugin):
    """A plugin that is the whole stage: it reads its inputs and writes its outputs via ``ctx``."""

    #: its directory holds files people edit (an exported review sheet): a re-run keeps the
    #: directory instead of emptying it, and the plugin rewrites its outputs itself
    keep_dir: ClassVar[bool] = False

    def run(self, ctx: StageContext) -> None:
        raise NotImplementedError


class Preprocessor(Plugin):
    """One step of the ``preprocess`` chain: takes a decoded image and returns an image.

    Raise :class:`vlkd.core.errors.SkipItem` to drop the image with a reason. ``record``
    may be updated (e.g. ``record.notes``, ``record.visual_tokens``). Steps run in worker
    processes, so a preprocessor and its options must be picklable.

    A step whose decision depends on the other images (``dedup_near``) also defines
    ``collect(image, record) -> str`` (in the worker, kept in the ledger) and
    ``select(entries: list[tuple[ImageRecord, str]]) -> dict[str, str]``: once every image is
    done, in the main process, the records with what was collected, in input order; it returns
    ``{image id: reason}`` for the images to drop.
    """

    def apply(self, image: Image.Image, record: ImageRecord) -> Image.Image:
        raise NotImplementedError


def renamed(new_name: str, why: str = "") -> type[Plugin]:
    """A stand-in to register under a plugin's old name, so an old recipe is told the new one."""
    return type(f"Renamed_{new_name}", (Plugin,), {"renamed_to": new_name, "renamed_why": why})

"""What stages pass each other, read and written as models.

- ``images.jsonl`` and ``pairs.jsonl``: :func:`read_images`, :func:`read_pairs` (a bad line is a
  ``StageError`` at ``file:line``), :func:`write_records`; :func:`scan_records` and
  :func:`record_at` for a reader that keeps byte offsets instead of records;
- ``vlkd_dataset.json`` (the format stage's dataset directory): :class:`DatasetCard`;
- ``vlkd_model.json`` (the train stage's model directory): :class:`ModelCard`;
- :func:`image_path`: the one place an ``ImageRecord.path`` becomes a file.

Which stage's file a stage reads is ``RunDir.artifact(name, before=stage)``.
"""

from __future__ import annotations

import contextlib
import json
import os
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO, ClassVar, TypeVar, overload

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from vlkd.core.errors import StageError
from vlkd.core.jsonl import parse_line, read_json, write_json_atomic, write_jsonl_atomic
from vlkd.core.records import ImageRecord, QARecord
from vlkd.core.rundir import MANIFEST

R = TypeVar("R", bound=BaseModel)
C = TypeVar("C", bound="Card")


def read_records(path: str | os.PathLike[str], model: type[R], what: str) -> list[R]:
    """Every line of a JSONL artifact as ``model``; a torn last line (a killed writer) is left out.

    A line that is not JSON or not a ``model`` is a ``StageError`` at ``path:line`` that says
    what is wrong with it and what to do.
    """
    return [record for _, record in scan_records(path, model, what)]


def scan_records(
    path: str | os.PathLike[str], model: type[R], what: str, *, fh: BinaryIO | None = None
) -> Iterator[tuple[int, R]]:
    """``(byte offset, record)`` for every line of a JSONL artifact, read once, checked as
    :func:`read_records` checks it; :func:`record_at` reads one again (the review page keeps
    offsets, not texts). ``fh``: the file already open (read from its start, left open): the
    offsets stay valid for it however the path is replaced meanwhile."""
    path = Path(path)
    if fh is not None:
        fh.seek(0)
        holder: Any = contextlib.nullcontext(fh)
    else:
        try:
            fh = holder = path.open("rb")
        except FileNotFoundError:
            raise StageError(f"{path}: missing; re-run the stage that writes it") from None
    offset = 0
    with holder:
        for line_no, raw in enumerate(fh, 1):
            start, offset = offset, offset + len(raw)
            if not raw.strip():
                continue
            data = parse_line(raw, f"{path}:{line_no}")
            if data is None:
                return  # torn last line: the write never finished
            yield start, _validate(model, data, f"{path}:{line_no}", what)


def record_at(
    path: str | os.PathLike[str], offset: int, model: type[R], what: str, *, fh: BinaryIO | None = None
) -> R:
    """The record on the line that starts at byte ``offset`` (from :func:`scan_records`; ``fh``:
    the file it scanned, still open)."""
    path = Path(path)
    if fh is not None:
        fh.seek(offset)
        raw = fh.readline()
    else:
        with path.open("rb") as opened:
            opened.seek(offset)
            raw = opened.readline()
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise StageError(
            f"{path}: the line at byte {offset} is no longer valid JSON (the file changed while it was "
            "in use?); reload"
        ) from None
    return _validate(model, data, f"{path} at byte {offset}", what)


def _validate(model: type[R], data: object, where: str, what: str) -> R:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise StageError(
            f"{where}: not {what} ({first_error(exc)}); fix the line or re-run the stage that wrote it"
        ) from None


def read_images(path: str | os.PathLike[str]) -> list[ImageRecord]:
    """``images.jsonl`` as records (in file order, duplicates kept).

    Paths of files inside the run directory are stored relative to it (a copied or moved run
    directory keeps working); they come back absolute, against the run directory that holds
    this ``<run>/<stage>/images.jsonl``. Absolute paths (inputs, older runs) stay as they are.
    """
    records = read_records(path, ImageRecord, "an image record")
    run_dir = Path(path).resolve().parents[1]
    return [_absolute(r, run_dir) for r in records]


def _absolute(record: ImageRecord, run_dir: Path) -> ImageRecord:
    """A record read from ``run_dir``'s ``images.jsonl`` with its paths absolute (see :func:`read_images`)."""
    update: dict[str, Any] = {}
    if not Path(record.path).is_absolute():
        update["path"] = str(run_dir / record.path)
    original = getattr(record, "original", None)
    if (
        isinstance(original, dict)
        and isinstance(original.get("path"), str)
        and not Path(original["path"]).is_absolute()
    ):
        update["original"] = {**original, "path": str(run_dir / original["path"])}
    return record.model_copy(update=update) if update else record


class ImageFile(Sequence[ImageRecord]):
    """The records of an ``images.jsonl`` read one at a time, when asked for: a stage over many
    images holds an offset and an id per image, not the records (``ids``: in order).

    Built by :func:`index_images`; the file is an earlier stage's output, which does not change
    while a stage reads it.
    """

    def __init__(self, path: Path, offsets: array[int], ids: list[str]):
        self.path = path
        self._offsets = offsets
        self.ids = ids
        self._run_dir = path.resolve().parents[1]
        self._fh: BinaryIO | None = None

    def __len__(self) -> int:
        return len(self._offsets)

    @overload
    def __getitem__(self, i: int) -> ImageRecord: ...
    @overload
    def __getitem__(self, i: slice) -> list[ImageRecord]: ...
    def __getitem__(self, i: int | slice) -> ImageRecord | list[ImageRecord]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if self._fh is None:
            self._fh = self.path.open("rb", buffering=0)  # no buffer: a rewritten file is seen
        raw = _line_at(self._fh, self._offsets[i])
        try:
            record = ImageRecord.model_validate_json(raw)
        except ValidationError:
            record = None
        if record is None or record.id != self.ids[i]:
            raise StageError(
                f"{self.path}: changed while the stage was reading it (image {self.ids[i][:12]} is no "
                "longer where it was); re-run the stage"
            )
        return _absolute(record, self._run_dir)

    def __iter__(self) -> Iterator[ImageRecord]:
        for i in range(len(self)):
            yield self[i]

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def __del__(self) -> None:
        self.close()


def _line_at(fh: BinaryIO, offset: int) -> bytes:
    """The line that starts at ``offset`` of an unbuffered file (one read for most lines)."""
    fh.seek(offset)
    data = b""
    while True:
        block = fh.read(8192)
        cut = block.find(b"\n") if block else -1
        if cut >= 0 or not block:
            return data + (block[: cut + 1] if cut >= 0 else block)
        data += block


def index_images(
    path: str | os.PathLike[str], keep: Callable[[ImageRecord], bool] | None = None
) -> ImageFile:
    """``images.jsonl`` as an :class:`ImageFile`: each id once (its first line), the records
    ``keep`` accepts; every line is checked as :func:`read_images` checks it."""
    path = Path(path)
    offsets: array[int] = array("q")
    ids: list[str] = []
    seen: set[str] = set()
    for offset, record in scan_records(path, ImageRecord, "an image record"):
        if record.id in seen:
            continue
        seen.add(record.id)
        if keep is not None and not keep(record):
            continue
        offsets.append(offset)
        ids.append(record.id)
    return ImageFile(path, offsets, ids)


def stored_image_paths(
    run_dir: str | os.PathLike[str], records: Iterable[ImageRecord]
) -> Iterator[ImageRecord]:
    """Image records with paths inside ``run_dir`` made relative to it, for ``images.jsonl``
    (one at a time, as ``records`` gives them)."""
    root = Path(run_dir).resolve()
    prefix = str(root) + "/"

    def inside(value: str) -> str | None:
        if (
            os.sep == "/"
            and prefix != "//"
            and value.startswith("/")
            and "//" not in value
            and "/." not in value
        ):
            # a POSIX path Path() would not rewrite (no '//', no '.' part): a prefix says it all,
            # without a Path and its parents for each of 100,000 records
            value = value.rstrip("/")
            return value[len(prefix) :] if value.startswith(prefix) else None
        path = Path(value)
        return path.relative_to(root).as_posix() if path.is_absolute() and root in path.parents else None

    for rec in records:
        update: dict[str, Any] = {}
        relative = inside(rec.path)
        if relative is not None:
            update["path"] = relative
        original = getattr(rec, "original", None)  # preprocess's record of the image it read
        if isinstance(original, dict) and isinstance(original.get("path"), str):
            relative = inside(original["path"])
            if relative is not None:
                update["original"] = {**original, "path": relative}
        yield rec.model_copy(update=update) if update else rec


def read_pairs(path: str | os.PathLike[str]) -> list[QARecord]:
    """``pairs.jsonl`` as records."""
    return read_records(path, QARecord, "a question/answer record")


def write_records(
    path: str | os.PathLike[str], records: Iterable[BaseModel], *, exclude_none: bool = False
) -> None:
    """Write records as JSONL in one atomic replace."""
    write_jsonl_atomic(Path(path), (r.model_dump(mode="json", exclude_none=exclude_none) for r in records))


def image_path(run_dir: str | os.PathLike[str], path: str | os.PathLike[str]) -> Path:
    """An ``ImageRecord.path`` as a file: absolute as it is; relative against the run directory,
    unless only the working directory has it (a path a person wrote by hand)."""
    p = Path(path)
    if p.is_absolute():
        return p
    in_run = Path(run_dir) / p
    if in_run.exists() or not p.exists():
        return Path(os.path.normpath(in_run))
    return p.resolve()


def first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(x) for x in err["loc"]) or "record"
    more = f", and {exc.error_count() - 1} more" if exc.error_count() > 1 else ""
    return f"{where}: {err['msg']}{more}"


# -- cards: the JSON file that describes a directory artifact --------------------------------


class Card(BaseModel):
    """A JSON description of a directory artifact; unknown keys are kept (a newer writer's)."""

    model_config = ConfigDict(extra="allow", protected_namespaces=())

    FILE: ClassVar[str]
    #: the stage that writes it, for the message when it is missing
    WRITER: ClassVar[str]

    @classmethod
    def read(cls: type[C], directory: str | os.PathLike[str]) -> C:
        path = Path(directory) / cls.FILE
        data = read_json(path, missing=f"re-run the {cls.WRITER} stage (vlkd run RECIPE --from {cls.WRITER})")
        if not isinstance(data, dict):
            raise StageError(f"{path}: must be a JSON object; re-run the {cls.WRITER} stage")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise StageError(f"{path}: {first_error(exc)}; re-run the {cls.WRITER} stage") from None

    @classmethod
    def exists(cls, directory: str | os.PathLike[str]) -> bool:
        return (Path(directory) / cls.FILE).is_file()

    def write(self, directory: str | os.PathLike[str]) -> Path:
        path = Path(directory) / self.FILE
        write_json_atomic(path, self.model_dump(mode="json", exclude_none=True))
        return path


class DatasetCard(Card):
    """``vlkd_dataset.json``: what a format stage's dataset directory holds, for the trainers."""

    FILE: ClassVar[str] = "vlkd_dataset.json"
    WRITER: ClassVar[str] = "format"

    format: str = Field(description="the format plugin that wrote it, e.g. llamafactory")
    splits: dict[str, str] = Field(default_factory=dict, description="split -> file in the directory")
    media_dir: str | None = Field(default=None, description="where relative image paths resolve")
    dataset_info: str | None = Field(default=None, description="LLaMA-Factory's dataset_info.json")
    samples: dict[str, int] = Field(default_factory=dict, description="samples per split")
    pairs: int = 0
    images: int = 0
    student: dict[str, Any] | None = Field(
        default=None, description="the recipe's student section it was made for (check-dataset's default)"
    )
    system: str | None = Field(
        default=None, description="the system prompt written into every sample (evaluate asks with it)"
    )

    def media_root(self, directory: str | os.PathLike[str]) -> Path:
        """The directory relative image paths in the dataset files resolve against."""
        return Path(self.media_dir) if self.media_dir else Path(directory)


class ModelCard(Card):
    """``vlkd_model.json``: what a train stage's model directory holds, for evaluate and report."""

    FILE: ClassVar[str] = "vlkd_model.json"
    WRITER: ClassVar[str] = "train"

    trainer: str = ""
    base_model: str = Field(min_length=1, description="the student that was tuned (name or path)")
    family: str | None = Field(default=None, description="the student family (vlkd.students)")
    adapter: str | None = Field(default=None, description="the PEFT adapter directory")
    template: str | None = None
    image_min_pixels: int | None = None
    image_max_pixels: int | None = None
    cutoff_len: int | None = None
    log: str | None = Field(default=None, description="the trainer's trainer_log.jsonl")
    merged: str | None = Field(default=None, description="adapter merged into the base weights")
    distill: dict[str, Any] | None = Field(
        default=None,
        description="train.distill as trained (method: logit_kd or on_policy, teacher, alpha, beta, ...); "
        "absent: fine-tuned on the teacher's text",
    )

    def path(self, directory: str | os.PathLike[str], value: str | None) -> Path | None:
        """A path the card names, resolved against its directory (``<run>/train/model``).

        Paths inside the run are written relative to the card, so a moved or copied run
        directory uses its own files. An older card's absolute path into a run's ``students``
        or ``train`` folder is read as the same place in this run: a copy never uses the
        original's files (where this run lacks them, the caller says what is missing)."""
        if not value:
            return None
        p = Path(value)
        if not p.is_absolute():
            return Path(directory) / p
        run_root = Path(directory).resolve().parents[1]
        if p == run_root or run_root in p.parents:
            return p
        for i, part in enumerate(p.parts):
            if part in ("students", "train"):
                own = run_root.joinpath(*p.parts[i:])
                if own.exists() or Path(*p.parts[:i], MANIFEST).exists():
                    return own  # this run's, or missing here: never another run's
        return p

    def base_path(self, directory: str | os.PathLike[str]) -> Path | None:
        """The tuned student as a path, when the card names one (relative to the card, absolute, or
        a folder beside it), resolved as :meth:`path` does; ``None`` for a hub id."""
        base = self.base_model
        if Path(base).is_absolute() or base.startswith(".") or (Path(directory) / base).exists():
            return self.path(directory, base)
        return None

    @staticmethod
    def relative(directory: str | os.PathLike[str], run_dir: str | os.PathLike[str], value: str) -> str:
        """``value`` as the card in ``directory`` records it: relative to the card when it is a
        path inside ``run_dir`` (so the run can move), else unchanged (a hub id, a checkpoint
        elsewhere)."""
        p = Path(value)
        root = Path(run_dir).resolve()
        if p.is_absolute() and (p.resolve() == root or root in p.resolve().parents):
            return os.path.relpath(p.resolve(), Path(directory).resolve())
        return value

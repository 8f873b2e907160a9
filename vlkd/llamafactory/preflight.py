"""Pre-flight check of a LLaMA-Factory (sharegpt) dataset: what would stop training or lose samples.

LLaMA-Factory stops the whole run when a sample's ``<image>`` tags and ``images`` entries
differ in number, crashes ("Image features and image tokens do not match") when
``cutoff_len`` cuts into an image's tokens, and silently drops samples whose roles do not
alternate and turns that go past ``cutoff_len``. This module finds each such sample before
a GPU is rented::

    from vlkd.llamafactory.preflight import check_dataset

    report = check_dataset("runs/demo/format/dataset", family=Qwen2VL(), cutoff_len=2048,
                           image_min_pixels=32 * 32, image_max_pixels=768 * 768,
                           tokenizer=None, fix=False)
    if not report.ok:
        print(report.text())

``path`` is a dataset directory holding ``dataset_info.json`` (every local sharegpt entry is
checked, with its own columns and tags) or one ``.json``/``.jsonl`` file (default columns).
Relative image paths resolve as LLaMA-Factory resolves them: ``media_dir`` joined with the
path when that is a file, else the path as written (``media_dir`` defaults to the
``media_dir`` of ``vlkd_dataset.json``, else the dataset directory). Token counts follow
:mod:`vlkd.llamafactory.tokens` (the student family's image rule and template; text exact with
``tokenizer``, else a conservative estimate).

With ``fix=True`` the files are rewritten (the original kept as ``<file>.orig`` unless
``backup=False``): a literal ``<image>`` in an answer becomes ``[image]``; image tags are
re-placed, one per image, at the start of the first user turn; consecutive turns of one role
are merged and a leading answer or trailing question dropped; an over-long conversation is
cut into several samples that each fit (each shows the image again); samples that cannot be
repaired (missing or undecodable image, one turn longer than ``cutoff_len``, no turns left)
are removed. Problems name the file and the sample's 0-based index in the original file.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vlkd.core.artifacts import DatasetCard
from vlkd.core.errors import VlkdError
from vlkd.core.jsonl import read_json, write_json_atomic, write_jsonl_atomic
from vlkd.llamafactory.families import image_tokens
from vlkd.llamafactory.images import IMAGE_MAX_PIXELS, IMAGE_MIN_PIXELS
from vlkd.llamafactory.sample import VLKD_COLUMNS, VLKD_TAGS, columns_of, tags_of
from vlkd.llamafactory.tokens import text_tokens
from vlkd.students.family import IMAGE_TAG, StudentFamily

ANSWER_TAG_REPLACEMENT = "[image]"


@dataclass
class Problem:
    file: str
    index: int
    kind: str  # image_count, image_in_answer, roles, missing_image, bad_image, too_long, structure
    message: str
    #: what ``fix`` did about it (None: not fixed)
    fixed: str | None = None

    def __str__(self) -> str:
        done = f" -> fixed: {self.fixed}" if self.fixed else ""
        return f"{self.file}: sample [{self.index}]: {self.kind}: {self.message}{done}"


@dataclass
class PreflightReport:
    path: str
    files: list[str] = field(default_factory=list)
    samples: int = 0
    problems: list[Problem] = field(default_factory=list)
    #: True when text tokens were estimated (no tokenizer given)
    estimated_tokens: bool = True
    #: samples in the files after ``fix`` (== samples when nothing was fixed)
    samples_after_fix: int | None = None

    @property
    def unfixed(self) -> list[Problem]:
        return [p for p in self.problems if not p.fixed]

    @property
    def ok(self) -> bool:
        """No problem left (every one found was fixed, or none was found)."""
        return not self.unfixed

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for p in self.problems:
            out[p.kind] = out.get(p.kind, 0) + 1
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "files": self.files,
            "samples": self.samples,
            "ok": self.ok,
            "estimated_tokens": self.estimated_tokens,
            "samples_after_fix": self.samples_after_fix,
            "counts": self.counts(),
            "problems": [p.__dict__ for p in self.problems],
        }

    def text(self, limit: int | None = 50) -> str:
        lines = [
            f"{self.path}: {self.samples} samples in {len(self.files)} file(s): "
            + (
                "no problems"
                if not self.problems
                else f"{len(self.problems)} problem(s), {len(self.unfixed)} not fixed "
                f"({', '.join(f'{k} {n}' for k, n in sorted(self.counts().items()))})"
            )
        ]
        shown = self.problems if limit is None else self.problems[:limit]
        lines += [f"  {p}" for p in shown]
        if len(shown) < len(self.problems):
            lines.append(f"  ... and {len(self.problems) - len(shown)} more")
        if self.estimated_tokens and any(p.kind == "too_long" for p in self.problems):
            lines.append(
                "  (text tokens estimated on the high side; pass the student's tokenizer for exact counts)"
            )
        return "\n".join(lines)


@dataclass
class _Entry:
    file: Path
    columns: dict[str, str]
    tags: dict[str, str]


@dataclass
class _Limits:
    family: StudentFamily
    cutoff_len: int
    image_min_pixels: int
    image_max_pixels: int
    tokenizer: Any
    processor_pixels: tuple[int, int] | None


def check_dataset(
    path: str | os.PathLike[str],
    *,
    family: StudentFamily,
    cutoff_len: int = 2048,
    image_min_pixels: int = IMAGE_MIN_PIXELS,
    image_max_pixels: int = IMAGE_MAX_PIXELS,
    tokenizer: Any = None,
    fix: bool = False,
    media_dir: str | os.PathLike[str] | None = None,
    backup: bool = True,
    processor_pixels: tuple[int, int] | None = None,
) -> PreflightReport:
    """Check (and with ``fix`` repair) a LLaMA-Factory sharegpt dataset; see the module docs."""
    path = Path(path)
    entries, default_media = _entries(path)
    media = Path(media_dir) if media_dir is not None else default_media
    limits = _Limits(family, cutoff_len, image_min_pixels, image_max_pixels, tokenizer, processor_pixels)
    report = PreflightReport(str(path), estimated_tokens=tokenizer is None)
    images = _ImageCache(media)
    after = 0
    for entry in entries:
        report.files.append(str(entry.file))
        samples = _load(entry.file)
        report.samples += len(samples)
        checker = _SampleChecker(entry, limits, images, fix)
        kept: list[Any] = []
        for index, sample in enumerate(samples):
            problems, repaired = checker.check(index, sample)
            report.problems += problems
            kept += repaired
        after += len(kept)
        if fix and any(p.fixed for p in report.problems if p.file == str(entry.file)):
            _save(entry.file, kept, backup)
    report.samples_after_fix = after if fix else report.samples
    return report


def check_for_student(
    path: str | os.PathLike[str],
    student: Any,
    run_dir: str | os.PathLike[str],
    *,
    tokenizer: Any = None,
    fix: bool = False,
    backup: bool = True,
    media_dir: str | os.PathLike[str] | None = None,
) -> PreflightReport:
    """:func:`check_dataset` with a ``vlkd.core.student.Student``'s family and limits (and its own
    processor's pixel bounds when it is on this machine): what the format stage, the trainers
    and ``vlkd check-dataset`` run."""
    return check_dataset(
        path,
        family=student.family,
        cutoff_len=student.cutoff_len,
        image_min_pixels=student.image_min_pixels,
        image_max_pixels=student.image_max_pixels,
        tokenizer=tokenizer,
        fix=fix,
        backup=backup,
        media_dir=media_dir,
        processor_pixels=student.processor_pixels(Path(run_dir)),
    )


# -- finding the files ---------------------------------------------------------------------


def _is_other_dataset_dir(media: Path, path: Path) -> bool:
    """``media`` is another dataset directory than ``path`` (the one this copy came from)."""
    try:
        return media.resolve() != path.resolve() and (media / "vlkd_dataset.json").is_file()
    except OSError:
        return False


def _entries(path: Path) -> tuple[list[_Entry], Path]:
    if not path.exists():
        raise VlkdError(f"{path}: no such file or directory")
    if path.is_file():
        if path.suffix.lower() not in (".json", ".jsonl"):
            raise VlkdError(
                f"{path}: expected a dataset directory (with dataset_info.json) or a .json/.jsonl file"
            )
        return [_Entry(path, dict(VLKD_COLUMNS), dict(VLKD_TAGS))], path.parent
    info_path = path / "dataset_info.json"
    media = path
    if DatasetCard.exists(path):
        card = DatasetCard.read(path)
        if card.format != "llamafactory":
            raise VlkdError(
                f"{path}: a '{card.format}' dataset; check-dataset reads LLaMA-Factory "
                f"(sharegpt) datasets, e.g. the output of the 'llamafactory' format"
            )
        if card.media_dir:
            media = Path(card.media_dir)
            if not media.exists() or _is_other_dataset_dir(media, path):
                # a copied or moved dataset: LLaMA-Factory resolves against the copy itself, never
                # the original's media_dir (it does not read vlkd_dataset.json); check the copy
                media = path
    if not info_path.is_file():
        raise VlkdError(
            f"{path}: no dataset_info.json; pass a LLaMA-Factory dataset directory or a .json file"
        )
    info = read_json(info_path)
    entries = []
    for name, attrs in info.items():
        if not isinstance(attrs, dict) or "file_name" not in attrs:
            continue  # hub datasets and scripts are not checked here
        if attrs.get("formatting", "alpaca") != "sharegpt":
            continue
        columns, tags = columns_of(attrs), tags_of(attrs)
        file = path / attrs["file_name"]
        if not file.is_file():
            raise VlkdError(f"{info_path}: entry '{name}' names {attrs['file_name']}, which does not exist")
        entries.append(_Entry(file, columns, tags))
    if not entries:
        raise VlkdError(f"{info_path}: no local sharegpt dataset entry to check")
    return entries, media


def _load(path: Path) -> list[Any]:
    if path.suffix.lower() == ".jsonl":
        out = []
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise VlkdError(f"{path}:{n}: not valid JSON ({exc.msg})") from None
        return out
    data = read_json(path)
    if not isinstance(data, list):
        raise VlkdError(f"{path}: a sharegpt file must hold a JSON list of samples")
    return data


def _save(path: Path, samples: list[Any], backup: bool) -> None:
    if backup:
        orig = path.with_name(path.name + ".orig")
        if not orig.exists():
            shutil.copy2(path, orig)
    if path.suffix.lower() == ".jsonl":
        write_jsonl_atomic(path, samples)
    else:
        write_json_atomic(path, samples)


# -- images --------------------------------------------------------------------------------


class _ImageCache:
    """Resolves and decodes each image file once: its (width, height), or the reason it failed."""

    def __init__(self, media_dir: Path):
        self.media_dir = media_dir
        self._sizes: dict[str, tuple[int, int] | str] = {}

    def resolve(self, name: str) -> str:
        joined = os.path.join(self.media_dir, name)
        return joined if os.path.isfile(joined) else name

    def size(self, name: str) -> tuple[int, int] | str:
        path = self.resolve(name)
        found = self._sizes.get(path)
        if found is None:
            found = self._sizes[path] = _decode(path)
        return found


def _decode(path: str) -> tuple[int, int] | str:
    """The size once every pixel decoded, within Pillow's own limit (as LLaMA-Factory opens it),
    or why not."""
    from vlkd.images.decode import BadImage
    from vlkd.images.files import image_size

    if not os.path.isfile(path):
        return "missing"
    try:
        return image_size(path, decode=True, name=os.path.basename(path))
    except BadImage as exc:
        return exc.reason


# -- one sample ----------------------------------------------------------------------------


class _Remove(Exception):
    """A rule found the sample unusable: with ``fix`` it is removed, else kept as it is."""

    def __init__(self, why: str):
        super().__init__(why)
        self.why = why


@dataclass
class _Work:
    """One sample as the rules see it and repair it."""

    file: str
    index: int
    problems: list[Problem] = field(default_factory=list)
    turns: list[tuple[str, str]] = field(default_factory=list)
    system: str | None = None
    images: list[str] = field(default_factory=list)
    #: visual tokens of all images (set by the image-files rule)
    visual: int = 0
    #: the samples that replace this one (set by the length rule)
    pieces: list[list[tuple[str, str]]] = field(default_factory=list)
    #: a rule repaired something: the sample is rebuilt
    changed: bool = False

    def problem(self, kind: str, message: str) -> Problem:
        p = Problem(self.file, self.index, kind, message)
        self.problems.append(p)
        return p


class _SampleChecker:
    def __init__(self, entry: _Entry, limits: _Limits, images: _ImageCache, fix: bool):
        self.entry = entry
        self.limits = limits
        self.images = images
        self.fix = fix
        t = entry.tags
        self.role, self.content = t["role_tag"], t["content_tag"]
        self.user, self.assistant, self.system = t["user_tag"], t["assistant_tag"], t.get("system_tag")
        self.odd = {t["user_tag"], t.get("observation_tag")}
        self.even = {t["assistant_tag"], t.get("function_tag")}

    def check(self, index: int, sample: Any) -> tuple[list[Problem], list[Any]]:
        """The sample's problems, and what stays in the file in its place (after fixing).

        The sample is read, then the five rules run in turn (:meth:`_roles`,
        :meth:`_image_in_answer`, :meth:`_image_count`, :meth:`_image_files`, :meth:`_length`);
        each adds its problem and, with ``fix``, repairs the turns; a rule that finds the
        sample unusable raises :class:`_Remove`."""
        work = _Work(str(self.entry.file), index)
        try:
            self._read(work, sample)
            for rule in (
                self._roles,
                self._image_in_answer,
                self._image_count,
                self._image_files,
                self._length,
            ):
                rule(work)
        except _Remove as removed:
            if self.fix:
                for p in work.problems:
                    p.fixed = p.fixed or f"sample removed ({removed.why})"
                return work.problems, []
            return work.problems, [sample]
        if not work.changed:
            return work.problems, [sample]
        return work.problems, [
            self._rebuild(sample, piece, work.system, len(work.images)) for piece in work.pieces
        ]

    def _read(self, work: _Work, sample: Any) -> None:
        """The sample's turns, system prompt and image list (a ``structure`` problem if unreadable)."""
        msgs_col, img_col = self.entry.columns["messages"], self.entry.columns.get("images")
        messages = sample.get(msgs_col) if isinstance(sample, dict) else None
        if not isinstance(messages, list) or not all(
            isinstance(m, dict) and isinstance(m.get(self.role), str) and isinstance(m.get(self.content), str)
            for m in messages
        ):
            work.problem(
                "structure",
                f"'{msgs_col}' must be a list of {{{self.role}, {self.content}}} objects with text values",
            )
            raise _Remove("unreadable")
        raw_images = sample.get(img_col) if img_col else None
        work.images = (
            [] if raw_images is None else raw_images if isinstance(raw_images, list) else [raw_images]
        )
        if not all(isinstance(i, str) for i in work.images):
            work.problem("structure", f"'{img_col}' must be a list of image paths")
            raise _Remove("unreadable")
        work.turns = [(m[self.role], m[self.content]) for m in messages]
        if work.turns and self.system and work.turns[0][0] == self.system:
            work.system = work.turns.pop(0)[1]

    def _roles(self, work: _Work) -> None:
        """Rule 1: user/observation at even positions, assistant/function at odd, an even count."""
        turns = work.turns
        broken = [
            i for i, (role, _) in enumerate(turns) if role not in (self.odd if i % 2 == 0 else self.even)
        ]
        if not (broken or len(turns) % 2 or not turns):
            return
        where = (
            f"turn {broken[0]} is '{turns[broken[0]][0]}'"
            if broken
            else "no turns"
            if not turns
            else "it ends with a question (odd number of turns)"
        )
        p = work.problem(
            "roles",
            f"roles must alternate {self.user}/{self.assistant}, starting with "
            f"{self.user}: {where}; LLaMA-Factory skips this sample",
        )
        if self.fix:
            work.turns = self._repair_roles(turns)
            if not work.turns:
                raise _Remove("no question/answer turn left")
            p.fixed = "merged repeated roles, dropped unmatched turns"
            work.changed = True

    def _image_in_answer(self, work: _Work) -> None:
        """Rule 2: a literal ``<image>`` in an answer."""
        if not any(IMAGE_TAG in c for r, c in work.turns if r in self.even):
            return
        p = work.problem(
            "image_in_answer",
            f"an answer contains the literal text {IMAGE_TAG}; LLaMA-Factory takes it for an image slot",
        )
        if self.fix:
            work.turns = [
                (r, c.replace(IMAGE_TAG, ANSWER_TAG_REPLACEMENT) if r in self.even else c)
                for r, c in work.turns
            ]
            p.fixed = f"replaced by {ANSWER_TAG_REPLACEMENT}"
            work.changed = True

    def _image_count(self, work: _Work) -> None:
        """Rule 3: as many ``<image>`` tags as images."""
        tags = sum(c.count(IMAGE_TAG) for _, c in work.turns) + (work.system or "").count(IMAGE_TAG)
        if tags == len(work.images):
            return
        p = work.problem(
            "image_count",
            f"{tags} {IMAGE_TAG} tag(s) but {len(work.images)} image(s); LLaMA-Factory "
            f"stops the whole run on this sample",
        )
        if self.fix:
            turns = [(r, c.replace(IMAGE_TAG, "")) for r, c in work.turns]
            work.system = work.system.replace(IMAGE_TAG, "") if work.system else work.system
            first = next(i for i, (r, _) in enumerate(turns) if r in self.odd)
            turns[first] = (turns[first][0], IMAGE_TAG * len(work.images) + turns[first][1])
            work.turns = turns
            p.fixed = f"one {IMAGE_TAG} per image at the start of the first {self.user} turn"
            work.changed = True

    def _image_files(self, work: _Work) -> None:
        """Rule 4: every image file found and decodable; adds up its visual tokens."""
        for name in work.images:
            size = self.images.size(name)
            if size == "missing":
                work.problem(
                    "missing_image",
                    f"image {name} not found (looked in {self.images.media_dir} and as written)",
                )
            elif isinstance(size, str):
                work.problem("bad_image", f"image {self.images.resolve(name)} cannot be decoded ({size})")
            else:
                work.visual += self._visual(size)
        if any(p.kind in ("missing_image", "bad_image") for p in work.problems):
            raise _Remove("image unusable")

    def _length(self, work: _Work) -> None:
        """Rule 5: visual plus text tokens within ``cutoff_len``."""
        limit, turns, visual = self.limits.cutoff_len, work.turns, work.visual
        total = visual + text_tokens(self.limits.family, turns, work.system, self.limits.tokenizer)
        work.pieces = [turns]
        if total <= limit:
            return
        crash = visual + 2 * len(work.images) >= limit
        p = work.problem(
            "too_long",
            f"{total} tokens ({visual} visual + {total - visual} text) > cutoff_len {limit}; "
            + (
                "LLaMA-Factory cuts into the image tokens and fails ('Image features and image tokens "
                "do not match')"
                if crash
                else "LLaMA-Factory silently drops the turns past the limit"
                if len(turns) > 2
                else "LLaMA-Factory silently truncates it"
            ),
        )
        if self.fix:
            pieces = self._split(turns, work.system, visual, len(work.images))
            if pieces is None:
                raise _Remove("a single turn is longer than cutoff_len")
            work.pieces = pieces
            p.fixed = f"cut into {len(pieces)} samples that fit" if len(pieces) > 1 else "fits after repair"
            work.changed = True

    def _visual(self, size: tuple[int, int]) -> int:
        lim = self.limits
        return image_tokens(
            lim.family, size[0], size[1], lim.image_min_pixels, lim.image_max_pixels, lim.processor_pixels
        )

    def _repair_roles(self, turns: list[tuple[str, str]]) -> list[tuple[str, str]]:
        merged: list[tuple[str, str]] = []
        for role, content in turns:
            side = role in self.odd
            if merged and (merged[-1][0] in self.odd) == side:
                merged[-1] = (merged[-1][0], merged[-1][1] + "\n" + content)
            elif merged or side:  # drop a leading answer
                merged.append(
                    (
                        role if role in self.odd | self.even else (self.user if side else self.assistant),
                        content,
                    )
                )
        if len(merged) % 2:
            merged.pop()  # a trailing question has no answer
        return merged

    def _split(
        self, turns: list[tuple[str, str]], system: str | None, visual: int, n_images: int
    ) -> list[list[tuple[str, str]]] | None:
        """Consecutive question/answer turns grouped into samples that each fit, or None."""
        limit = self.limits.cutoff_len
        tag = IMAGE_TAG * n_images
        qa = [(turns[i], turns[i + 1]) for i in range(0, len(turns), 2)]
        qa = [((q[0], q[1].replace(IMAGE_TAG, "")), a) for q, a in qa]

        def cost(group: list) -> int:
            flat = [x for q, a in group for x in (q, a)]
            flat[0] = (flat[0][0], tag + flat[0][1])
            return visual + text_tokens(self.limits.family, flat, system, self.limits.tokenizer)

        pieces: list[list] = []
        current: list = []
        for pair in qa:
            if current and cost([*current, pair]) > limit:
                pieces.append(current)
                current = []
            current.append(pair)
            if cost(current) > limit:
                return None
        pieces.append(current)
        out = []
        for group in pieces:
            flat = [x for q, a in group for x in (q, a)]
            flat[0] = (flat[0][0], tag + flat[0][1])
            out.append(flat)
        return out

    def _rebuild(
        self, sample: dict[str, Any], turns: list[tuple[str, str]], system: str | None, n_images: int
    ) -> dict[str, Any]:
        messages = [{self.role: self.system, self.content: system}] if system is not None else []
        messages += [{self.role: r, self.content: c} for r, c in turns]
        return {**sample, self.entry.columns["messages"]: messages}

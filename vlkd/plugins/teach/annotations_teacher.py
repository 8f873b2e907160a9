"""Existing pairs as the teacher: CSV/JSONL/JSON files, the seed's ``output.csv`` included.

A team with earlier GPT-4o output adopts vlkd without paying again: each row names its
image by file name (or path, or vlkd image id), and is matched to the ingested images.
Rows naming no ingested image are counted and listed; images without rows are skipped.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field

from vlkd.api import ExistingPath, SkipItem, StageError, Teacher, TeacherOptions, TeachRequest, TeachResponse
from vlkd.api import is_header_row as _is_header
from vlkd.api import unquote_cell as _unquote

if TYPE_CHECKING:
    from collections.abc import Sequence

    from vlkd.api import ImageRecord, PromptPack, StageContext

IMAGE_COLUMNS = (
    "图像名称",
    "image",
    "image_name",
    "image_path",
    "file",
    "filename",
    "path",
    "image_id",
    "图片",
)
QUESTION_COLUMNS = ("问题", "question", "q", "prompt")
ANSWER_COLUMNS = ("答案", "answer", "a", "response")


class AnnotationsOptions(TeacherOptions):
    path: ExistingPath = Field(description="CSV, JSONL or JSON file of pairs (e.g. the seed's output.csv)")
    image_column: str | None = Field(default=None, description="column naming the image [default: found]")
    question_column: str | None = Field(default=None, description="question column [default: found]")
    answer_column: str | None = Field(default=None, description="answer column [default: found]")
    concurrency: int = Field(
        default=1,
        ge=1,
        json_schema_extra={"fingerprint": False},
        description="unused: reading a file needs no concurrency",
    )


def _read_text(path: Path) -> str:
    data = path.read_bytes()
    for encoding in ("utf-8-sig", "gb18030"):  # Excel saves Chinese CSV as GBK on Chinese Windows
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise StageError(f"{path}: neither UTF-8 nor GB18030 text; save it as UTF-8")


def _pick(columns: list[str], wanted: str | None, choices: tuple[str, ...], what: str, path: Path) -> str:
    if wanted is not None:
        if wanted not in columns:
            raise StageError(f"{path}: no column '{wanted}' (columns: {', '.join(columns)})")
        return wanted
    low = {c.strip().lower(): c for c in columns}
    for choice in choices:
        if choice in low:
            return low[choice]
    raise StageError(
        f"{path}: cannot tell which column holds the {what} (columns: {', '.join(columns)}); "
        f"set teach.{what}_column"
    )


def read_rows(path: Path, opts: AnnotationsOptions) -> list[tuple[int, str, str, str]]:
    """(line, image name, question, answer) of every usable row."""
    text = _read_text(path)
    records: list[tuple[int, dict[str, Any]]] = []
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    records.append((n, json.loads(line)))
                except ValueError:
                    raise StageError(f"{path}:{n}: not valid JSON; fix or delete this line") from None
    elif path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise StageError(f"{path}: not valid JSON: {exc}") from None
        records = [(i + 1, r) for i, r in enumerate(data if isinstance(data, list) else [])]
    else:
        reader = csv.DictReader(io.StringIO(text))
        records = [(reader.line_num, r) for r in reader]
    if not records:
        raise StageError(f"{path}: no rows")
    columns = list(records[0][1].keys())
    img_col = _pick(columns, opts.image_column, IMAGE_COLUMNS, "image", path)
    q_col = _pick(columns, opts.question_column, QUESTION_COLUMNS, "question", path)
    a_col = _pick(columns, opts.answer_column, ANSWER_COLUMNS, "answer", path)
    out = []
    for n, rec in records:
        image, q, a = (_unquote(str(rec.get(c) or "")) for c in (img_col, q_col, a_col))
        if not image or not q or not a or _is_header([q, a]):
            continue  # blank, or a header row the seed's loop wrote again in the middle of the file
        out.append((n, image, q, a))
    return out


class AnnotationsTeacher(Teacher):
    """Import existing pairs (CSV/JSONL, the seed's output.csv) for the ingested images."""

    Options = AnnotationsOptions
    options: AnnotationsOptions
    uses_prompt = False
    cacheable = False

    def fingerprint(self) -> Any:
        return hashlib.sha256(self.options.path.read_bytes()).hexdigest()

    def prompt_pack(self) -> PromptPack:
        # no prompts are sent, but the pack's words for "not in the image" mark negatives
        from vlkd.plugins.teach.prompts import automotive_pack

        return automotive_pack()

    def estimate_tokens(self, request: TeachRequest) -> tuple[int, int]:
        return 0, 0

    async def start(self, ctx: StageContext, images: Sequence[ImageRecord]) -> None:
        index: dict[str, str] = {}
        for image in images:
            names = [image.id, image.path, *(s.path for s in image.sources)]
            for name in names:
                index.setdefault(name, image.id)
                index.setdefault(Path(name).name, image.id)
        self.pairs: dict[str, list[dict[str, str]]] = defaultdict(list)
        unmatched: list[str] = []
        for n, name, q, a in read_rows(self.options.path, self.options):
            image_id = index.get(name) or index.get(Path(name.replace("\\", "/")).name)
            if image_id is None:
                unmatched.append(f"line {n}: {name}")
            else:
                self.pairs[image_id].append({"question": q, "answer": a})
        if unmatched:
            ctx.warn(
                f"{self.options.path}: {len(unmatched)} rows name no ingested image, e.g. "
                + "; ".join(unmatched[:3])
            )
            ctx.facts["annotations_unmatched"] = len(unmatched)
            ctx.facts["annotations_unmatched_examples"] = unmatched[:20]

    def respond_sync(self, request: TeachRequest) -> TeachResponse:
        pairs = self.pairs.get(request.image.id)
        if not pairs:
            raise SkipItem(f"no annotations: {request.image_name} is not named in {self.options.path.name}")
        return TeachResponse(pairs=pairs, model=None)

    async def respond(self, request: TeachRequest) -> TeachResponse:
        return self.respond_sync(request)

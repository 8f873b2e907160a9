"""Find the input files of the ``files`` ingestor: directories, globs, files and manifests.

A manifest is a CSV (UTF-8, Excel's BOM accepted) or JSONL file with one row per file:
``path`` (relative to the manifest), optional ``category`` and ``pages`` (a PDF page range),
and any other columns (brand, vehicle_model, ...) kept as the image's metadata.
"""

from __future__ import annotations

import csv
import glob
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vlkd.api import StageError, file_problem, printable_name

PATH_COLUMNS = ("path", "file", "image", "filename", "file_name")
GLOB_CHARS = frozenset("*?[")
MAX_MANIFEST_BYTES = 512 * 1024 * 1024


@dataclass
class InputFile:
    """One file to ingest and what the manifest says about it."""

    path: str
    origin: str | None = None  # "manifest.csv:4" when a manifest listed it
    category: str | None = None
    pages: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    #: why the file is skipped before it is read (a file name that is not UTF-8)
    problem: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "problem": self.problem,
            "path": self.path,
            "origin": self.origin,
            "category": self.category,
            "pages": self.pages,
            "metadata": self.metadata,
        }


@dataclass
class Listing:
    files: list[InputFile]
    #: files found in directories/globs but not ingested (extension not handled), by extension
    ignored: dict[str, int] = field(default_factory=dict)


def is_glob(text: str) -> bool:
    return any(c in GLOB_CHARS for c in text)


def _walk(root: Path) -> list[str]:
    """Files under ``root``, sorted; hidden entries skipped; symlinked folders followed once.
    Each as ``str(Path(folder) / name)`` spells it, without a Path per file (100,000 of them)."""
    found: list[str] = []
    seen: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:  # a symlink loop, or the same folder linked twice
            dirnames[:] = []
            continue
        seen.add(real)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        folder = str(Path(dirpath))
        prefix = "" if folder == "." else folder if folder.endswith("/") else folder + os.sep
        found.extend(prefix + f for f in sorted(filenames) if not f.startswith("."))
    return found


def _suffix(path: str) -> str:
    """``Path(path).suffix``, lower case, from the string."""
    name = path.rpartition(os.sep)[2]
    i = name.rfind(".")
    return name[i:].lower() if 0 < i < len(name) - 1 else ""


def list_inputs(inputs: list[Path], manifests: list[Path], extensions: list[str]) -> Listing:
    """Every input file once (sorted, manifest entries first keep their metadata)."""
    exts = {e.lower() if e.startswith(".") else "." + e.lower() for e in extensions}
    by_path: dict[str, InputFile] = {}
    ignored: dict[str, int] = {}
    for manifest in manifests:
        for item in read_manifest(manifest):
            by_path.setdefault(item.path, item)
    candidates: list[str] = []
    for spec in inputs:
        text = str(spec)
        if is_glob(text):
            candidates.extend(
                str(Path(p)) for p in sorted(glob.glob(text, recursive=True)) if Path(p).is_file()
            )
        elif Path(text).is_dir():
            candidates.extend(_walk(Path(text)))
        elif Path(text).exists():
            # named explicitly: taken whatever its extension
            by_path.setdefault(text, InputFile(text))
        else:
            raise StageError(f"ingest.inputs: no such file or directory: {text}")
    for key in candidates:
        if key in by_path:
            continue
        suffix = _suffix(key)
        shown = printable_name(key)
        if shown is not None and suffix in exts:  # cannot be written to JSON as it is
            by_path[shown] = InputFile(
                shown,
                problem=f"file name is not UTF-8: {shown}: rename it to UTF-8 "
                "(for example with convmv) to ingest it",
            )
            continue
        if suffix in exts:
            by_path[key] = InputFile(key)
        else:
            ext = suffix or "(no extension)"
            ignored[ext] = ignored.get(ext, 0) + 1
    return Listing(sorted(by_path.values(), key=lambda f: f.path), ignored)


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def read_manifest(path: Path) -> list[InputFile]:
    """Rows of a CSV or JSONL manifest; problems name the file and line."""
    problem = file_problem(path, MAX_MANIFEST_BYTES)
    if problem:
        raise StageError(f"{path}: {problem}; a manifest must be a CSV or JSONL file")
    suffix = path.suffix.lower()
    try:
        if suffix in (".jsonl", ".ndjson"):
            rows = _jsonl_rows(path)
        elif suffix in (".csv", ".tsv"):
            rows = _csv_rows(path, "\t" if suffix == ".tsv" else ",")
        else:
            raise StageError(f"{path}: a manifest must be .csv, .tsv or .jsonl")
    except FileNotFoundError:
        raise StageError(f"{path}: manifest not found") from None
    except UnicodeDecodeError as exc:
        raise StageError(
            f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); save it as 'CSV UTF-8'"
        ) from None
    base = path.parent
    out = []
    for line, row in rows:
        origin = f"{path}:{line}"
        key = next((k for k in PATH_COLUMNS if k in row), None)
        if key is None:
            raise StageError(
                f"{origin}: no path column; name one of the columns "
                f"{', '.join(PATH_COLUMNS)} (columns found: {', '.join(map(str, row)) or 'none'})"
            )
        value = _clean(row.pop(key))
        if value is None:
            raise StageError(
                f"{origin}: the '{key}' column is empty; give the image's path or delete the row"
            )
        file = Path(os.path.expanduser(str(value)))
        if not file.is_absolute():
            file = base / file
        category = _clean(row.pop("category", None))
        pages = _clean(row.pop("pages", None))
        nested = row.pop("metadata", None)
        metadata = dict(nested) if isinstance(nested, dict) else {}
        metadata.update({str(k): v for k, v in ((k, _clean(v)) for k, v in row.items()) if v is not None})
        out.append(
            InputFile(
                os.path.normpath(file), origin, category, None if pages is None else str(pages), metadata
            )
        )
    return out


def _csv_rows(path: Path, delimiter: str) -> list[tuple[int, dict[str, Any]]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh, delimiter=delimiter)
        if not reader.fieldnames:
            raise StageError(f"{path}: empty manifest (no header row)")
        rows = []
        for row in reader:
            extra = row.pop(None, None)  # type: ignore[call-overload]
            if extra:
                raise StageError(
                    f"{path}:{reader.line_num}: more values than columns; quote values "
                    f"that contain '{delimiter}'"
                )
            rows.append((reader.line_num, {k.strip(): v for k, v in row.items() if k is not None}))
        return rows


def _jsonl_rows(path: Path) -> list[tuple[int, dict[str, Any]]]:
    rows = []
    with path.open(encoding="utf-8-sig") as fh:
        for line_no, text in enumerate(fh, 1):
            if not text.strip():
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                raise StageError(f"{path}:{line_no}: not valid JSON ({exc.msg})") from None
            if not isinstance(obj, dict):
                raise StageError(f"{path}:{line_no}: each line must be a JSON object with a 'path' key")
            rows.append((line_no, obj))
    return rows

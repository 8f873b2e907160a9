"""Append-only JSONL files that survive a kill at any moment.

Each record is one line written with a single ``os.write`` on a file opened with
``O_APPEND``: after ``kill -9`` a record is either wholly there or not at all. A torn last
line (power loss, a full disk) is tolerated by readers and cut off before the next append.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

#: one encoder for every line (``json.dumps`` with options builds a new one per call)
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str)


def dumps(obj: Any) -> str:
    return _ENCODER.encode(obj)


def parse_line(raw: bytes, where: str) -> Any:
    """One line of a JSONL file; ``where`` (``file:line``) names it when it is not JSON or not UTF-8.

    A line without its newline that does not parse is torn (a write that never finished: a kill,
    a full disk, even inside a character): ``None``, for the caller to skip."""
    try:
        return json.loads(raw)
    except ValueError:  # JSONDecodeError, UnicodeDecodeError
        if not raw.endswith(b"\n"):
            return None
        from vlkd.core.errors import CorruptLine

        raise CorruptLine(f"{where}: not valid JSON; fix or delete this line") from None


def read_jsonl(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """Yield the objects of a JSONL file; a torn (unterminated, unparsable) last line is skipped,
    any other bad line is a :class:`~vlkd.core.errors.CorruptLine` naming ``file:line``."""
    path = Path(path)
    if not path.exists():
        return
    with path.open("rb") as fh:
        for line_no, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            obj = parse_line(raw, f"{path}:{line_no}")
            if obj is None:
                return  # torn last line: the write never finished
            yield obj


def read_json(path: str | os.PathLike[str], *, missing: str | None = None) -> Any:
    """A whole JSON file, or a ``StageError`` naming the file, line and column of what is wrong.

    ``missing`` says what to do when the file does not exist (else the message says it is missing).
    """
    from vlkd.core.errors import StageError

    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StageError(f"{path}: missing" + (f"; {missing}" if missing else "")) from None
    except json.JSONDecodeError as exc:
        raise StageError(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise StageError(f"{path}: not readable JSON ({exc})") from None


def repair_torn_tail(path: Path) -> int:
    """Cut an unterminated last line off ``path``; return the number of bytes removed."""
    if not path.exists():
        return 0
    size = path.stat().st_size
    if size == 0:
        return 0
    with path.open("rb+") as fh:
        fh.seek(-1, os.SEEK_END)
        if fh.read(1) == b"\n":
            return 0
        # walk back to the last newline
        pos = size
        chunk = 65536
        while pos > 0:
            start = max(0, pos - chunk)
            fh.seek(start)
            block = fh.read(pos - start)
            idx = block.rfind(b"\n")
            if idx >= 0:
                keep = start + idx + 1
                break
            pos = start
        else:
            keep = 0
        fh.truncate(keep)
        return size - keep


class JsonlAppender:
    """Appends whole records atomically; repairs a torn tail when opened."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.repaired_bytes = repair_torn_tail(self.path)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def append(self, obj: Any) -> None:
        self.append_many((obj,))

    def append_many(self, objs: Iterable[Any]) -> None:
        self.write("".join(dumps(o) + "\n" for o in objs).encode("utf-8"))

    def write(self, data: bytes) -> None:
        """Append whole lines (``data`` ends with a newline) in one write."""
        view = memoryview(data)
        while view:  # os.write may write less than asked for on some file systems
            written = os.write(self._fd, view)
            view = view[written:]

    def flush(self) -> None:
        os.fsync(self._fd)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> JsonlAppender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_jsonl_atomic(path: str | os.PathLike[str], objs: Iterable[Any]) -> int:
    """Write a whole JSONL file via a temporary file and rename; return the number of lines."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    n = 0
    with tmp.open("w", encoding="utf-8") as fh:
        for obj in objs:
            fh.write(dumps(obj) + "\n")
            n += 1
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return n


def write_json_atomic(path: str | os.PathLike[str], obj: Any) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, ensure_ascii=False, indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)

"""docs/architecture.md's walks name real places: every `path.py:LINE` hop is a file of vlkd, the
line is in it, and a hop that names a function or class (`path.py:LINE` `name`) names one that
the file holds (lines move as code changes; the names must stay true)."""

from __future__ import annotations

import re
from pathlib import Path

import vlkd

ROOT = Path(vlkd.__file__).parent
DOC = ROOT.parent / "docs" / "architecture.md"
#: `path.py:LINE` or `:LINE`, optionally followed by `name`
HOP = re.compile(r"`([\w/]+\.py)?:(\d+)`(?:\s*`([\w.]+)`)?")


def hops() -> list[tuple[str, int, str | None]]:
    text = DOC.read_text(encoding="utf-8")
    walks = text[text.index("## The walk of one image record") :]
    found, full, last = [], {}, None
    for path, line, name in HOP.findall(walks):
        if path:
            # a bare file name is the last path of that name; a `:LINE` the last file named
            last = full.setdefault(Path(path).name, path) if "/" not in path else path
            full[Path(path).name] = last
        if last is not None:
            found.append((last, int(line), name or None))
    return found


def test_every_hop_of_the_walks_is_in_its_file():
    found = hops()
    assert len(found) > 50
    wrong = []
    for path, line, name in found:
        file = ROOT / path
        if not file.is_file():
            wrong.append(f"{path}: no such file")
            continue
        text = file.read_text(encoding="utf-8")
        if line > text.count("\n") + 1:
            wrong.append(f"{path}:{line}: past the end")
        short = (name or "").split(".")[-1]
        if short and not re.search(rf"\b(def|class) {re.escape(short)}\b|\b{re.escape(short)}\b", text):
            wrong.append(f"{path}:{line}: `{name}` is not in the file")
    assert wrong == []

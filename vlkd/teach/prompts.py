"""Prompts are text files with ``${variables}``; the one used depends on the image's category.

A :class:`PromptPack` (which files, which categories, what the categories are also called) comes
from the teacher plugin (``Teacher.prompt_pack()``): the built-in one lives beside its files in
``vlkd/plugins/teach/prompts/``. The hash of the templates used goes into each pair's
provenance; the hash of the rendered text goes into the cache key.
"""

from __future__ import annotations

import hashlib
import os
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from vlkd.core.errors import StageError

if TYPE_CHECKING:
    from vlkd.core.records import ImageRecord
    from vlkd.teach.options import TeacherOptions


@dataclass(frozen=True)
class PromptPack:
    """A set of prompt files and the words that go with them.

    ``root/<language>/`` holds ``system.txt``, ``output_csv.txt``, ``output_json.txt``,
    ``negative_ratio.txt``, ``ocr_context.txt`` and one ``<category>.txt`` per category.
    """

    root: Path
    #: categories with a system prompt of their own
    categories: tuple[str, ...] = ()
    #: other spellings of the categories, so that an ingestor's names find their file
    aliases: Mapping[str, str] = field(default_factory=dict)
    #: answers that mean "not in the image", besides the configured ``negative_answer``
    negative_aliases: tuple[str, ...] = ()


FIXED_VARIABLES = (
    "negative_answer",
    "category",
    "image_name",
    "width",
    "height",
    "output_instructions",
    "negative_ratio_instruction",
    "negative_percent",
    "ocr_text",
)


class _Template(string.Template):
    idpattern = r"(?a:[_a-z][_a-z0-9]*(?:\.[_a-zA-Z0-9-]+)?)"


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise StageError(f"prompt file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise StageError(f"prompt file {path}: not UTF-8 text; save it as UTF-8") from None


def check_template(path: Path, text: str, allowed: set[str]) -> None:
    """Every ``${name}`` must be known (``meta.*`` always is); a bad ``$`` is an error too."""
    tpl = _Template(text)
    if not tpl.is_valid():
        raise StageError(f"prompt file {path}: a '$' that starts no ${{variable}} (write $$ for a literal $)")
    for name in tpl.get_identifiers():
        if name not in allowed and not name.startswith("meta."):
            raise StageError(
                f"prompt file {path}: unknown variable ${{{name}}}; known: "
                + ", ".join(sorted(allowed))
                + ", meta.KEY"
            )


class PromptSet:
    """The prompt files of one teacher section, checked once, rendered per image."""

    def __init__(self, options: TeacherOptions, pack: PromptPack | None):
        self.options = options
        p = options.prompt
        if pack is None:
            raise StageError(
                f"teacher '{options.plugin}' has no prompt pack: its class must return one from "
                f"prompt_pack() (the built-in one: vlkd.plugins.teach.prompts.automotive_pack())"
            )
        self.pack = pack
        self.lang_dir = pack.root / p.language
        self.allowed = set(FIXED_VARIABLES) | set(p.variables)
        self._cache: dict[Path, str] = {}
        #: per template file: the parsed template and its ``meta.`` names; per set of files
        #: used, their hash (a batch renders 100,000 prompts from the same few files)
        self._templates: dict[Path, tuple[_Template, dict[str, str]]] = {}
        self._hashes: dict[tuple[Path, ...], str] = {}
        self._lang: dict[str, Path] = {}
        self.default_system = p.system or self.lang_dir / "system.txt"
        self.user_file = p.user
        for path in self.files():
            check_template(path, self.text(path), self.allowed)

    def text(self, path: Path) -> str:
        if path not in self._cache:
            self._cache[path] = _read(path)
        return self._cache[path]

    def files(self) -> list[Path]:
        """Every file this section may use (their contents are part of the stage fingerprint)."""
        p = self.options.prompt
        out = [self.default_system, self.lang_dir / f"output_{self.options.output}.txt"]
        if self.options.negative_ratio is not None:
            out.append(self.lang_dir / "negative_ratio.txt")
        if getattr(self.options, "ocr_context", False):
            out.append(self.lang_dir / "ocr_context.txt")
        if self.user_file:
            out.append(self.user_file)
        if p.by_category and p.system is None:
            out += [self.lang_dir / f"{c}.txt" for c in self.pack.categories]
        out += list(p.categories.values())
        return list(dict.fromkeys(out))

    def fingerprint(self) -> str:
        h = hashlib.sha256()
        for path in self.files():
            h.update(str(path.name).encode() + b"\0" + self.text(path).encode() + b"\0")
        return h.hexdigest()[:16]

    def system_file(self, category: str | None) -> Path:
        p = self.options.prompt
        if category:
            if category in p.categories:
                return p.categories[category]
            name = self.pack.aliases.get(category, category)
            if p.by_category and p.system is None and name in self.pack.categories:
                return self.lang_file(f"{name}.txt")
        return self.default_system

    def render(self, record: ImageRecord, extra: dict[str, str] | None = None) -> tuple[str, str, str]:
        """(system text, user text, hash of the templates used) for one image."""
        opts = self.options
        values: dict[str, str] = {
            "negative_answer": opts.negative_answer,
            "category": record.category or "",
            "image_name": os.path.basename(record.path),
            "width": str(record.width),
            "height": str(record.height),
            "ocr_text": "",
            "negative_percent": "",
            **opts.prompt.variables,
            **(extra or {}),
        }
        values.update({f"meta.{k}": str(v) for k, v in record.metadata.items()})
        used = []

        def fill(path: Path) -> str:
            used.append(path)
            got = self._templates.get(path)
            if got is None:
                tpl = _Template(self.text(path))
                names = {n: "" for n in tpl.get_identifiers() if n.startswith("meta.")}
                got = self._templates[path] = (tpl, names)
            tpl, names = got
            return tpl.substitute({**names, **values} if names else values)

        if opts.negative_ratio is not None:
            values["negative_percent"] = f"{round(opts.negative_ratio * 100)}"
            values["negative_ratio_instruction"] = fill(self.lang_file("negative_ratio.txt"))
        else:
            values["negative_ratio_instruction"] = ""
        values["output_instructions"] = fill(self.lang_file(f"output_{opts.output}.txt"))
        system = fill(self.system_file(record.category))
        user = fill(self.user_file) if self.user_file else ""
        if values["ocr_text"]:
            hint = fill(self.lang_file("ocr_context.txt"))
            user = f"{user.rstrip()}\n\n{hint}" if user.strip() else hint
        files = tuple(used)
        digest = self._hashes.get(files)
        if digest is None:
            h = hashlib.sha256()
            for path in used:
                h.update(self.text(path).encode() + b"\0")
            digest = self._hashes[files] = h.hexdigest()[:16]
        return system, user, digest

    def lang_file(self, name: str) -> Path:
        """``name`` in the language's folder of the prompt pack."""
        path = self._lang.get(name)
        if path is None:
            path = self._lang[name] = self.lang_dir / name
        return path

"""The house uses its own door: built-in plugins import vlkd's engine only through ``vlkd.api``.

The rule, for every module under ``vlkd/plugins/`` (function-level imports included):

- ``vlkd.api``: the engine (``vlkd.core``) is reached only through it;
- its own stage package (``vlkd.plugins.<stage>``);
- vlkd's support libraries, which know no stage: ``vlkd.images`` (decoding, resizing),
  ``vlkd.metrics`` (scores), ``vlkd.students`` (model families), ``vlkd.llamafactory`` (the
  dataset format and its rules), ``vlkd.ocr`` and ``vlkd.adapters`` (services several
  stages share), ``vlkd.distributed`` (Ray: the executor and Ray Data LLM, imported only when a
  recipe asks for them);
- never ``vlkd.core``, the CLI, ``vlkd.testing``, or another stage's package: what plugins share
  goes through a hook or a support library.
"""

from __future__ import annotations

import ast
from pathlib import Path

import vlkd

PLUGINS = Path(vlkd.__file__).parent / "plugins"
SUPPORT = (
    "vlkd.images",
    "vlkd.metrics",
    "vlkd.students",
    "vlkd.llamafactory",
    "vlkd.ocr",
    "vlkd.adapters",
    "vlkd.distributed",
    "vlkd.answering",
)

#: plugins that still reach into another stage's package; each is a debt to pay, never to add to
KNOWN_CROSSINGS: set[tuple[str, str]] = set()


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
    return [(line, m) for line, m in found if m == "vlkd" or m.startswith("vlkd.")]


def _own_package(path: Path) -> str:
    rel = path.relative_to(PLUGINS)
    return "vlkd.plugins." + (rel.parts[0] if len(rel.parts) > 1 else rel.stem)


def _problems() -> tuple[list[str], set[tuple[str, str]]]:
    wrong, crossings = [], set()
    for path in sorted(PLUGINS.rglob("*.py")):
        own = _own_package(path)
        for line, module in _imports(path):
            where = f"{path.relative_to(PLUGINS.parents[1])}:{line}"
            if module == "vlkd.api" or module == own or module.startswith(own + "."):
                continue
            if module.startswith(SUPPORT):
                continue
            if module.startswith("vlkd.plugins."):
                crossings.add((own, ".".join(module.split(".")[:3])))
                continue
            wrong.append(f"{where}: imports {module}")
    return wrong, crossings


def test_no_built_in_plugin_imports_the_engine_or_the_cli():
    wrong, _ = _problems()
    assert wrong == [], "import these names from vlkd.api (add them there if missing):\n" + "\n".join(wrong)


def test_plugins_do_not_reach_into_each_other():
    _, crossings = _problems()
    assert crossings <= KNOWN_CROSSINGS, (
        f"new imports of another stage's package: {crossings - KNOWN_CROSSINGS}"
    )


def test_the_rule_catches_an_import_of_the_core(tmp_path, monkeypatch):
    bad = PLUGINS / "split" / "_test_bad_import.py"
    bad.write_text("def f():\n    from vlkd.core.errors import StageError\n    return StageError\n")
    try:
        wrong, _ = _problems()
    finally:
        bad.unlink()
    assert wrong == ["vlkd/plugins/split/_test_bad_import.py:2: imports vlkd.core.errors"]

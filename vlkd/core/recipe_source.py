"""From recipe files to one merged mapping with positions: ``extends``, ``${env:..}``, ``--set``.

Rules:
- ``extends`` is a path or a list of paths, relative to the file that names it. Bases are
  merged in order, then the file itself on top: mappings merge deeply, lists and scalars
  replace. A cycle is an error naming the chain.
- ``${env:VAR}`` and ``${env:VAR,default}`` inside any string are replaced by the
  environment variable; a missing variable without a default is an error naming the
  variable and the key that uses it.
- ``--set a.b.c=VALUE`` overrides any key; VALUE is typed as YAML would type it.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from vlkd.core.errors import Location, RecipeError
from vlkd.core.yaml_positions import Path_, Positions, load_yaml_file, nearest_location

_ENV = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?:,([^}]*))?\}")


@dataclass
class RecipeSource:
    """The merged, interpolated recipe data, where each key came from, and the files read."""

    data: dict[str, Any]
    positions: Positions
    path: Path
    files: list[Path] = field(default_factory=list)
    #: paths whose value came from an environment variable (never echoed back in messages)
    env_paths: set[Path_] = field(default_factory=set)
    #: the ``--set`` expressions applied, in order
    overrides: list[str] = field(default_factory=list)

    def where(self, path: Path_) -> Location:
        return nearest_location(self.positions, path) or Location(str(self.path))


def dotted(path: Path_) -> str:
    return ".".join(str(p) for p in path) or "<recipe>"


def _deep_merge(base: Any, over: Any, base_pos: Positions, over_pos: Positions, path: Path_) -> Any:
    """Merge ``over`` onto ``base``; ``base_pos`` is updated in place to describe the result."""
    if isinstance(base, dict) and isinstance(over, dict):
        merged = dict(base)
        for key, value in over.items():
            sub = (*path, key)
            if key in merged:
                merged[key] = _deep_merge(merged[key], value, base_pos, over_pos, sub)
            else:
                merged[key] = value
                _copy_positions(over_pos, base_pos, sub)
            if sub in over_pos:
                base_pos[sub] = over_pos[sub]
        return merged
    # lists and scalars replace: forget the base's positions below this path
    for p in [p for p in base_pos if len(p) > len(path) and p[: len(path)] == path]:
        del base_pos[p]
    _copy_positions(over_pos, base_pos, path)
    return over


def _copy_positions(src: Positions, dst: Positions, prefix: Path_) -> None:
    n = len(prefix)
    for p, loc in src.items():
        if p[:n] == prefix:
            dst[p] = loc


_Loaded = dict[Path, tuple[dict, Positions]]


def _load_with_extends(
    path: Path, chain: tuple[Path, ...], files: list[Path], loaded: _Loaded
) -> tuple[dict, Positions]:
    """One file merged with its bases; ``loaded`` keeps each file's result, so a base that
    several files extend (a diamond) is read and merged once, not once per way to reach it."""
    path = path.resolve()
    if path in chain:
        names = " -> ".join(str(p) for p in (*chain, path))
        raise RecipeError([f"{chain[-1]}: extends cycle: {names}"])
    if path not in loaded:
        loaded[path] = _load_one(path, chain, files, loaded)
    data, positions = loaded[path]
    return copy.deepcopy(data), dict(positions)


def _load_one(
    path: Path, chain: tuple[Path, ...], files: list[Path], loaded: _Loaded
) -> tuple[dict, Positions]:
    data, positions = load_yaml_file(path)
    files.append(path)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise RecipeError([f"{positions.get((), Location(str(path)))}: a recipe must be a mapping of keys"])
    extends = data.pop("extends", None)
    if extends is None:
        return data, positions
    bases = [extends] if isinstance(extends, str) else extends
    if not isinstance(bases, list) or not all(isinstance(b, str) for b in bases):
        raise RecipeError([f"{positions[('extends',)]}: extends: must be a path or a list of paths"])
    merged: dict[str, Any] = {}
    merged_pos: Positions = {}
    for i, base in enumerate(bases):
        base_path = (path.parent / base).resolve()
        key_path: Path_ = ("extends",) if isinstance(extends, str) else ("extends", i)
        if not base_path.is_file():
            where = positions.get(key_path) or positions[("extends",)]
            raise RecipeError([f"{where}: extends: no such file: {base} (resolved to {base_path})"])
        base_data, base_pos = _load_with_extends(base_path, (*chain, path), files, loaded)
        merged = _deep_merge(merged, base_data, merged_pos, base_pos, ())
    positions = {p: loc for p, loc in positions.items() if p[:1] != ("extends",)}
    merged = _deep_merge(merged, data, merged_pos, positions, ())
    return merged, merged_pos


def _interpolate(value: Any, path: Path_, src: RecipeSource, problems: list[str]) -> Any:
    if isinstance(value, dict):
        return {k: _interpolate(v, (*path, k), src, problems) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, (*path, i), src, problems) for i, v in enumerate(value)]
    if not isinstance(value, str) or "${" not in value:
        return value

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        found = os.environ.get(name)
        if found is None:
            if default is not None:
                return default
            problems.append(
                f"{src.where(path)}: {dotted(path)}: environment variable {name} is not set "
                f"(set it, or give a default: ${{env:{name},VALUE}})"
            )
            return ""
        src.env_paths.add(path)
        return found

    return _ENV.sub(replace, value)


def parse_set(expr: str) -> tuple[Path_, Any]:
    """``teach.model=gpt-4o-mini`` -> (('teach', 'model'), 'gpt-4o-mini'); YAML typing for the value."""
    key, sep, raw = expr.partition("=")
    if not sep or not key.strip():
        raise RecipeError([f"--set {expr}: expected KEY=VALUE, for example --set teach.model=gpt-4o-mini"])
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise RecipeError([f"--set {expr}: value is not valid YAML: {exc}"]) from None
    except RecursionError:
        raise RecipeError([f"--set {expr}: value nested too deeply"]) from None
    path = tuple(int(p) if p.isdigit() else p for p in key.strip().split("."))
    return path, value


def _apply_set(data: dict, positions: Positions, expr: str) -> None:
    path, value = parse_set(expr)
    node: Any = data
    for i, part in enumerate(path[:-1]):
        nxt = path[i + 1]
        if isinstance(node, list):
            if not isinstance(part, int) or part >= len(node):
                raise RecipeError([f"--set {expr}: {dotted(path[: i + 1])}: no such list item"])
            node = node[part]
            continue
        if not isinstance(node, dict):
            raise RecipeError([f"--set {expr}: {dotted(path[:i])} is not a mapping"])
        if part not in node or not isinstance(node[part], dict | list):
            node[part] = [] if isinstance(nxt, int) else {}
        node = node[part]
    last = path[-1]
    if isinstance(node, list):
        if not isinstance(last, int) or last > len(node):
            raise RecipeError([f"--set {expr}: {dotted(path)}: no such list item"])
        if last == len(node):
            node.append(value)
        else:
            node[last] = value
    elif isinstance(node, dict):
        node[last] = value
    else:
        raise RecipeError([f"--set {expr}: {dotted(path[:-1])} is not a mapping"])
    for p in [p for p in positions if p[: len(path)] == path]:
        del positions[p]
    positions[path] = Location(f"--set {expr}")


def load_recipe_source(path: str | os.PathLike[str], overrides: Sequence[str] = ()) -> RecipeSource:
    """Read a recipe and everything it extends; apply ``--set`` overrides and interpolation."""
    path = Path(path)
    files: list[Path] = []
    data, positions = _load_with_extends(path, (), files, {})
    for expr in overrides:
        _apply_set(data, positions, expr)
    src = RecipeSource(
        data=data, positions=positions, path=path.resolve(), files=files, overrides=list(overrides)
    )
    problems: list[str] = []
    src.data = _interpolate(data, (), src, problems)
    if problems:
        raise RecipeError(problems)
    return src

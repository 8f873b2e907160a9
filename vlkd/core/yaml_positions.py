"""YAML loading that remembers where every key came from.

``yaml.safe_load`` throws away line numbers, so a validation error could only name a
dotted path. Here a document is composed into nodes and converted by hand, recording the
location of every mapping key and sequence item under its path (a tuple of keys and list
indices). Errors are then reported at ``file:line:col`` of the offending key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from vlkd.core.errors import Location, RecipeError

Path_ = tuple[str | int, ...]
Positions = dict[Path_, Location]

#: a recipe is small: these bound hostile YAML (an alias "billion laughs" of a few hundred bytes
#: expands to gigabytes; 1,000 nested brackets overflow Python's stack)
MAX_NODES = 20_000
MAX_DEPTH = 64
MAX_RECIPE_BYTES = 4 * 1024 * 1024


class _Budget:
    def __init__(self, file: str):
        self.file = file
        self.nodes = 0

    def spend(self, node: yaml.Node, depth: int) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise RecipeError(
                [
                    f"{_loc(self.file, node)}: more than {MAX_NODES:,} values once YAML aliases are "
                    f"expanded (an alias bomb?); a recipe needs far fewer: remove the nested aliases"
                ]
            )
        if depth > MAX_DEPTH:
            raise RecipeError(
                [
                    f"{_loc(self.file, node)}: nested more than {MAX_DEPTH} levels deep; a recipe needs far fewer"
                ]
            )


def _loc(file: str, node: yaml.Node) -> Location:
    mark = node.start_mark
    return Location(file, mark.line + 1, mark.column + 1)


def _convert(
    node: yaml.Node, loader: yaml.SafeLoader, file: str, path: Path_, pos: Positions, budget: _Budget
) -> Any:
    budget.spend(node, len(path))
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)  # resolves YAML merge keys (<<: *anchor)
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, str | int | float | bool) and key is not None:
                raise RecipeError([f"{_loc(file, key_node)}: mapping keys must be plain scalars"])
            if key in out:
                where = ".".join(str(p) for p in (*path, key))
                raise RecipeError([f"{_loc(file, key_node)}: {where}: duplicate key '{key}'"])
            where_key: Path_ = (*path, key)  # type: ignore[arg-type]  # YAML keys: any plain scalar
            pos[where_key] = _loc(file, key_node)
            out[key] = _convert(value_node, loader, file, where_key, pos, budget)
        return out
    if isinstance(node, yaml.SequenceNode):
        items = []
        for i, item in enumerate(node.value):
            pos[(*path, i)] = _loc(file, item)
            items.append(_convert(item, loader, file, (*path, i), pos, budget))
        return items
    return loader.construct_object(node, deep=True)


def _check_depth(text: str, file: str) -> None:
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                mark = event.start_mark
                where = Location(file, mark.line + 1, mark.column + 1) if mark else Location(file)
                raise RecipeError(
                    [f"{where}: nested more than {MAX_DEPTH} levels deep; a recipe needs far fewer"]
                )
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def load_yaml_with_positions(text: str, file: str) -> tuple[Any, Positions]:
    """Parse one YAML document; return the data and the location of every key/item path."""
    loader = yaml.SafeLoader(text)
    try:
        _check_depth(text, file)  # before composing: the composer recurses once per level
        node = loader.get_single_node()
        positions: Positions = {}
        if node is None:
            return None, positions
        positions[()] = _loc(file, node)
        return _convert(node, loader, file, (), positions, _Budget(file)), positions
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Location(file, mark.line + 1, mark.column + 1) if mark else Location(file)
        what = " ".join(s for s in (exc.context, exc.problem) if s)
        raise RecipeError([f"{where}: YAML syntax error: {what}"]) from None
    except yaml.YAMLError as exc:
        raise RecipeError([f"{file}: YAML error: {exc}"]) from None
    except RecursionError:
        raise RecipeError(
            [f"{file}: nested more than {MAX_DEPTH} levels deep; a recipe needs far fewer"]
        ) from None
    finally:
        loader.dispose()


def load_yaml_file(path: Path) -> tuple[Any, Positions]:
    from vlkd.core.safe_files import file_problem

    problem = file_problem(path, MAX_RECIPE_BYTES)
    if problem:
        raise RecipeError([f"{path}: {problem}; give the recipe's YAML file"])
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RecipeError([f"{path}: no such file"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RecipeError([f"{path}: cannot read: {exc}"]) from None
    return load_yaml_with_positions(text, str(path))


def nearest_location(positions: Positions, path: Path_) -> Location | None:
    """The location of ``path``, else of its nearest ancestor that has one."""
    for n in range(len(path), -1, -1):
        loc = positions.get(tuple(path[:n]))
        if loc is not None:
            return loc
    return None

"""The ``--set`` overrides a run directory remembers, so that a re-run continues the same run.

``vlkd run r.yaml --set teach.base_url=... --run-dir D`` stores its overrides in
``D/manifest.json``; a later ``vlkd run r.yaml --run-dir D`` applies them again (and says
so), so resuming never silently falls back to the recipe file's own values and re-pays a
teacher. An override given again with another value replaces the remembered one and is
reported as a change; ``--forget-sets`` drops the remembered ones; ``--fresh`` starts over
with the command's own. Secret values are never remembered (they would be written to disk).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import SecretStr

from vlkd.core.errors import VlkdError
from vlkd.core.recipe_source import dotted, parse_set

if TYPE_CHECKING:
    from vlkd.core.recipe import Recipe

_SECRET_WORDS = ("key", "token", "secret", "password")


@dataclass
class Overrides:
    """The overrides to apply and what a person should be told about them."""

    apply: list[str]
    notes: list[str] = field(default_factory=list)


def _key(expr: str) -> tuple:
    return parse_set(expr)[0]


def command(exprs: list[str]) -> str:
    return " ".join(f"--set {shlex.quote(e)}" for e in exprs)


def remembered(run_dir: Path, recipe_path: Path, recipe_name: str) -> list[str]:
    """The overrides stored in ``run_dir`` by a run of this recipe (by file or by name)."""
    from vlkd.core.rundir import RunDir

    try:
        manifest = RunDir(run_dir).read_manifest()
    except VlkdError:
        return []
    if not manifest:
        return []
    recipe = manifest.get("recipe", {})
    same = recipe.get("name") == recipe_name or recipe.get("path") == str(Path(recipe_path).resolve())
    stored = manifest.get("overrides") or []
    return [str(e) for e in stored] if same and isinstance(stored, list) else []


def merge(stored: list[str], given: list[str], *, forget: bool = False) -> Overrides:
    """The command's overrides on top of the remembered ones (replacing those of the same key)."""
    if forget:
        notes = (
            [f"forgetting the overrides this run directory remembered: {command(stored)}"] if stored else []
        )
        return Overrides(list(given), notes)
    given_keys = [_key(g) for g in given]
    kept, notes = [], []
    for expr in stored:
        key = _key(expr)
        replaced = [g for g, k in zip(given, given_keys, strict=True) if key[: len(k)] == k]
        if not replaced:
            kept.append(expr)
        elif expr not in replaced:
            notes.append(f"override changed: {replaced[-1]} (this run directory had {expr})")
    if kept:
        notes.insert(
            0,
            f"with the overrides this run directory remembers: {command(kept)} (--forget-sets drops them)",
        )
    return Overrides(kept + [g for g in given if g not in kept], notes)


def is_secret(recipe: Recipe, expr: str) -> bool:
    """Whether an override sets a secret (a ``SecretStr`` option, or a key/token-like name)."""
    path = _key(expr)
    last = str(path[-1]).lower()
    if any(word in last for word in _SECRET_WORDS):
        return True
    stage = recipe.stages.get(str(path[0]))
    for step in stage.steps if stage else ():
        if isinstance(getattr(step.options, str(path[-1]), None), SecretStr):
            return True
    return False


def to_remember(recipe: Recipe) -> tuple[list[str], list[str]]:
    """(overrides safe to store, dotted keys of secret ones left out)."""
    keep: list[str] = []
    secret: list[str] = []
    for expr in recipe.source.overrides:
        (secret if is_secret(recipe, expr) else keep).append(expr)
    return keep, [dotted(_key(e)) for e in secret]

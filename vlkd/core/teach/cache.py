"""The persistent teacher response cache: a response once paid for is never paid for again.

One JSON file per response under ``<run>/cache/teach/``, named by the hash of everything
that decides the response: the image bytes, the rendered prompt, the plugin, the model and
the generation parameters (never the key). It survives ``--fresh`` and re-runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vlkd.core.jsonl import write_json_atomic
from vlkd.core.recipe import stable_hash


def cache_key(
    *,
    image_sha256: str,
    prompt_hash: str | None,
    plugin: str,
    model: str | None,
    params: dict[str, Any],
    attempt: int = 0,
) -> str:
    """``attempt`` > 0 names the responses asked for again because earlier ones could not be parsed."""
    return stable_hash(
        {
            "image": image_sha256,
            "prompt": prompt_hash,
            "plugin": plugin,
            "model": model,
            "params": params,
            "attempt": attempt,
        }
    )


class ResponseCache:
    def __init__(self, root: Path, *, read: bool = True):
        self.root = root / "teach"
        self.read = read

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        if not self.read:
            return None
        path = self._path(key)
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return None  # a damaged entry is asked for again and overwritten

    def has(self, key: str) -> bool:
        return self.read and self._path(key).exists()

    def stored(self, key: str) -> bool:
        """Whether the entry is on disk (also under ``--no-cache``, which only stops reading)."""
        return self._path(key).exists()

    def put(self, key: str, value: dict[str, Any]) -> None:
        write_json_atomic(self._path(key), value)

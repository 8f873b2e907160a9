"""Skip a test, with the reason, when an optional extra of vlkd is not installed.

The extras are read from vlkd's own package metadata (``pyproject.toml``), so this module
holds no second list of them::

    @needs("openai")
    def test_the_sdk_against_the_fake_provider(): ...
"""

from __future__ import annotations

import importlib.metadata
import re

import pytest
from packaging.requirements import Requirement

_NEEDS = re.compile(r"needs: pip install ")


def missing(extra: str) -> list[str]:
    """The distributions of ``vlkd[extra]`` that are not installed (extras of extras included)."""
    out: list[str] = []
    for line in importlib.metadata.requires("vlkd") or []:
        req = Requirement(line)
        if req.marker is None or not req.marker.evaluate({"extra": extra}):
            continue
        if req.name == "vlkd":
            out.extend(m for sub in sorted(req.extras) for m in missing(sub))
            continue
        try:
            importlib.metadata.version(req.name)
        except importlib.metadata.PackageNotFoundError:
            out.append(req.name)
    return out


def needs(*extras: str) -> pytest.MarkDecorator:
    """Mark a test that needs these extras: skipped, naming the install command, without them."""
    lacking = {extra: m for extra in extras if (m := missing(extra))}
    reason = "; ".join(f'needs pip install "vlkd[{e}]" (missing: {", ".join(m)})' for e, m in lacking.items())
    return pytest.mark.skipif(bool(lacking), reason=reason)


def skip_if_only_extras_missing(message: str) -> None:
    """Skip when every line of a user error says a plugin needs an extra; else return (a real error)."""
    lines = [line for line in message.strip().splitlines() if line.strip()]
    if lines and all(_NEEDS.search(line) for line in lines):
        pytest.skip("; ".join(line.split(": plugin ", 1)[-1] for line in lines))

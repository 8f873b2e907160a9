"""Import an SDK with some of its packages' ``__init__`` deferred until something reads them.

The OpenAI SDK's ``__init__`` imports ``openai.types`` whole, and its client imports
``openai.lib``, which imports ``openai.types.responses`` whole: about 400 modules of types that
vlkd's calls never touch, half the SDK's import time. A deferred package is in ``sys.modules``
with its ``__path__``, so its submodules import alone, as usual; its own ``__init__`` (re-exports
only, for the packages named) runs at the first attribute it does not have yet
(``openai.types.Batch``, ``from openai.types import Batch``), so code that uses those names gets
what it always got, a moment later.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import threading
import types
from collections.abc import Iterable
from typing import Any

#: what a deferred package keeps until its ``__init__`` runs (its real loader and a lock)
_PENDING = "__vlkd_deferred__"


class _DeferredPackage(types.ModuleType):
    def __getattr__(self, name: str) -> Any:
        pending = self.__dict__.get(_PENDING)
        if pending is None:
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")
        loader, lock = pending
        with lock:  # one thread runs the __init__; another waits for it, then reads the result
            if self.__dict__.get(_PENDING) is not None:
                loader.exec_module(self)
                del self.__dict__[_PENDING]
                self.__class__ = types.ModuleType  # type: ignore[assignment]  # a plain module now
        return getattr(self, name)


class _Deferring(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds the packages named (once each) and loads them without running their ``__init__``."""

    def __init__(self, packages: Iterable[str]):
        self.packages = set(packages)
        self.real: dict[str, importlib.abc.Loader] = {}

    def find_spec(self, name: str, path: Any, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if name not in self.packages:
            return None
        self.packages.discard(name)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None or not spec.submodule_search_locations:
            return spec  # not a package here: imported as usual
        self.real[name] = spec.loader
        spec.loader = self
        return spec

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        return _DeferredPackage(spec.name)

    def exec_module(self, module: types.ModuleType) -> None:
        module.__dict__[_PENDING] = (self.real.pop(module.__name__), threading.RLock())


_installing = threading.Lock()
#: the one finder, first on ``sys.meta_path`` from the first deferred import on; it stays there,
#: finding nothing between two (removing it could make another thread's import, going through
#: the list at that moment, skip the finder after it)
_finder: _Deferring | None = None


def import_deferring(name: str, packages: Iterable[str]) -> types.ModuleType:
    """``import name``, the ``packages`` below it deferred (see the module's doc); where ``name``
    was imported before, it is returned as it is."""
    global _finder
    if name in sys.modules:
        return sys.modules[name]
    deferred = {p for p in packages if p not in sys.modules}
    with _installing:
        if _finder is None:
            _finder = _Deferring(())
            sys.meta_path.insert(0, _finder)
        _finder.packages |= deferred
    try:
        return importlib.import_module(name)
    finally:
        with _installing:
            _finder.packages -= deferred  # those this import did not reach are imported as usual

"""The registry of named plugins per stage kind.

Built-in plugins (``vlkd.plugins.BUILTIN_PLUGINS``) and third-party plugins (the ``vlkd``
entry-point group, ``VLKD_PLUGINS``) are registered the same way, by
``vlkd.core.plugin_manager``, and are indistinguishable afterwards.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

import pluggy

from vlkd.core.errors import PluginError, did_you_mean
from vlkd.core.plugin import Plugin
from vlkd.core.plugin_manager import AUTOLOAD_ENV, MODULES_ENV, distribution_of, plugin_manager
from vlkd.core.stages import KINDS_BY_NAME, STAGE_KINDS, StageKind
from vlkd.students.family import StudentFamily

__all__ = [
    "AUTOLOAD_ENV",
    "MODULES_ENV",
    "PluginInfo",
    "Registry",
    "find_plugin",
    "get_plugin_manager",
    "load_registry",
]


def get_plugin_manager(*, autoload: bool | None = None, builtins: bool = True) -> pluggy.PluginManager:
    """A fresh plugin manager with the hook specs, the built-ins and (unless disabled) entry points."""
    if not builtins:
        return plugin_manager(autoload=autoload)
    from vlkd.plugins import BUILTIN_PLUGINS

    return plugin_manager(BUILTIN_PLUGINS, autoload=autoload)


@dataclass(frozen=True)
class PluginInfo:
    kind: StageKind
    name: str
    cls: type[Plugin]
    distribution: str
    version: str

    @property
    def description(self) -> str:
        text = self.cls.description or (self.cls.__doc__ or "").strip()
        return text.splitlines()[0] if text else ""

    def missing_modules(self) -> list[str]:
        return [m for m in self.cls.requires if importlib.util.find_spec(m) is None]

    def install_hint(self) -> str:
        if self.cls.install:
            return self.cls.install
        if self.cls.extra:
            return f'pip install "vlkd[{self.cls.extra}]"'
        return "pip install " + " ".join(self.missing_modules())

    def check_available(self) -> None:
        missing = self.missing_modules()
        if missing:
            raise PluginError(
                f"plugin '{self.name}' needs: {self.install_hint()} (missing: {', '.join(missing)})"
            )


@dataclass(frozen=True)
class FamilyInfo:
    """A registered student family and where it came from."""

    name: str
    family: StudentFamily
    distribution: str
    version: str


class Registry:
    """Every registered plugin, by stage kind and name, and every student family."""

    def __init__(self, pm: pluggy.PluginManager):
        self.pm = pm
        self._plugins: dict[str, dict[str, PluginInfo]] = {k.name: {} for k in STAGE_KINDS}
        self._families: dict[str, FamilyInfo] = {}
        self._renamed: dict[tuple[str, str], type[Plugin]] = {}
        for kind in STAGE_KINDS:
            hook = getattr(pm.hook, kind.hook)
            for impl in reversed(hook.get_hookimpls()):  # registration order
                impl.function(register=self._registrar(kind, *distribution_of(pm, impl.plugin)))
        for impl in reversed(pm.hook.vlkd_register_students.get_hookimpls()):
            impl.function(register=self._family_registrar(*distribution_of(pm, impl.plugin)))

    def _family_registrar(self, dist_name: str, version: str):
        def register(name: str, cls: type[StudentFamily]) -> None:
            if not isinstance(name, str) or not name:
                raise PluginError(f"{dist_name}: a student family must be registered with a non-empty name")
            if not (isinstance(cls, type) and issubclass(cls, StudentFamily)):
                raise PluginError(f"{dist_name}: student family '{name}' must be a StudentFamily subclass")
            if cls.name != name:
                raise PluginError(
                    f"{dist_name}: student family registered as '{name}' but its class says name = '{cls.name}'"
                )
            taken = self._families.get(name)
            if taken is not None:
                raise PluginError(
                    f"student family '{name}' is registered twice: by {taken.distribution} "
                    f"{taken.version} and by {dist_name} {version}; uninstall one of them"
                )
            self._families[name] = FamilyInfo(name, cls(), dist_name, version)

        return register

    def families(self) -> dict[str, StudentFamily]:
        """Every student family by name (sorted)."""
        return {name: self._families[name].family for name in sorted(self._families)}

    def family_infos(self) -> list[FamilyInfo]:
        return [self._families[name] for name in sorted(self._families)]

    def _registrar(self, kind: StageKind, dist_name: str, version: str):
        def register(name: str, cls: type[Plugin]) -> None:
            if not isinstance(name, str) or not name:
                raise PluginError(f"{dist_name}: a {kind.singular} must be registered with a non-empty name")
            if not (isinstance(cls, type) and issubclass(cls, Plugin)):
                raise PluginError(f"{dist_name}: {kind.singular} '{name}' must be a vlkd Plugin subclass")
            if cls.renamed_to:
                self._renamed[(kind.name, name)] = cls
                return
            taken = self._plugins[kind.name].get(name)
            if taken is not None:
                raise PluginError(
                    f"{kind.singular} plugin '{name}' is registered twice: by {taken.distribution} "
                    f"{taken.version} and by {dist_name} {version}; uninstall one of them"
                )
            self._plugins[kind.name][name] = PluginInfo(kind, name, cls, dist_name, version)

        return register

    def names(self, kind: str) -> list[str]:
        return sorted(self._plugins[kind])

    def get(self, kind: str, name: str) -> PluginInfo:
        found = self._plugins[kind].get(name)
        old = self._renamed.get((kind, name))
        if found is None and old is not None:
            why = f" ({old.renamed_why})" if old.renamed_why else ""
            raise PluginError(f"'{name}' was renamed: use plugin: {old.renamed_to}{why}")
        if found is None:
            k = KINDS_BY_NAME[kind]
            installed = ", ".join(self.names(kind)) or "none"
            raise PluginError(
                f"unknown {k.singular} plugin '{name}'{did_you_mean(name, self._plugins[kind])}; "
                f"installed: {installed}"
            )
        return found

    def all(self) -> list[PluginInfo]:
        return [info for kind in STAGE_KINDS for _, info in sorted(self._plugins[kind.name].items())]

    def distributions(self) -> dict[str, str]:
        return {info.distribution: info.version for info in self.all()}


def load_registry(*, autoload: bool | None = None) -> Registry:
    return Registry(get_plugin_manager(autoload=autoload))


def find_plugin(kind: str, name: str) -> PluginInfo:
    """The installed plugin ``name`` of stage ``kind`` (its class, options and distribution), for
    code that has no stage context (an option validator); a stage asks ``ctx.make_plugin(kind, options)``.
    An unknown name is a ``PluginError`` with a "did you mean"."""
    return load_registry().get(kind, name)

"""The plugin manager: a typed facade over pluggy, with name registries.

Core code never calls ``pm.hook.*`` directly; it asks :class:`PluginManager` for
registries of components (``engines``, ``restorers``, ``writers``, ``loaders``,
``page_filters``), for their option models (``option_models``) and for the option hooks.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import importlib.util
import logging
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import pluggy

from tair_ocr import hookspecs
from tair_ocr.components import Component, Loader, OcrEngine, PageFilter, Restorer, Writer
from tair_ocr.errors import PluginError, UsageError
from tair_ocr.hookspecs import hookimpl as hookimpl  # re-export: the contract defines it
from tair_ocr.options import OptionModels, OptionSet

log = logging.getLogger(__name__)

#: Entry-point group third-party packages register plugins under.
ENTRY_POINT_GROUP = "tair_ocr"

#: Set to a non-empty value to skip entry-point discovery (hermetic runs and tests).
AUTOLOAD_ENV = "TAIR_OCR_DISABLE_PLUGIN_AUTOLOAD"

#: Built-in plugins, registered first, like any other plugin.
DEFAULT_PLUGINS: tuple[str, ...] = (
    "tair_ocr.loaders.image",
    "tair_ocr.loaders.pdf",
    "tair_ocr.engines.tesseract",
    "tair_ocr.filters",
    "tair_ocr.restorers.identity",
    "tair_ocr.restorers.classical",
    "tair_ocr.restorers.cleaner",
    "tair_ocr.restorers.terediff",
    "tair_ocr.writers.pdf",
    "tair_ocr.writers.pdfa",
    "tair_ocr.writers.text",
    "tair_ocr.writers.hocr",
    "tair_ocr.writers.alto",
    "tair_ocr.writers.json",
    "tair_ocr.fusion",
)

C = TypeVar("C", bound=Component)


@dataclass
class PluginInfo:
    """A registered plugin, for ``tair-ocr plugins``."""

    name: str
    distribution: str | None = None
    version: str | None = None
    builtin: bool = False
    hooks: list[str] = field(default_factory=list)


class Registry(Generic[C]):
    """Components of one kind, by name, in plugin call order."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, tuple[C, str]] = {}

    def add(self, component: C, plugin: str) -> None:
        name = getattr(component, "name", None)
        if not isinstance(name, str) or not name:
            raise PluginError(f"plugin {plugin!r} registered a {self.kind} without a name")
        if name in self._items:
            other = self._items[name][1]
            raise PluginError(
                f"{self.kind} {name!r} is registered twice: by plugin {other!r} and by {plugin!r}"
            )
        self._items[name] = (component, plugin)

    def get(self, name: str) -> C:
        """The component called ``name``; an unknown name lists the installed ones."""
        try:
            return self._items[name][0]
        except KeyError:
            known = ", ".join(sorted(self._items)) or "none"
            raise UsageError(f"unknown {self.kind} {name!r}; installed: {known}") from None

    def plugin_of(self, name: str) -> str:
        return self._items[name][1]

    def names(self) -> list[str]:
        return list(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[C]:
        return (component for component, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)


class PluginManager:
    """Loads plugins and exposes what they provide.

    :param plugins: extra plugins: module names, paths to ``.py`` files, or
        plugin objects (modules/instances with hook implementations).
    :param autoload: discover ``tair_ocr`` entry points of installed packages
        (default: on unless ``TAIR_OCR_DISABLE_PLUGIN_AUTOLOAD`` is set).
    :param blocked: plugin names (built-in module names or entry-point names)
        not to register.
    """

    def __init__(
        self,
        *,
        plugins: Sequence[str | object] = (),
        autoload: bool | None = None,
        blocked: Iterable[str] = (),
    ) -> None:
        self._pm = pluggy.PluginManager(hookspecs.PROJECT)
        self._pm.add_hookspecs(hookspecs)
        self._registries: dict[str, Registry[Any]] = {}
        self._option_models: OptionModels | None = None
        self._infos: dict[str, PluginInfo] = {}
        #: Entry points that failed to load: (entry-point name, error text).
        self.load_errors: list[tuple[str, str]] = []
        self._blocked = set(blocked)
        for name in self._blocked:
            self._pm.set_blocked(name)
        if autoload is None:
            autoload = not os.environ.get(AUTOLOAD_ENV)
        #: Whether entry points were discovered, and the plugins given (file paths
        #: resolved), in order: what a worker process needs to build the same
        #: plugin set (:mod:`tair_ocr.batch`).
        self.autoload: bool = bool(autoload)
        self.requested: list[str | object] = []

        for module_name in DEFAULT_PLUGINS:
            if module_name not in self._blocked:
                self._register(importlib.import_module(module_name), module_name, builtin=True)
        if autoload:
            self._load_entry_points()
        for spec in plugins:
            self.add_plugin(spec)
        self._check()

    # ------------------------------------------------------------------ loading

    def _register(self, plugin: object, name: str, **info: Any) -> None:
        if self._pm.is_blocked(name):
            return
        try:
            self._pm.register(plugin, name=name)
        except ValueError as exc:
            raise PluginError(f"cannot register plugin {name!r}: {exc}") from exc
        self._infos[name] = PluginInfo(name=name, **info)

    def _load_entry_points(self) -> None:
        eps = sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name)
        for ep in eps:
            if ep.name in self._blocked or self._pm.has_plugin(ep.name):
                continue
            dist = ep.dist.name if ep.dist else None
            version = ep.dist.version if ep.dist else None
            try:
                plugin = ep.load()
            except Exception as exc:  # a broken third-party plugin must not stop the run
                where = f"{dist} {version}" if dist else "unknown distribution"
                message = f"{type(exc).__name__}: {exc}"
                self.load_errors.append((ep.name, message))
                log.warning("plugin %r (%s) failed to load: %s", ep.name, where, message)
                continue
            self._register(plugin, ep.name, distribution=dist, version=version)

    @property
    def blocked(self) -> frozenset[str]:
        """The plugin names blocked from registering."""
        return frozenset(self._blocked)

    def add_plugin(self, spec: str | object) -> None:
        """Register a plugin given as a module name, a ``.py`` path or an object."""
        if not isinstance(spec, str):
            self._register(spec, getattr(spec, "__name__", repr(spec)))
            self._registries, self._option_models = {}, None
            self.requested.append(spec)
            return
        try:
            if spec.endswith(".py") or os.sep in spec:
                path = Path(spec).resolve()
                if not path.is_file():
                    raise PluginError(f"plugin file not found: {spec}")
                module_name = f"tair_ocr_plugin_{path.stem}"
                module_spec = importlib.util.spec_from_file_location(module_name, path)
                if module_spec is None or module_spec.loader is None:
                    raise PluginError(f"cannot import plugin file {spec}")
                module = importlib.util.module_from_spec(module_spec)
                sys.modules[module_name] = module
                module_spec.loader.exec_module(module)
            else:
                module = importlib.import_module(spec)
        except PluginError:
            raise
        except Exception as exc:
            raise PluginError(f"cannot load plugin {spec!r}: {type(exc).__name__}: {exc}") from exc
        self._register(module, spec)
        self._registries, self._option_models = {}, None
        is_file = spec.endswith(".py") or os.sep in spec
        self.requested.append(str(Path(spec).resolve()) if is_file else spec)

    def _check(self) -> None:
        try:
            self._pm.check_pending()
        except pluggy.PluginValidationError as exc:
            raise PluginError(f"plugin defines an unknown hook: {exc}") from exc

    # ------------------------------------------------------------------ registries

    def _collect(self, hook_name: str, kind: str, expected: type[C]) -> Registry[C]:
        if hook_name in self._registries:
            return self._registries[hook_name]
        registry: Registry[C] = Registry(kind)
        caller = getattr(self._pm.hook, hook_name)
        # Call order (last registered first), as pluggy itself would call them,
        # but one at a time so every component is attributed to its plugin.
        for impl in reversed(caller.get_hookimpls()):
            plugin = impl.plugin_name
            try:
                components = impl.function() or []
            except Exception as exc:
                raise PluginError(
                    f"plugin {plugin!r} failed in {hook_name}: {type(exc).__name__}: {exc}"
                ) from exc
            for component in components:
                if not isinstance(component, expected):
                    raise PluginError(
                        f"plugin {plugin!r} returned {component!r} from {hook_name}; "
                        f"expected a {expected.__name__}"
                    )
                registry.add(component, plugin)
        self._registries[hook_name] = registry
        return registry

    @property
    def engines(self) -> Registry[OcrEngine]:
        return self._collect("register_engines", "engine", OcrEngine)

    @property
    def restorers(self) -> Registry[Restorer]:
        return self._collect("register_restorers", "restorer", Restorer)

    @property
    def writers(self) -> Registry[Writer]:
        return self._collect("register_writers", "output type", Writer)

    @property
    def loaders(self) -> Registry[Loader]:
        return self._collect("register_loaders", "loader", Loader)

    @property
    def page_filters(self) -> Registry[PageFilter]:
        return self._collect("register_page_filters", "page filter", PageFilter)

    # ------------------------------------------------------------------ options

    @property
    def option_models(self) -> OptionModels:
        """The ``options_model`` of every registered component, by namespace, and the
        options plugins add with the ``add_options`` hook (built once)."""
        if self._option_models is None:
            parser = argparse.ArgumentParser(add_help=False)
            known = {action.dest for action in parser._actions}
            self.add_options(parser)
            extra = {
                action.dest: action.default
                for action in parser._actions
                if action.dest not in known and action.dest != argparse.SUPPRESS
            }
            models = OptionModels(extra)
            registries = (self.engines, self.restorers, self.writers, self.loaders)
            for registry in (*registries, self.page_filters):
                for component in registry:
                    model = getattr(component, "options_model", None)
                    if model is not None:
                        models.add(model, registry.plugin_of(component.name))
            self._option_models = models
        return self._option_models

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        """Call the ``add_options`` hook (the untyped escape hatch) on ``parser``."""
        self._pm.hook.add_options(parser=parser)

    def check_options(self, options: OptionSet, settings: Any) -> None:
        """Call the ``check_options`` hook with the run's validated options."""
        self._pm.hook.check_options(options=options, settings=settings)

    # ------------------------------------------------------------------ fusion

    def fuse_readings(self, readings: list[Any], mode: str) -> list[Any]:
        """Fuse one page's readings with the first ``fuse_readings`` implementation
        that answers (plugins before the built-in :mod:`tair_ocr.fusion`)."""
        from tair_ocr.results import Word

        words = self._pm.hook.fuse_readings(readings=readings, mode=mode)
        if words is None:
            raise PluginError("no fuse_readings implementation returned words")
        if not isinstance(words, list) or not all(isinstance(w, Word) for w in words):
            raise PluginError(f"fuse_readings returned {type(words).__name__}; expected list[Word]")
        return words

    # ------------------------------------------------------------------ introspection

    def plugins(self) -> list[PluginInfo]:
        """Registered plugins with the hooks each implements."""
        infos = []
        for name, info in self._infos.items():
            plugin = self._pm.get_plugin(name)
            if plugin is None:
                continue
            info.hooks = sorted(
                impl_name
                for impl_name, caller in vars(self._pm.hook).items()
                if isinstance(caller, pluggy.HookCaller)
                and any(i.plugin is plugin for i in caller.get_hookimpls())
            )
            infos.append(info)
        return infos

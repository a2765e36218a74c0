"""One pluggy plugin manager per Platform; builtin and third-party plugins load the same way.

A plugin named ``NAME`` is looked up first among the entry points of the group
``lendkit.plugins`` (lendkit's builtins are declared there too), then as the module
``lendkit.plugins.NAME`` (so builtins also work from a source checkout that was not installed).
Objects (modules or instances with ``@hookimpl`` methods) may be passed directly. A plugin may
define hooks of its own for integrators to implement: its ``lendkit_hookspecs`` attribute (a
module or class of ``@hookspec`` functions, marker project ``lendkit``) is added to the manager
when the plugin is registered (``margin``'s price feed and liquidation orders).
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Iterable
from importlib.metadata import entry_points
from types import ModuleType

import pluggy

from lendkit.core import hookspecs
from lendkit.core.errors import PluginError
from lendkit.core.hooks import DEFAULTS_NAME

ENTRY_POINT_GROUP = "lendkit.plugins"
BUILTIN = (
    "online",
    "guarantee",
    "reserve",
    "collateral",
    "insurance",
    "bills",
    "supplychain",
    "leasing",
    "margin",
)


def available_plugins() -> dict[str, str]:
    """Every plugin that can be enabled: name -> where it comes from (module path)."""
    found: dict[str, str] = {}
    for name in BUILTIN:
        try:
            importlib.util.find_spec(f"lendkit.plugins.{name}")
        except ModuleNotFoundError:
            continue
        if importlib.util.find_spec(f"lendkit.plugins.{name}") is not None:
            found[name] = f"lendkit.plugins.{name}"
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        found[ep.name] = ep.value  # an installed entry point wins, as it does in load_plugin()
    return found


def load_plugin(name: str) -> object:
    """Import the plugin called ``name``; ``PluginError`` listing the available ones if unknown."""
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            try:
                return ep.load()
            except Exception as exc:
                raise PluginError(f"plugin {name!r} ({ep.value}) failed to load: {exc}") from exc
    if name in BUILTIN:
        try:
            return importlib.import_module(f"lendkit.plugins.{name}")
        except ModuleNotFoundError:
            pass
    raise PluginError(
        f"unknown plugin {name!r}; available: {', '.join(sorted(available_plugins())) or 'none'}"
    )


#: hooks that were renamed: an implementation of the old name would silently never be called,
#: so a plugin that has one is refused, naming the new hook
RENAMED_HOOKS = {"lendkit_business_day_closed": "lendkit_cob_day(ctx, run_date, shard)"}


def make_plugin_manager(plugins: Iterable[str | object]) -> pluggy.PluginManager:
    """A fresh manager with lendkit's hookspecs, its defaults, and the given plugins.

    Registering two plugins under one name is refused naming both.
    """
    from lendkit.services import defaults  # lendkit's own trylast implementations

    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.register(defaults, name=DEFAULTS_NAME)
    for item in plugins:
        if isinstance(item, str):
            obj, name = load_plugin(item), item
        else:
            obj = item
            name = getattr(item, "lendkit_plugin_name", None) or (
                item.__name__ if isinstance(item, ModuleType) else type(item).__name__
            )
        existing = pm.get_plugin(name)
        if existing is not None:
            raise PluginError(
                f"plugin name {name!r} is registered twice: {_origin(existing)} and {_origin(obj)}"
            )
        if pm.is_registered(obj):
            raise PluginError(f"plugin {name!r} ({_origin(obj)}) is already registered")
        for gone, renamed in RENAMED_HOOKS.items():
            if callable(getattr(obj, gone, None)):
                raise PluginError(
                    f"plugin {name!r} ({_origin(obj)}) implements {gone}, which is now {renamed}:"
                    " rename the implementation"
                )
        try:
            own_specs = getattr(obj, "lendkit_hookspecs", None)
            if own_specs is not None:  # hooks the plugin defines for its integrators
                pm.add_hookspecs(own_specs)
            pm.register(obj, name=name)
        except (ValueError, pluggy.PluginValidationError) as exc:
            raise PluginError(f"plugin {name!r} is invalid: {exc}") from exc
    return pm


def _origin(obj: object) -> str:
    if isinstance(obj, ModuleType):
        return obj.__name__
    return f"{type(obj).__module__}.{type(obj).__qualname__}"

"""The plugin manager: loading by name, entry points, duplicate refusals, one manager per Platform."""

from __future__ import annotations

import types
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

import lendkit
import lendkit.plugin_manager as plugin_manager
from lendkit import PluginError, Product
from lendkit.core.hooks import Hooks
from lendkit.plugin_manager import make_plugin_manager


class ProductX:
    """A plugin object registering product "x" (named by its class)."""

    @lendkit.hookimpl
    def lendkit_register_products(self) -> Sequence[Product]:
        return [Product("x")]


class OtherProductX:
    """A second plugin that also registers product "x"."""

    @lendkit.hookimpl
    def lendkit_register_products(self) -> Sequence[Product]:
        return [Product("x", "the same name again")]


class Named:
    def __init__(self, name: str, product: str) -> None:
        self.lendkit_plugin_name = name
        self.product = product

    @lendkit.hookimpl
    def lendkit_register_products(self) -> Sequence[Product]:
        return [Product(self.product)]


def acme_module() -> types.ModuleType:
    """A third-party plugin module, as an installed distribution would provide."""
    module = types.ModuleType("acme_lending.plugin")

    @lendkit.hookimpl
    def lendkit_register_products() -> Sequence[Product]:
        return [Product("acme-invoice", "invoice finance by Acme")]

    module.lendkit_register_products = lendkit_register_products  # type: ignore[attr-defined]
    return module


class FakeEntryPoint:
    """Enough of ``importlib.metadata.EntryPoint`` for the plugin manager."""

    def __init__(self, name: str, value: str, target: Any, group: str = "lendkit.plugins") -> None:
        self.name, self.value, self.group = name, value, group
        self.target = target
        self.loads = 0

    def load(self) -> Any:
        self.loads += 1
        if isinstance(self.target, Exception):
            raise self.target
        return self.target


@pytest.fixture
def acme(monkeypatch: pytest.MonkeyPatch) -> FakeEntryPoint:
    ep = FakeEntryPoint("acme", "acme_lending.plugin", acme_module())
    broken = FakeEntryPoint("broken", "broken_pkg.plugin", ImportError("No module named 'dep'"))

    def entry_points(*, group: str) -> list[FakeEntryPoint]:
        return [e for e in (ep, broken) if e.group == group]

    monkeypatch.setattr(plugin_manager, "entry_points", entry_points)
    return ep


# -- builtins ------------------------------------------------------------------------------------


def test_builtin_online_loads_by_name() -> None:
    pm = make_plugin_manager(["online"])
    assert pm.has_plugin("online")
    module = pm.get_plugin("online")
    assert isinstance(module, types.ModuleType) and module.__name__ == "lendkit.plugins.online"
    products = Hooks(pm).products()
    assert products["online"].plugin == "online"
    assert "online" in plugin_manager.available_plugins()


def test_platform_registers_online_product(db_url: str) -> None:
    with lendkit.Platform.open(db_url, plugins=["online"]) as p:
        assert set(p.products) == {"online"}
        assert p.products["online"].plugin == "online"
        assert p.pm.has_plugin("online")


def test_nothing_autoloads() -> None:
    pm = make_plugin_manager([])
    assert not pm.has_plugin("online")
    assert Hooks(pm).products() == {}


def test_unknown_plugin_lists_available() -> None:
    with pytest.raises(PluginError) as info:
        make_plugin_manager(["no-such-model"])
    message = str(info.value)
    assert "unknown plugin 'no-such-model'" in message
    assert "available:" in message
    for name in plugin_manager.available_plugins():
        assert name in message


def test_unknown_plugin_refused_by_platform(db_url: str) -> None:
    with pytest.raises(PluginError, match=r"available: .*online"):
        lendkit.Platform.open(db_url, plugins=["online", "no-such-model"])


# -- duplicates ----------------------------------------------------------------------------------


def test_same_product_from_two_plugins_names_both(db_url: str) -> None:
    with pytest.raises(PluginError) as info:
        lendkit.Platform.open(db_url, plugins=[ProductX(), OtherProductX()])
    message = str(info.value)
    assert "'x'" in message
    assert "'ProductX'" in message and "'OtherProductX'" in message


def test_same_product_as_a_builtin_names_both() -> None:
    pm = make_plugin_manager(["online", Named("copycat", "online")])
    with pytest.raises(PluginError, match=r"'online'.*'copycat'|'copycat'.*'online'"):
        Hooks(pm).products()


def test_same_plugin_name_twice_refused() -> None:
    with pytest.raises(PluginError, match="'online' is registered twice"):
        make_plugin_manager(["online", "online"])


def test_two_objects_with_one_name_refused_naming_both() -> None:
    with pytest.raises(PluginError) as info:
        make_plugin_manager([Named("dup", "a"), OtherProductX(), Named("dup", "b")])
    message = str(info.value)
    assert "'dup' is registered twice" in message
    assert message.count("Named") == 2


def test_same_object_twice_refused() -> None:
    plugin = Named("only", "a")
    with pytest.raises(PluginError, match="'only' is registered twice"):
        make_plugin_manager([plugin, plugin])


def test_object_plugin_name_from_class_or_attribute() -> None:
    pm = make_plugin_manager([ProductX(), Named("custom", "y")])
    assert pm.has_plugin("ProductX") and pm.has_plugin("custom")
    products = Hooks(pm).products()
    assert products["x"].plugin == "ProductX"
    assert products["y"].plugin == "custom"


# -- third party ---------------------------------------------------------------------------------


def test_third_party_entry_point_loads_by_name(acme: FakeEntryPoint) -> None:
    pm = make_plugin_manager(["online", "acme"])
    assert acme.loads == 1
    assert pm.get_plugin("acme") is acme.target
    products = Hooks(pm).products()
    assert products["acme-invoice"].plugin == "acme"
    assert products["online"].plugin == "online"
    assert plugin_manager.available_plugins()["acme"] == "acme_lending.plugin"


def test_third_party_plugin_on_a_platform(db_url: str, acme: FakeEntryPoint) -> None:
    with lendkit.Platform.open(db_url, plugins=["acme"]) as p:
        assert set(p.products) == {"acme-invoice"}


def test_entry_point_that_fails_to_import(acme: FakeEntryPoint) -> None:
    with pytest.raises(PluginError, match=r"plugin 'broken' \(broken_pkg.plugin\) failed to load"):
        make_plugin_manager(["broken"])


def test_unknown_name_lists_third_party_too(acme: FakeEntryPoint) -> None:
    with pytest.raises(PluginError, match="acme"):
        make_plugin_manager(["acne"])


# -- one manager per Platform --------------------------------------------------------------------


def test_each_platform_has_its_own_manager(db_url: str, tmp_path: Path) -> None:
    # ``second`` leaves out online, which db_url remembers (refused there): it gets its own file
    other = f"sqlite:///{tmp_path / 'other.db'}"
    with (
        lendkit.Platform.open(db_url, plugins=["online"]) as first,
        lendkit.Platform.open(other, plugins=[ProductX()]) as second,
        lendkit.Platform.open(db_url, plugins=["online"]) as third,
    ):
        assert first.pm is not second.pm and first.pm is not third.pm
        assert set(first.products) == {"online"}
        assert set(second.products) == {"x"}
        assert not second.pm.has_plugin("online")
        assert not first.pm.has_plugin("ProductX")

        # registering on one manager is invisible to every other
        third.pm.register(Named("late", "late-product"), name="late")
        assert Hooks(third.pm).products().keys() == {"online", "late-product"}
        assert Hooks(first.pm).products().keys() == {"online"}
        assert not first.pm.has_plugin("late")
        assert first.hooks.pm is first.pm and third.hooks.pm is third.pm

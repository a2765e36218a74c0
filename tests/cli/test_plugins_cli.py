"""Tests for ``lendkit plugins``: builtins and third-party entry points, table and JSON."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner, Result

import lendkit.plugin_manager as plugin_manager
from lendkit.cli import main


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


class FakeEntryPoint:
    def __init__(self, name: str, value: str, group: str = plugin_manager.ENTRY_POINT_GROUP):
        self.name, self.value, self.group = name, value, group

    def load(self) -> Any:
        raise AssertionError("listing plugins must not import them")


def fake_entry_points(*eps: FakeEntryPoint) -> Any:
    def entry_points(*, group: str) -> list[FakeEntryPoint]:
        return [ep for ep in eps if ep.group == group]

    return entry_points


def test_lists_online_as_builtin() -> None:
    result = run("plugins")
    assert result.exit_code == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines()]
    assert rows[0] == ["name", "source", "module"]
    assert ["online", "builtin", "lendkit.plugins.online"] in rows


def test_json_is_an_object_by_name() -> None:
    result = run("plugins", "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["online"] == {
        "module": "lendkit.plugins.online",
        "builtin": True,
        "source": "builtin",
    }
    assert set(data) == set(plugin_manager.available_plugins())


def test_third_party_entry_point_is_marked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        plugin_manager,
        "entry_points",
        fake_entry_points(
            FakeEntryPoint("online", "lendkit.plugins.online"),
            FakeEntryPoint("acme", "acme_lending.plugin"),
            FakeEntryPoint("elsewhere", "x.y", group="other.group"),
        ),
    )
    data = json.loads(run("plugins", "--json").stdout)
    assert data["acme"] == {
        "module": "acme_lending.plugin",
        "builtin": False,
        "source": "entry point",
    }
    assert data["online"]["builtin"] is True
    assert "elsewhere" not in data

    table = run("plugins")
    assert table.exit_code == 0, table.stderr
    rows = [line.split() for line in table.stdout.splitlines()]
    assert ["acme", "entry", "point", "acme_lending.plugin"] in rows
    names = [r[0] for r in rows[2:] if r]
    assert names.index("online") < names.index("acme")  # builtins first
    assert "1 third-party" in table.stdout

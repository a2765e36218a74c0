"""``lendkit plugins``: list every plugin that can be enabled, builtin or third-party.

Nothing is imported to build the list: builtins are found by module, third-party plugins by their
entry points in the group ``lendkit.plugins``, so a broken plugin cannot break the listing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import click

from lendkit.cli.base import main
from lendkit.plugin_manager import BUILTIN, ENTRY_POINT_GROUP, available_plugins

__all__ = ["PluginInfo", "plugin_rows", "plugins_command"]


@dataclass(frozen=True)
class PluginInfo:
    """One plugin that can be enabled: its name, where it comes from, builtin or third-party."""

    name: str
    module: str
    builtin: bool

    @property
    def source(self) -> str:
        return "builtin" if self.builtin else "entry point"


def plugin_rows() -> list[PluginInfo]:
    """One row per available plugin, builtins first (in lendkit's order), then third-party by name."""
    order = {name: i for i, name in enumerate(BUILTIN)}
    rows = [
        PluginInfo(
            name, module, name in order and module.split(":")[0] == f"lendkit.plugins.{name}"
        )
        for name, module in available_plugins().items()
    ]
    rows.sort(key=lambda r: (not r.builtin, order.get(r.name, 0), r.name))
    return rows


@main.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
def plugins_command(as_json: bool) -> None:
    """List the plugins that can be enabled with Platform.open(url, plugins=[...])."""
    rows = plugin_rows()
    if as_json:
        payload = {
            r.name: {"module": r.module, "builtin": r.builtin, "source": r.source} for r in rows
        }
        click.echo(json.dumps(payload))
        return
    if not rows:
        click.echo(f"no plugins available (entry-point group {ENTRY_POINT_GROUP!r} is empty)")
        return
    headers = ("name", "source", "module")
    body = [(r.name, r.source, r.module) for r in rows]
    widths = [max(len(row[i]) for row in (headers, *body)) for i in range(len(headers))]
    for row in (headers, tuple("-" * w for w in widths), *body):
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    builtins = sum(1 for r in rows if r.builtin)
    click.echo(f"\n{builtins} builtin, {len(rows) - builtins} third-party ({ENTRY_POINT_GROUP})")

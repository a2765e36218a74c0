"""``lendkit custody flush``: send gateway requests that were committed but never sent.

A deposit or withdrawal through an outside custody gateway is recorded with an outbox row in its
transaction and sent right after commit. A process killed between the two leaves the row queued;
``Platform.open`` sends it at the next start, and this command sends it now, with the same
movement id (the bank deduplicates a repeated id). Exit status 0 when everything queued was sent,
1 when a request failed (it stays queued), 2 when the command could not run.
"""

from __future__ import annotations

import importlib
import sys

import click

from lendkit.cli.base import database_option, db_url, main
from lendkit.cli.cob import open_platform
from lendkit.cli.db import plugins_option
from lendkit.core.errors import ConfigError
from lendkit.services.custody import CustodyGateway, FlushResult

__all__ = ["custody_group", "flush_command", "load_gateway", "render_flush"]


def load_gateway(spec: str | None) -> CustodyGateway | None:
    """``module:name`` -> the gateway it names (a class or factory is called with no arguments)."""
    if spec is None:
        return None
    module_name, _, attr = spec.strip().partition(":")
    if not module_name or not attr:
        raise ConfigError(
            f"--gateway {spec[:80]!r} must be MODULE:NAME, e.g. mybank.custody:Gateway"
        )
    try:
        found = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"--gateway {spec[:80]!r} cannot be loaded: {exc}") from None
    try:
        gateway = found() if isinstance(found, type) or not hasattr(found, "withdraw") else found
    except Exception as exc:
        raise ConfigError(f"--gateway {spec[:80]!r} could not be created: {exc}") from None
    if not all(hasattr(gateway, n) for n in ("name", "deposit", "withdraw")):
        raise ConfigError(
            f"--gateway {spec[:80]!r} is not a custody gateway (it needs name, deposit, withdraw)"
        )
    return gateway  # type: ignore[no-any-return]


def render_flush(result: FlushResult, gateway: str) -> list[str]:
    """The lines ``lendkit custody flush`` prints."""
    lines = [f"custody flush ({gateway}): {result.sent} request(s) sent"]
    if result.failed:
        lines.append(f"  {len(result.failed)} failed and stay queued: {', '.join(result.failed)}")
    if result.other_gateway:
        lines.append(f"  {result.other_gateway} queued for another gateway: run with its --gateway")
    return lines


@main.group("custody")
def custody_group() -> None:
    """Custody operations on the database."""


@custody_group.command("flush")
@click.option(
    "--gateway",
    "gateway_spec",
    default=None,
    help="The application's custody gateway as MODULE:NAME (default: the embedded gateway).",
)
@database_option
@plugins_option("Comma-separated plugins to enable, as the application enables them.")
@click.pass_context
def flush_command(ctx: click.Context, gateway_spec: str | None, plugins: list[str] | None) -> None:
    """Send every queued gateway request (committed, never sent) once, and book the answers.

    Exit status 0 if all were sent, 1 if one failed (it stays queued), 2 if it could not run.
    """
    gateway = load_gateway(gateway_spec)
    with open_platform(db_url(ctx), plugins, gateway=gateway) as platform:
        at_open = platform.custody.recovered
        result = platform.custody.flush()
    if at_open is not None:  # opening the platform already sent what was queued
        result = FlushResult(
            at_open.sent + result.sent, at_open.failed + result.failed, result.other_gateway
        )
    for line in render_flush(result, platform.custody.gateway.name):
        click.echo(line)
    if result.failed:
        sys.exit(1)

"""The root click group and helpers shared by every command."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import click

from lendkit.core.errors import InvalidValue, LendkitError

DEFAULT_DB_URL = "sqlite:///lendkit.db"
F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str, code: int = 2) -> NoReturn:
    """Print one line to stderr and exit with ``code`` (no traceback)."""
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


class LendkitGroup(click.Group):
    """A click group that turns every ``LendkitError`` into one line and exit status 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except LendkitError as exc:
            fail(str(exc), exc.exit_code)


@click.group(cls=LendkitGroup)
@click.option(
    "--db",
    "db_url",
    envvar="LENDKIT_DATABASE_URL",
    default=DEFAULT_DB_URL,
    show_default=True,
    help="Database URL (SQLite file by default; postgresql+psycopg://... in production).",
)
@click.pass_context
def main(ctx: click.Context, db_url: str) -> None:
    """lendkit: an embeddable, plugin-based lending SDK."""
    ctx.ensure_object(dict)
    ctx.obj["db_url"] = db_url


def db_url(ctx: click.Context) -> str:
    """The database URL chosen by ``--db`` / ``LENDKIT_DATABASE_URL``."""
    url = ctx.find_root().obj["db_url"]
    assert isinstance(url, str)
    return url


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").lower() in {"1", "true", "yes"}


_PLUGIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")


def parse_plugins(text: str) -> list[str]:
    """``"online,guarantee"`` -> ``["online", "guarantee"]``; ``InvalidValue`` for a bad list."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise InvalidValue(f"--plugins {text!r} names no plugin: e.g. --plugins online,guarantee")
    for name in names:
        if not _PLUGIN_NAME.fullmatch(name):
            raise InvalidValue(
                f"plugin name {name[:40]!r} is not valid: use names as `lendkit plugins` lists them"
            )
    return list(dict.fromkeys(names))

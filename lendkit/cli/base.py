"""The root click group and helpers shared by every command."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import click
from click.core import ParameterSource

from lendkit.core.errors import InvalidValue, LendkitError

DEFAULT_DB_URL = "sqlite:///lendkit.db"
DB_PARAM = "db_url"  # the name of every ``--db`` parameter (root and per command)
ACTOR_PARAM = "actor"  # the name of every ``--actor`` parameter (root and per command)
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
    DB_PARAM,
    envvar="LENDKIT_DATABASE_URL",
    default=DEFAULT_DB_URL,
    show_default=True,
    help="Database URL (SQLite file by default; postgresql+psycopg://... in production).",
)
@click.option(
    "--actor",
    ACTOR_PARAM,
    envvar="LENDKIT_ACTOR",
    default=None,
    metavar="ACTOR",
    help="Who runs the commands: staff:ID (roles from `lendkit staff`), party:ID or system"
    " (the default).",
)
@click.pass_context
def main(ctx: click.Context, db_url: str, actor: str | None) -> None:
    """lendkit: an embeddable, plugin-based lending SDK."""
    ctx.ensure_object(dict)
    ctx.obj[DB_PARAM] = db_url


_GIVEN = "lendkit.db_urls"  # ctx.meta key: the --db values given after the subcommand


def _collect_db(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.meta.setdefault(_GIVEN, []).append(value)


_ACTORS = "lendkit.actors"  # ctx.meta key: the --actor values given after the subcommand


def _collect_actor(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.meta.setdefault(_ACTORS, []).append(value)


def given_actor(ctx: click.Context | None = None) -> str | None:
    """The actor given by ``--actor`` (either position) or ``LENDKIT_ACTOR``; ``None`` if neither
    (commands then run as ``system``). Two different actors on one line are refused."""
    ctx = ctx or click.get_current_context(silent=True)
    if ctx is None:
        return None
    root = ctx.find_root()
    given: list[str] = list(ctx.meta.get(_ACTORS, []))
    source = root.get_parameter_source(ACTOR_PARAM)
    value = root.params.get(ACTOR_PARAM)
    if value is not None and source is ParameterSource.COMMANDLINE:
        given = [str(value), *given]
    elif value is not None and source is ParameterSource.ENVIRONMENT and not given:
        given = [str(value)]
    given = list(dict.fromkeys(given))
    if len(given) > 1:
        raise InvalidValue(
            f"--actor is given twice with different actors ({', '.join(map(repr, given))}):"
            " give one"
        )
    return given[0] if given else None


def database_option(command: F) -> F:
    """Give a command (or group) its own ``--db URL`` and ``--actor ACTOR``, so ``lendkit
    COMMAND --db URL --actor staff:alice`` works.

    Every command that opens a database uses this one option and reads the URL with
    :func:`db_url` (or :func:`given_db_url`): ``--db`` after the subcommand, else ``lendkit --db``
    before it, else ``LENDKIT_DATABASE_URL``, else ``sqlite:///lendkit.db``. Two different URLs
    on one command line are refused rather than one silently winning. ``--actor`` works the
    same way (:func:`given_actor`, ``LENDKIT_ACTOR``): the platform the command opens runs its
    commands for that actor.
    """
    command = click.option(
        "--actor",
        ACTOR_PARAM,
        default=None,
        metavar="ACTOR",
        expose_value=False,
        callback=_collect_actor,
        help="Who runs it: staff:ID, party:ID or system (same as `lendkit --actor`; default:"
        " LENDKIT_ACTOR, else system).",
    )(command)
    option = click.option(
        "--db",
        DB_PARAM,
        default=None,
        metavar="URL",
        expose_value=False,
        callback=_collect_db,
        help="Database URL (same as `lendkit --db URL`; default: LENDKIT_DATABASE_URL,"
        f" else {DEFAULT_DB_URL}).",
    )
    return option(command)


def given_db_url(ctx: click.Context) -> str | None:
    """The URL given by ``--db`` (either position) or ``LENDKIT_DATABASE_URL``; ``None`` if neither."""
    root = ctx.find_root()
    given: list[str] = ctx.meta.get(_GIVEN, [])
    source = root.get_parameter_source(DB_PARAM)
    if source is ParameterSource.COMMANDLINE:
        given = [str(root.params[DB_PARAM]), *given]
    elif source is ParameterSource.ENVIRONMENT and not given:
        given = [str(root.params[DB_PARAM])]  # the environment yields to an explicit --db
    given = list(dict.fromkeys(given))
    if len(given) > 1:
        from lendkit.cli.db import display_url  # db.py imports this module

        raise InvalidValue(
            f"--db is given twice with different URLs"
            f" ({', '.join(repr(display_url(u)) for u in given)}): give one"
        )
    return given[0] if given else None


def db_url_from_environment(ctx: click.Context) -> bool:
    """Whether the URL in use came from ``LENDKIT_DATABASE_URL`` (no ``--db`` in either position)."""
    source = ctx.find_root().get_parameter_source(DB_PARAM)
    return source is ParameterSource.ENVIRONMENT and not ctx.meta.get(_GIVEN)


def db_url(ctx: click.Context) -> str:
    """The database URL a command uses: ``--db`` in either position, else the environment/default."""
    return given_db_url(ctx) or DEFAULT_DB_URL


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

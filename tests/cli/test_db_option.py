"""``--db`` before or after the subcommand, and ``LENDKIT_DATABASE_URL``, on every command that
opens a database. The commands are found by walking the click group, so a new command is covered
(or must say here why it opens no database)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

import lendkit
from lendkit.cli import main
from lendkit.cli.base import ACTOR_PARAM, DB_PARAM

#: commands that open no database of the operator's, and why
NO_DATABASE = {
    "schedule": "a pure calculation",
    "plugins": "lists what is installed",
    "new": "--db is the URL written into the new project's settings",
    "new-plugin": "writes a package",
    "bench": "creates scratch databases (--db is a PostgreSQL it may wipe, never the environment's)",
}
#: a server that refuses at once; the database name shows which URL a command used
UNREACHABLE = "postgresql+psycopg://u:p@127.0.0.1:1/lendkit_marker_db"


def leaf_commands(
    group: click.Group = main, prefix: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], click.Command]]:
    out: list[tuple[tuple[str, ...], click.Command]] = []
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            out += leaf_commands(command, (*prefix, name))
        else:
            out.append(((*prefix, name), command))
    return out


def database_commands() -> list[tuple[str, ...]]:
    return [path for path, _ in leaf_commands() if path[0] not in NO_DATABASE]


def required_arguments(path: tuple[str, ...]) -> list[str]:
    """A placeholder for each required argument and option of the command (an id, an amount,
    a name): the database is opened before any of them is looked at."""
    command = dict(leaf_commands())[path]
    out: list[str] = []
    for p in command.params:
        if isinstance(p, click.Argument) and p.required:
            out.append("x")
        elif isinstance(p, click.Option) and p.required:
            out += [p.opts[0], "x"]
    return out


def invoke(path: tuple[str, ...], url: str, how: str, *extra: str) -> Result:
    if how == "before":
        args, env = ["--db", url, *path, *extra], {}
    elif how == "after":
        args, env = [*path, "--db", url, *extra], {}
    else:
        args, env = [*path, *extra], {"LENDKIT_DATABASE_URL": url}
    return CliRunner().invoke(main, args, env=env)


def test_the_list_is_derived_from_the_group() -> None:
    found = database_commands()
    assert {p[0] for p, _ in leaf_commands()} >= set(NO_DATABASE)
    for path in [("db", "upgrade"), ("db", "pending"), ("verify",), ("report",), ("cob",)]:
        assert path in found
    for path, command in leaf_commands():
        if path in found:
            options = [p for p in command.params if p.name == DB_PARAM]
            assert options and options[0].opts == ["--db"], f"{path} lacks the shared --db"
            actor = [p for p in command.params if p.name == ACTOR_PARAM]
            assert actor and actor[0].opts == ["--actor"], f"{path} lacks the shared --actor"


@pytest.mark.parametrize("how", ["before", "after", "environment"])
@pytest.mark.parametrize("path", database_commands(), ids=" ".join)
def test_every_database_command_uses_the_url_given(
    path: tuple[str, ...], how: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LENDKIT_DATABASE_URL", raising=False)
    result = invoke(path, UNREACHABLE, how, *required_arguments(path))
    assert result.exit_code == 2, (result.output, result.exception)
    assert "lendkit_marker_db" in result.stderr, result.stderr
    assert "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []  # the default sqlite:///lendkit.db was not touched


#: per database command: extra arguments and what shows it ran on the database given
CHECKS: dict[tuple[str, ...], tuple[list[str], Callable[[Result], bool]]] = {
    ("db", "pending"): ([], lambda r: r.exit_code == 0 and r.stdout == "none\n"),
    ("db", "upgrade"): ([], lambda r: r.exit_code == 0 and r.stdout.startswith("up to date")),
    ("verify",): ([], lambda r: r.exit_code == 0 and r.stdout.startswith("OK: 1 entries")),
    ("report",): (["--json"], lambda r: r.exit_code == 0 and '"revenue": "0.00"' in r.stdout),
    ("cob",): (
        ["--date", "2026-01-01"],
        lambda r: r.exit_code == 0 and "COB 2026-01-01" in r.stdout,
    ),
    ("demo",): ([], lambda r: r.exit_code == 2 and "already has 1 parties" in r.stderr),
    ("simulate",): ([], lambda r: r.exit_code == 2 and "already has 1 parties" in r.stderr),
    ("custody", "flush"): ([], lambda r: r.exit_code == 0 and "0 request(s) sent" in r.stdout),
    ("market", "offer"): (
        ["loan_x", "pty_x", "100"],
        lambda r: r.exit_code == 2 and "loan 'loan_x' does not exist" in r.stderr,
    ),
    ("market", "buy"): (
        ["trf_x", "pty_x", "1"],
        lambda r: r.exit_code == 2 and "transfer 'trf_x' does not exist" in r.stderr,
    ),
    ("market", "cancel"): (
        ["trf_x"],
        lambda r: r.exit_code == 2 and "transfer 'trf_x' does not exist" in r.stderr,
    ),
    ("market", "list"): (["--json"], lambda r: r.exit_code == 0 and r.stdout == "[]\n"),
    # the operations commands: a list shows this database's rows, an unknown id is looked up
    # in it (and refused), so the URL given was opened and no default database was made
    ("party", "list"): (["--json"], lambda r: r.exit_code == 0 and '"Alice"' in r.stdout),
    ("listing", "list"): (["--json"], lambda r: r.exit_code == 0 and '"items": []' in r.stdout),
    ("loan", "list"): (["--json"], lambda r: r.exit_code == 0 and '"items": []' in r.stdout),
    ("staff", "add"): (
        ["ann", "--name", "Ann", "--role", "reviewer"],
        lambda r: r.exit_code == 0 and r.stdout.startswith("staff ann (Ann) added"),
    ),
    ("staff", "list"): (["--json"], lambda r: r.exit_code == 0 and '"ann"' in r.stdout),
    ("audit",): (["--json"], lambda r: r.exit_code == 0 and '"parties.register"' in r.stdout),
    **{
        path: ([ident, *more], lambda r, i=ident: r.exit_code == 2 and i in r.stderr)
        for path, ident, more in [
            (("party", "show"), "pty_none", []),
            (("listing", "show"), "lst_none", []),
            (("listing", "approve"), "lst_none", []),
            (("listing", "publish"), "lst_none", []),
            (("loan", "show"), "loan_none", []),
            (("loan", "payoff"), "loan_none", []),
            (("loan", "request-write-off"), "loan_none", []),
            (("loan", "write-off"), "loan_none", []),
            (("staff", "roles"), "ghost", ["--role", "finance"]),
            (("staff", "deactivate"), "ghost", []),
            (("deposit",), "pty_none", ["1"]),
            (("withdraw",), "pty_none", ["1"]),
            (("disburse",), "lst_none", []),
            (("custody", "history"), "pty_none", []),
            (("portfolio",), "pty_none", []),
        ]
    },
}


def test_every_database_command_has_a_check() -> None:
    assert set(CHECKS) == set(database_commands())


@pytest.mark.parametrize("how", ["before", "after", "environment"])
def test_db_in_either_position_and_from_the_environment(
    how: str,
    platform: lendkit.Platform,
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    party = platform.parties.register("Alice").id
    platform.parties.verify(party)
    platform.custody.deposit(party, "100")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.delenv("LENDKIT_DATABASE_URL", raising=False)
    for path in database_commands():
        extra, ok = CHECKS[path]
        result = invoke(path, db_url, how, *extra)
        assert ok(result), (path, result.stdout, result.stderr)
    assert list(cwd.iterdir()) == []  # the default sqlite:///lendkit.db was not touched


def test_an_explicit_db_wins_over_the_environment(db_url: str, tmp_path: Path) -> None:
    env = {"LENDKIT_DATABASE_URL": f"sqlite:///{tmp_path / 'missing' / 'other.db'}"}
    result = CliRunner().invoke(main, ["db", "pending", "--db", db_url], env=env)
    assert result.exit_code == 0 and result.stdout == "none\n", result.output


def test_two_different_urls_are_refused(db_url: str, tmp_path: Path) -> None:
    other = f"sqlite:///{tmp_path / 'other.db'}"
    result = CliRunner().invoke(main, ["--db", other, "verify", "--db", db_url])
    assert result.exit_code == 2
    assert "--db is given twice with different URLs" in result.stderr
    assert not (tmp_path / "other.db").exists()
    same = CliRunner().invoke(main, ["--db", db_url, "db", "--db", db_url, "pending"])
    assert same.exit_code == 0 and same.stdout == "none\n", same.output

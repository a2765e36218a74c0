"""``lendkit custody flush`` on SQLite and PostgreSQL: what it sends, what it leaves, refusals."""

from __future__ import annotations

from collections.abc import Callable

from click.testing import CliRunner, Result

import lendkit
from lendkit import Money
from lendkit.cli import main


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


class SilentBank:
    """An outside gateway whose requests are only queued in these tests (never answered)."""

    name = "silentbank"

    def deposit(self, party_id: str, amount: Money, movement_id: str) -> tuple[str, str | None]:
        raise ConnectionError("no network in this test")

    def withdraw(self, party_id: str, amount: Money, movement_id: str) -> tuple[str, str | None]:
        raise ConnectionError("no network in this test")


def test_flush_reports_rows_of_another_gateway_and_failures(
    make_platform: Callable[..., lendkit.Platform], db_url: str
) -> None:
    p = make_platform(gateway=SilentBank())
    a = p.parties.register("a").id
    with p.engine.begin() as conn:  # queued inside a host transaction: never sent yet
        p.using(conn).custody.deposit(a, "10")
    embedded = run("--db", db_url, "custody", "flush")
    assert embedded.exit_code == 0, embedded.output
    assert embedded.stdout == (
        "custody flush (embedded): 0 request(s) sent\n"
        "  1 queued for another gateway: run with its --gateway\n"
    )
    failing = run("--db", db_url, "custody", "flush", "--gateway", f"{__name__}:SilentBank")
    assert failing.exit_code == 1
    assert "1 failed and stay queued: mov_" in failing.stdout
    assert p.custody.balance(a).available == Money.of(0, "CNY")


def test_flush_refuses_a_gateway_it_cannot_load(db_url: str) -> None:
    for spec in ("nocolon", "no_such_module_xyz:Gateway", "lendkit:Money", "lendkit:__version__"):
        result = run("--db", db_url, "custody", "flush", "--gateway", spec)
        assert result.exit_code == 2, (spec, result.output)
        assert result.stderr.startswith("Error: --gateway") and "Traceback" not in result.output

"""A database remembers the plugins it was created or upgraded with; the API and the CLI use them.

``Platform.open(url)`` and ``lendkit report|cob|verify|db upgrade|db pending`` without
``--plugins`` open it with those; a set that disagrees is ``PluginsMismatch`` naming both sets
(more plugins are allowed when the schema is upgraded: that is how one is added).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import lendkit
from lendkit import PluginsMismatch
from lendkit.cli import main
from lendkit.plugins import guarantee
from lendkit.store import schema
from lendkit.store.db import create_nullpool_engine
from tests.conftest import FixedClock

RISK = ["online", "guarantee", "reserve", "collateral", "insurance"]


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def remembered(url: str) -> list[str] | None:
    engine = create_nullpool_engine(url)
    try:
        with engine.connect() as conn:
            return schema.remembered_plugins(conn)
    finally:
        engine.dispose()


def assert_mismatch(result: Result, *names: str) -> str:
    assert result.exit_code == 2, (result.stdout, result.stderr, result.exception)
    assert isinstance(result.exception, SystemExit)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output, result.stderr
    line = lines[0]
    assert "remembers the plugins online, guarantee" in line, line
    for name in names:
        assert name in line, line
    return line


def test_open_remembers_and_reopens_with_the_same_plugins(db_url: str) -> None:
    assert remembered(db_url) is None  # created by a bare migration: nothing remembered yet
    with lendkit.Platform.open(db_url, ["online", "guarantee"]) as p:
        assert p.plugin_names == ["online", "guarantee"]
    assert remembered(db_url) == ["online", "guarantee"]
    with lendkit.Platform.open(db_url) as p:
        assert p.plugin_names == ["online", "guarantee"]
    with lendkit.Platform.open(db_url, ["guarantee", "online"], create=False) as p:
        assert p.pm.has_plugin("guarantee")  # the same set in another order is the same set


def test_open_with_other_plugins_is_refused_naming_both(db_url: str) -> None:
    lendkit.Platform.open(db_url, ["online", "guarantee"]).close()
    for plugins, create in ((["online"], True), (["online"], False), (["reserve"], True)):
        with pytest.raises(PluginsMismatch) as caught:
            lendkit.Platform.open(db_url, plugins, create=create)
        message = str(caught.value)
        assert "remembers the plugins online, guarantee" in message
        assert f"opened with {', '.join(plugins)}" in message
        assert "cannot be left out" in message
    with pytest.raises(PluginsMismatch, match="to add reserve, upgrade it"):
        lendkit.Platform.open(db_url, ["online", "guarantee", "reserve"], create=False)
    assert remembered(db_url) == ["online", "guarantee"]  # nothing changed


def test_upgrading_with_more_plugins_adds_them(db_url: str) -> None:
    lendkit.Platform.open(db_url, ["online", "guarantee"]).close()
    with lendkit.Platform.open(db_url, ["online", "guarantee", "reserve"]) as p:
        assert p.pm.has_plugin("reserve")
    assert remembered(db_url) == ["online", "guarantee", "reserve"]
    with lendkit.Platform.open(db_url, create=False) as p:
        assert p.plugin_names == ["online", "guarantee", "reserve"]


def test_objects_are_not_remembered(db_url: str) -> None:
    class Local:
        lendkit_plugin_name = "local-hooks"

    with lendkit.Platform.open(db_url, ["online", Local()]) as p:
        assert p.pm.has_plugin("local-hooks")
    assert remembered(db_url) == ["online"]
    lendkit.Platform.open(db_url, ["online"], create=False).close()


def test_report_shows_the_risk_plugins_disclosures_without_being_told(db_url: str) -> None:
    lendkit.Platform.open(db_url, RISK).close()
    result = run("report", "--db", db_url, "--json")
    assert result.exit_code == 0, result.output
    shown = {d["plugin"] for d in json.loads(result.stdout)["disclosures"]}
    assert {"guarantee", "reserve", "collateral", "insurance"} <= shown, shown
    text = run("--db", db_url, "report")
    assert text.exit_code == 0
    for name in ("guarantee", "reserve", "collateral", "insurance"):
        assert any(line.startswith(name) for line in text.stdout.splitlines()), name


@pytest.mark.parametrize(
    "command",
    [
        ("report",),
        ("cob", "--date", "2026-01-01"),
        ("verify",),
        ("db", "upgrade"),
        ("db", "pending"),
    ],
    ids=lambda c: " ".join(c[:2]),
)
def test_a_plugins_option_that_disagrees_is_an_error_naming_both(
    db_url: str, command: tuple[str, ...]
) -> None:
    lendkit.Platform.open(db_url, ["online", "guarantee"]).close()
    assert_mismatch(run("--db", db_url, *command, "--plugins", "online"), "with online:")
    assert_mismatch(run("--db", db_url, *command, "--plugins", "online,reserve"), "reserve")
    same = run("--db", db_url, *command, "--plugins", "guarantee,online")
    assert same.exit_code == 0, same.output
    assert remembered(db_url) == ["online", "guarantee"]


def test_db_upgrade_adds_plugins_and_later_commands_use_them(db_url: str) -> None:
    assert remembered(db_url) is None
    plain = run("--db", db_url, "db", "upgrade")
    assert plain.exit_code == 0 and plain.stdout.endswith("plugins: online\n"), plain.output
    assert remembered(db_url) == ["online"]
    more = run("--db", db_url, "db", "upgrade", "--plugins", "online,guarantee")
    assert more.exit_code == 0, more.output
    assert more.stdout.endswith("plugins: online, guarantee\n")
    assert remembered(db_url) == ["online", "guarantee"]
    again = run("--db", db_url, "db", "upgrade")
    assert again.exit_code == 0 and again.stdout.startswith("up to date"), again.output
    assert again.stdout.endswith("plugins: online, guarantee\n")
    assert run("--db", db_url, "db", "pending").stdout == "none\n"
    verified = run("--db", db_url, "verify")
    assert verified.exit_code == 0, verified.output


def test_verify_checks_the_remembered_plugins_tables(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    lendkit.Platform.open(url, ["online", "guarantee"]).close()
    engine = create_nullpool_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM lendkit_guarantee_alembic_version")
    engine.dispose()
    result = run("--db", url, "verify")
    assert result.exit_code == 2
    assert "guarantee:" in result.stderr and "lendkit db upgrade" in result.stderr


def test_cob_without_plugins_runs_the_remembered_ones(db_url: str, clock: FixedClock) -> None:
    """COB collects an installment and the guarantee plugin follows it (its hook ran, unasked)."""
    with lendkit.Platform.open(db_url, ["online", "guarantee"], clock=clock) as p:
        company = p.parties.register("Acme Guarantee", kind="enterprise").id
        borrower, investor = p.parties.register("b").id, p.parties.register("i").id
        for party in (company, borrower, investor):
            p.parties.verify(party)
        p.custody.deposit(company, "5000")
        g = guarantee.register_guarantor(p, "Acme Guarantee", company, capital="1000")
        guarantee.fund_deposit(p, g.id, "1000")
        listing = p.listings.apply(borrower, amount="3000", annual_rate="12%", months=3)
        guarantee.guarantee_listing(p, listing.id, g.id)
        p.listings.approve(listing.id, grade="B")
        p.listings.publish(listing.id)
        p.custody.deposit(investor, "3000")
        p.bidding.bid(listing.id, investor, "3000")
        loan = p.loans.disburse(listing.id)
        first = p.loans.schedule(loan.id).installments[0]
        before = guarantee.get_guarantor(p, g.id)
    assert before.outstanding == lendkit.Money.of("3000", "CNY")
    assert before.deposit_frozen == lendkit.Money.of("300", "CNY")

    result = run("--db", db_url, "cob", "--date", first.due_date.isoformat())
    assert result.exit_code == 0, result.output

    with lendkit.Platform.open(db_url, create=False) as p:
        after = guarantee.get_guarantor(p, g.id)
    assert after.outstanding == before.outstanding - first.principal
    assert after.deposit_frozen < before.deposit_frozen  # released as principal was repaid

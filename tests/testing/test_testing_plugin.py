"""``lendkit.testing``: the pytest plugin integrators and plugin authors get with lendkit."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from sqlalchemy import text

import lendkit
import lendkit.testing
from lendkit import Money
from lendkit.plugin_manager import available_plugins, load_plugin
from lendkit.plugins import online
from lendkit.store.db import create_nullpool_engine
from lendkit.testing import FixedClock, FundedListing, fund_listing, make_party
from tests.conftest import PG_URL, _pg_available


def test_registered_as_a_pytest11_entry_point(pytestconfig: pytest.Config) -> None:
    assert [ep.value for ep in entry_points(group="pytest11") if ep.name == "lendkit"] == [
        "lendkit.testing"
    ]
    assert pytestconfig.pluginmanager.get_plugin("lendkit") is lendkit.testing


def test_platform_is_fresh_with_the_fixed_clock(
    lendkit_platform: lendkit.Platform, lendkit_clock: FixedClock
) -> None:
    assert lendkit_platform.pm.has_plugin("online")
    assert lendkit_platform.verify().entries == 0
    assert lendkit_platform.clock is lendkit_clock
    assert lendkit_clock() == lendkit.testing.START
    lendkit_clock.advance(days=31)
    assert lendkit_platform.clock().day == 1 and lendkit_platform.clock().month == 2


def test_party_factory_gives_verified_parties_with_funds(
    lendkit_platform: lendkit.Platform, lendkit_party: Callable[..., str]
) -> None:
    alice = lendkit_party("5000", "Alice")
    bob = lendkit_party()
    assert lendkit_platform.parties.get(alice).verified
    assert lendkit_platform.custody.balance(alice).available == Money.of("5000")
    assert lendkit_platform.custody.balance(bob).available == Money.of("0")
    assert lendkit_platform.verify().ok


def test_fund_listing_fixed_and_disbursed(
    lendkit_platform: lendkit.Platform, lendkit_fund_listing: Callable[..., FundedListing]
) -> None:
    funded = lendkit_fund_listing("10000.01", investors=3)
    assert funded.listing.state == "funded"
    assert len(funded.investor_ids) == len(funded.bid_ids) == 3
    bids = lendkit_platform.bidding.bids(funded.listing_id)
    assert sorted(b.amount.format() for b in bids) == ["3333.33", "3333.34", "3333.34"]
    assert sum((b.amount for b in bids), Money.of(0)) == Money.of("10000.01")
    disbursed = lendkit_fund_listing("500", months=3, disburse=True)
    assert disbursed.loan_id is not None
    assert disbursed.listing.state == "disbursed"
    assert lendkit_platform.loans.get(disbursed.loan_id).state == "active"
    assert lendkit_platform.verify().ok


def test_fund_listing_auction_with_existing_investors(
    lendkit_platform: lendkit.Platform, lendkit_party: Callable[..., str]
) -> None:
    investors = [lendkit_party("3000", f"i{i}") for i in range(2)]
    borrower = lendkit_party("0", "b", kind="enterprise")
    funded = fund_listing(
        lendkit_platform,
        "4000",
        bidding="auction",
        max_rate="13%",
        investors=investors,
        borrower_id=borrower,
    )
    assert funded.borrower_id == borrower
    assert funded.investor_ids == tuple(investors)
    assert funded.listing.state == "funded"
    assert funded.listing.annual_rate is not None
    assert lendkit_platform.custody.balance(investors[0]).frozen == Money.of("2000")


def test_helpers_work_without_fixtures(tmp_path: Path) -> None:
    clock = FixedClock()
    with lendkit.Platform.open(f"sqlite:///{tmp_path / 'x.db'}", clock=clock) as p:
        party = make_party(p, "10", "solo")
        assert p.custody.balance(party).available == Money.of("10")
        with pytest.raises(ValueError, match="at least one investor"):
            fund_listing(p, "100", investors=0)


class TestOverriddenPlugins:
    @pytest.fixture
    def lendkit_plugins(self) -> list[str | object]:
        """Overriding the plugin set, as a plugin author does in a conftest."""
        return [online]

    def test_are_used(self, lendkit_platform: lendkit.Platform) -> None:
        assert lendkit_platform.pm.is_registered(online)
        assert not lendkit_platform.pm.has_plugin("online")  # a module is named by __name__


def test_plugin_entry_point_fixture(lendkit_plugin_entry_point: Callable[[str, str], None]) -> None:
    lendkit_plugin_entry_point("alias-online", "lendkit.plugins.online")
    assert available_plugins()["alias-online"] == "lendkit.plugins.online"
    assert load_plugin("alias-online") is online
    assert "online" in available_plugins()  # the installed ones are still there


def test_plugin_entry_point_fixture_is_undone() -> None:
    assert "alias-online" not in available_plugins()


# -- the plugin in another project's test run ------------------------------------------------------

SAMPLE = textwrap.dedent(
    """
    from pathlib import Path

    def test_lifecycle(lendkit_platform, lendkit_fund_listing, lendkit_db_url):
        funded = lendkit_fund_listing("1000", disburse=True)
        lendkit_platform.custody.deposit(funded.borrower_id, "100")
        lendkit_platform.loans.repay(funded.loan_id)
        assert lendkit_platform.verify().ok
        with (Path(__file__).parent / "urls.txt").open("a") as urls:
            urls.write(lendkit_db_url + "\\n")
    """
)


def run_sample(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_sample.py").write_text(SAMPLE)
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTEST_", "LENDKIT_TEST_", "LENDKIT_REQUIRE"))
    }
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-v", "-rs", "-p", "no:cacheprovider"],
        cwd=tmp_path,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_another_project_gets_sqlite_only_by_default(tmp_path: Path) -> None:
    done = run_sample(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "test_lifecycle[sqlite] PASSED" in done.stdout
    assert "postgresql" not in done.stdout


def test_another_project_runs_on_postgres_in_a_private_schema(tmp_path: Path) -> None:
    reason = _pg_available()
    if reason:
        pytest.skip(reason)
    engine = create_nullpool_engine(PG_URL)
    query = text("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'lendkit_test_%'")
    try:
        with engine.connect() as conn:
            before = conn.execute(query).scalar_one()
        done = run_sample(tmp_path, LENDKIT_TEST_POSTGRES_URL=PG_URL)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "test_lifecycle[sqlite] PASSED" in done.stdout
        assert "test_lifecycle[postgresql] PASSED" in done.stdout
        urls = (tmp_path / "urls.txt").read_text().splitlines()
        assert urls[0].startswith("sqlite:///")
        assert "options=-csearch_path%3Dlendkit_test_" in urls[1]
        with engine.connect() as conn:
            assert conn.execute(query).scalar_one() == before  # the schema was dropped
    finally:
        engine.dispose()


def test_unreachable_postgres_skips_or_fails_when_required(tmp_path: Path) -> None:
    url = "postgresql+psycopg://nobody:x@127.0.0.1:1/none"
    skipped = run_sample(tmp_path, LENDKIT_TEST_POSTGRES_URL=url)
    assert skipped.returncode == 0, skipped.stdout
    assert "1 passed, 1 skipped" in skipped.stdout
    assert "PostgreSQL at LENDKIT_TEST_POSTGRES_URL not usable" in skipped.stdout
    failed = run_sample(tmp_path, LENDKIT_TEST_POSTGRES_URL=url, LENDKIT_REQUIRE_POSTGRES="1")
    assert failed.returncode == 1
    assert "LENDKIT_REQUIRE_POSTGRES is set but" in failed.stdout

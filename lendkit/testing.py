"""``lendkit.testing``: a pytest plugin for integrators and plugin authors.

Installed with lendkit (entry point ``pytest11``), so its fixtures are available in any test suite
run where lendkit is installed, with nothing to import or declare. Every fixture name starts with
``lendkit_`` so it never shadows a project's own ``platform`` or ``clock`` fixtures.

Fixtures:

``lendkit_db_url``
    A fresh, empty database URL for each test: a SQLite file in ``tmp_path``, and, when
    ``LENDKIT_TEST_POSTGRES_URL`` is set, the same test again on PostgreSQL (a private schema per
    test, dropped afterwards, so parallel runs never see each other's rows). A PostgreSQL server
    that cannot be reached skips those variants with the reason, or fails them when
    ``LENDKIT_REQUIRE_POSTGRES=1``.
``lendkit_clock``
    A :class:`FixedClock` at 2026-01-01 09:00 UTC; ``advance(days=31)`` or ``set(datetime)`` it.
``lendkit_plugins`` / ``lendkit_config``
    The plugins and configuration ``lendkit_platform`` opens with (``["online"]`` and ``{}``).
    Override them in your ``conftest.py``: a plugin author returns ``["online", my_plugin]``.
``lendkit_platform``
    ``Platform.open(lendkit_db_url, plugins=lendkit_plugins, config=lendkit_config,
    clock=lendkit_clock)``, closed after the test. An application overrides it to open its own
    platform (from its settings) on ``lendkit_db_url``; the factories below then use that one.
``lendkit_party``
    A factory: ``lendkit_party("5000", "Alice")`` registers and verifies a party, deposits the
    amount and returns the party id.
``lendkit_fund_listing``
    A helper that runs a listing through funding: ``lendkit_fund_listing("10000", investors=3)``
    applies for, approves and publishes a listing, has fresh investors bid it full and returns a
    :class:`FundedListing`; ``disburse=True`` also makes the loan.
``lendkit_plugin_entry_point``
    ``lendkit_plugin_entry_point("acme-scoring", "acme_scoring")`` makes a plugin loadable by
    name for this test, as if its package were installed with that entry point.

The helpers behind the factories (:func:`make_party`, :func:`fund_listing`) work without pytest.
lendkit itself is imported lazily, so the plugin costs nothing in test runs that do not use it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import pytest

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

    from lendkit.core.records import ListingRecord
    from lendkit.platform import Platform

__all__ = [
    "POSTGRES_URL_ENV",
    "FixedClock",
    "FundedListing",
    "fund_listing",
    "make_party",
]

#: the environment variable naming the PostgreSQL database the PostgreSQL variants run in
POSTGRES_URL_ENV = "LENDKIT_TEST_POSTGRES_URL"
REQUIRE_POSTGRES_ENV = "LENDKIT_REQUIRE_POSTGRES"
START = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


class FixedClock:
    """A settable clock for deterministic tests: pass it as ``Platform.open(..., clock=clock)``."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        """Move forward by ``timedelta(**kwargs)``, e.g. ``advance(days=31)``."""
        self.now = self.now + timedelta(**kwargs)

    def set(self, value: datetime) -> None:
        """Jump to ``value`` (timezone-aware)."""
        self.now = value


@attrs.frozen
class FundedListing:
    """What :func:`fund_listing` made: the funded listing, its borrower, investors and bids."""

    listing: ListingRecord
    borrower_id: str
    investor_ids: tuple[str, ...]
    bid_ids: tuple[str, ...]
    loan_id: str | None = None

    @property
    def listing_id(self) -> str:
        return self.listing.id


def make_party(
    platform: Platform, amount: object = "0", name: str = "party", kind: str = "person"
) -> str:
    """Register and verify a party, deposit ``amount`` (if not zero); return its id."""
    from lendkit.core.money import Money

    party = platform.parties.register(name, kind)
    platform.parties.verify(party.id)
    if Money.of(amount, platform.config.currency).is_positive():
        platform.custody.deposit(party.id, amount)
    return party.id


def fund_listing(
    platform: Platform,
    amount: object = "10000",
    *,
    annual_rate: object = "12%",
    months: int = 12,
    method: str = "equal-installment",
    bidding: str = "fixed",
    max_rate: object = "15%",
    grade: str = "A",
    product: str = "online",
    investors: int | Sequence[str] = 2,
    borrower_id: str | None = None,
    disburse: bool = False,
) -> FundedListing:
    """Apply for, approve and publish a listing, then bid it full; optionally disburse it.

    ``investors`` is a number of fresh investors (each deposits and bids an equal share, split to
    the cent by :func:`lendkit.allocate`) or the ids of existing investors with enough available
    funds. Auctions (``bidding="auction"``) bid every share at ``max_rate`` and close the listing.
    Raises ``AssertionError`` if the listing did not end up funded.
    """
    from lendkit.core.money import Money, allocate

    currency = platform.config.currency
    total = Money.of(amount, currency)
    borrower = borrower_id or make_party(platform, "0", "borrower", kind="enterprise")
    count = investors if isinstance(investors, int) else len(investors)
    if count < 1:
        raise ValueError("fund_listing needs at least one investor")
    shares = allocate(total, [1] * count)
    if isinstance(investors, int):
        investor_ids = [
            make_party(platform, share, f"investor {i + 1}") for i, share in enumerate(shares)
        ]
    else:
        investor_ids = list(investors)
    auction = bidding == "auction"
    listing = platform.listings.apply(
        borrower,
        total,
        annual_rate=None if auction else annual_rate,
        max_rate=max_rate if auction else None,
        months=months,
        method=method,
        bidding=bidding,
        product=product,
    )
    platform.listings.approve(listing.id, grade=grade)
    platform.listings.publish(listing.id)
    bid_ids = [
        platform.bidding.bid(listing.id, investor, share, rate=max_rate if auction else None).id
        for investor, share in zip(investor_ids, shares, strict=True)
    ]
    if auction:
        platform.listings.close(listing.id)
    funded = platform.listings.get(listing.id)
    assert funded.state == "funded", f"listing {listing.id} is {funded.state}, not funded"
    loan_id = platform.loans.disburse(listing.id, reviewer="test").id if disburse else None
    return FundedListing(
        platform.listings.get(listing.id), borrower, tuple(investor_ids), tuple(bid_ids), loan_id
    )


# -- pytest hooks and fixtures --------------------------------------------------------------------


def _db_params() -> list[Any]:
    params: list[Any] = ["sqlite"]
    if os.environ.get(POSTGRES_URL_ENV):
        params.append(pytest.param("postgresql", marks=pytest.mark.lendkit_postgres))
    return params


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"lendkit_postgres: a lendkit_db_url variant on PostgreSQL (set by {POSTGRES_URL_ENV})",
    )


@pytest.fixture
def lendkit_clock() -> FixedClock:
    """A fixed clock at 2026-01-01 09:00 UTC."""
    return FixedClock()


@pytest.fixture(params=_db_params())
def lendkit_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database URL: SQLite, then PostgreSQL when ``LENDKIT_TEST_POSTGRES_URL`` is set."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'lendkit.db'}"
        return
    yield from _postgres_schema_url(os.environ[POSTGRES_URL_ENV])


def _postgres_schema_url(base_url: str) -> Iterator[str]:
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from lendkit.store.db import create_nullpool_engine, normalize_url

    schema = f"lendkit_test_{uuid.uuid4().hex[:12]}"
    try:
        engine = create_nullpool_engine(base_url)
        with engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:
        reason = f"PostgreSQL at {POSTGRES_URL_ENV} not usable: {type(exc).__name__}: {exc}"[:300]
        if os.environ.get(REQUIRE_POSTGRES_ENV, "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"{REQUIRE_POSTGRES_ENV} is set but {reason}")
        pytest.skip(reason)
    url = make_url(normalize_url(base_url)).update_query_dict(
        {"options": f"-csearch_path={schema}"}
    )
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()


@pytest.fixture
def lendkit_plugins() -> list[str | object]:
    """The plugins ``lendkit_platform`` enables; override to test your own."""
    return ["online"]


@pytest.fixture
def lendkit_config() -> dict[str, Any]:
    """The configuration ``lendkit_platform`` opens with (a ``PlatformConfig`` dict)."""
    return {}


@pytest.fixture
def lendkit_platform(
    lendkit_db_url: str,
    lendkit_plugins: list[str | object],
    lendkit_config: dict[str, Any],
    lendkit_clock: FixedClock,
) -> Iterator[Platform]:
    """A platform on a fresh database with ``lendkit_plugins``, ``lendkit_config``, the fixed clock."""
    from lendkit.platform import Platform

    with Platform.open(
        lendkit_db_url, plugins=lendkit_plugins, config=lendkit_config, clock=lendkit_clock
    ) as platform:
        yield platform


@pytest.fixture
def lendkit_party(lendkit_platform: Platform) -> Callable[..., str]:
    """Factory ``(amount="0", name="party", kind="person") -> party id``: verified, with funds."""

    def make(amount: object = "0", name: str = "party", kind: str = "person") -> str:
        return make_party(lendkit_platform, amount, name, kind)

    return make


@pytest.fixture
def lendkit_fund_listing(lendkit_platform: Platform) -> Callable[..., FundedListing]:
    """Helper ``(amount="10000", **options) -> FundedListing``; see :func:`fund_listing`."""

    def run(amount: object = "10000", **options: Any) -> FundedListing:
        return fund_listing(lendkit_platform, amount, **options)

    return run


@pytest.fixture
def lendkit_plugin_entry_point(monkeypatch: pytest.MonkeyPatch) -> Callable[[str, str], None]:
    """``(name, "package.module") -> None``: the plugin loads by ``name`` for this test."""
    from importlib.metadata import EntryPoint, entry_points

    import lendkit.plugin_manager as plugin_manager

    fakes: list[EntryPoint] = []

    def installed(*, group: str) -> list[EntryPoint]:
        mine = [ep for ep in fakes if ep.group == group]
        names = {ep.name for ep in mine}
        return [*mine, *(ep for ep in entry_points(group=group) if ep.name not in names)]

    def add(name: str, value: str) -> None:
        fakes.append(EntryPoint(name=name, value=value, group=plugin_manager.ENTRY_POINT_GROUP))
        monkeypatch.setattr(plugin_manager, "entry_points", installed)

    return add

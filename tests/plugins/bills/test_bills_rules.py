"""Pure rules of the bills plugin: the discount price and the face value's split among investors
(Hypothesis), the bill number; and its migrations create exactly its tables."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from hypothesis import given, settings
from hypothesis import strategies as st

import lendkit
from lendkit import Money
from lendkit.core.money import allocate
from lendkit.core.schedule import DayCount
from lendkit.plugins import bills
from lendkit.plugins.bills import rules
from lendkit.plugins.online import lendkit_schema as online_schema
from lendkit.store import schema
from lendkit.store.db import create_nullpool_engine

START = date(2026, 1, 1)


@settings(max_examples=300, deadline=None)
@given(
    face=st.integers(min_value=100_00, max_value=10**11),
    rate_bp=st.integers(min_value=1, max_value=2000),
    days=st.integers(min_value=1, max_value=365),
    basis=st.sampled_from([b.value for b in DayCount]),
    cuts=st.lists(st.integers(min_value=1, max_value=10**6), min_size=1, max_size=12),
)
def test_price_and_face_shares_are_exact(
    face: int, rate_bp: int, days: int, basis: str, cuts: list[int]
) -> None:
    """price + discount = face; discount = face x rate x days / year HALF_UP to the cent; the
    investors' payments (any split of the price) come back as face shares that sum to the face,
    each within one cent of face x paid / price."""
    face_m = Money.from_minor(face, "CNY")
    rate = Decimal(rate_bp) / 10000
    maturity = START + timedelta(days=days)
    b = DayCount(basis)
    n = b.days(START, maturity)
    exact = Decimal(face) * rate * n / b.year_days
    if exact >= face or n <= 0:
        return  # no price left: refused by core's discount_bullet
    pricing = rules.price(face_m, rate, START, maturity, basis)
    assert pricing.price + pricing.discount == face_m
    assert abs(Decimal(pricing.discount.minor) - exact) <= Decimal("0.5")
    assert pricing.days == n
    paid = allocate(pricing.price, cuts)  # the price split among investors' bids
    shares = bills.face_shares(pricing, paid)
    assert sum(shares, Money.zero("CNY")) == face_m
    for share, part in zip(shares, paid, strict=True):
        quota = Decimal(face) * part.minor / pricing.price.minor
        assert abs(share.minor - quota) < 1


def test_numbers_and_yield() -> None:
    assert rules.normalize_number(" 3102-0051 0001ab ") == "310200510001AB"
    for bad in ["", "---", "N" * 65, "N°1", 12]:
        with pytest.raises(lendkit.InvalidValue):
            rules.normalize_number(bad)
    p = rules.price(Money.of("100000"), Decimal("0.036"), START, date(2026, 4, 1), "ACT/360")
    assert (p.price, p.discount, p.investor_yield) == (
        Money.of("99100"),
        Money.of("900"),
        Decimal("0.0363"),
    )


def test_migrations_match_the_tables(db_url: str) -> None:
    engine = create_nullpool_engine(db_url)
    schema.upgrade(engine, [online_schema, bills.lendkit_schema])
    meta = bills.lendkit_schema.metadata
    with engine.connect() as conn:
        tables = set(meta.tables)
        ctx = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                "include_name": lambda name, type_, parent: type_ != "table" or name in tables,
            },
        )
        assert compare_metadata(ctx, meta) == []
        assert schema.pending(conn, [online_schema, bills.lendkit_schema]) == []
    engine.dispose()


def test_the_guides_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    guide = Path(__file__).parents[3] / "docs" / "plugins" / "bills.md"
    code = re.findall(r"```python\n(.*?)```", guide.read_text("utf-8"), re.S)[-1]
    monkeypatch.chdir(tmp_path)
    exec(compile(code, str(guide), "exec"), {})
    assert (tmp_path / "bills.db").exists()

"""The margin plugin's pure rules (leverage, prices, lines), its migrations, and the plugin
manager's support for a plugin's own hookspecs (``lendkit_hookspecs``)."""

from __future__ import annotations

import types
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pluggy
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from hypothesis import given
from hypothesis import strategies as st

from lendkit import Money
from lendkit.core.errors import InvalidState, InvalidValue, PluginError
from lendkit.plugin_manager import make_plugin_manager
from lendkit.plugins import margin
from lendkit.plugins.margin import rules
from lendkit.plugins.online import lendkit_schema as online_schema
from lendkit.store import schema
from lendkit.store.db import create_nullpool_engine

NOW = datetime(2026, 3, 2, 15, tzinfo=UTC)


def test_migrations_match_the_tables(db_url: str) -> None:
    engine = create_nullpool_engine(db_url)
    schema.upgrade(engine, [online_schema, margin.lendkit_schema])
    meta = margin.lendkit_schema.metadata
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
        assert schema.pending(conn, [online_schema, margin.lendkit_schema]) == []
    engine.dispose()


@given(st.integers(1, 10), st.integers(-3, 15))
def test_leverage_is_allowed_exactly_from_1_to_the_cap(cap: int, n: int) -> None:
    for given_as in (n, f"1:{n}", f" 1 : {n} "):
        if 1 <= n <= cap:
            assert rules.parse_leverage(given_as, cap) == n
        else:
            with pytest.raises(InvalidValue, match=rf"allowed 1:1 up to 1:{cap}"):
                rules.parse_leverage(given_as, cap)


@given(
    st.integers(0, 10**12),
    st.integers(1, 10**12),
    st.decimals(Decimal("1"), Decimal("10"), places=4),
)
def test_the_lines_compare_exactly(value: int, borrowed: int, line: Decimal) -> None:
    v, b = Money.from_minor(value, "CNY"), Money.from_minor(borrowed, "CNY")
    exact = Decimal(value) / Decimal(borrowed)
    assert rules.below(v, b, line) == (Decimal(value) < Decimal(borrowed) * line)
    assert rules.at_or_below(v, b, line) == (Decimal(value) <= Decimal(borrowed) * line)
    shown = rules.ratio(v, b)
    assert shown is not None and shown <= exact < shown + Decimal("0.0001")  # cut, never up


def test_nothing_borrowed_is_never_below_a_line() -> None:
    zero = Money.zero("CNY")
    assert rules.ratio(Money.of("5"), zero) is None
    assert not rules.below(Money.of("5"), zero, Decimal("1.1"))


@given(
    st.lists(st.tuples(st.integers(1, 10**6), st.decimals("0.0001", "5000", places=4)), max_size=8)
)
def test_the_basket_is_rounded_once(holdings: list[tuple[int, Decimal]]) -> None:
    total = sum((q * p for q, p in holdings), Decimal(0))
    value = rules.basket_value(holdings, "CNY")
    assert abs(value.amount - total) <= Decimal("0.005")


def test_quotes_are_checked() -> None:
    q = margin.Quote("600000.SH", Decimal("10.5"), NOW - timedelta(seconds=60))
    assert rules.check_quote(q, "600000.SH", NOW, 60) == q
    with pytest.raises(InvalidState, match=r"stale: prices older than 59 seconds"):
        rules.check_quote(q, "600000.SH", NOW, 59)
    naive = margin.Quote("600000.SH", Decimal("10.5"), datetime(2026, 3, 2))
    with pytest.raises(InvalidValue, match="timezone-aware"):
        rules.check_quote(naive, "600000.SH", NOW, 60)
    with pytest.raises(InvalidValue, match="must be a Quote"):
        rules.check_quote((Decimal(1), NOW), "600000.SH", NOW, 60)
    for bad in (Decimal(0), Decimal("-1"), Decimal("NaN"), Decimal("Infinity")):
        with pytest.raises(InvalidValue, match=r"600000\.SH"):
            rules.check_quote(margin.Quote("600000.SH", bad, NOW), "600000.SH", NOW, 60)


# -- a plugin's own hookspecs ----------------------------------------------------------------------

spec = pluggy.HookspecMarker("lendkit")
impl = pluggy.HookimplMarker("lendkit")


def test_a_plugins_own_hookspecs_are_added_when_it_is_registered() -> None:
    specs = types.ModuleType("acme_specs")

    @spec(firstresult=True)
    def lendkit_acme_answer(ctx: object, question: str) -> str | None:
        """Decision: the answer. Used by acme."""

    specs.lendkit_acme_answer = lendkit_acme_answer  # type: ignore[attr-defined]

    class Integrator:
        lendkit_plugin_name = "integrator"

        @impl
        def lendkit_acme_answer(self, question: str) -> str:
            return f"42 ({question})"

    class Acme:
        lendkit_plugin_name = "acme"
        lendkit_hookspecs = specs

    # the integrator may come first: its implementation is verified once the spec arrives
    pm = make_plugin_manager([Integrator(), Acme()])
    assert pm.hook.lendkit_acme_answer(ctx=None, question="q") == "42 (q)"

    class Wrong:
        lendkit_plugin_name = "wrong"

        @impl
        def lendkit_acme_answer(self, answer: str) -> str:
            return answer

    with pytest.raises(PluginError, match="wrong"):
        make_plugin_manager([Acme(), Wrong()])

    class Empty:
        lendkit_plugin_name = "empty"
        lendkit_hookspecs = types.ModuleType("nothing")

    with pytest.raises(PluginError, match="plugin 'empty' is invalid"):
        make_plugin_manager([Empty()])


def test_margin_registers_its_hookspecs() -> None:
    pm = make_plugin_manager(["margin"])
    for name in (
        "lendkit_margin_price",
        "lendkit_margin_liquidate",
        "lendkit_margin_warning",
        "lendkit_margin_liquidated",
    ):
        assert getattr(pm.hook, name).spec is not None, name
    assert not hasattr(make_plugin_manager(["online"]).hook, "lendkit_margin_price") or (
        make_plugin_manager(["online"]).hook.lendkit_margin_price.spec is None
    )

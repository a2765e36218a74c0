"""Plugin inputs are held to core's bounds: every public function of every builtin plugin refuses
hostile input with a ``LendkitError`` and changes nothing (plugin tables included); unknown
parties are refused; an insurer's money goes only to an account that paid the loan.
SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from sqlalchemy import MetaData, create_engine

import lendkit
from lendkit.plugins import collateral, guarantee, insurance, online, reserve
from lendkit.store.db import create_nullpool_engine
from tests.conftest import AUDIT_TABLES, party
from tests.reliability.test_commands import HOSTILE

PLUGINS = ["online", "guarantee", "reserve", "collateral", "insurance"]
GHOST = "pty_ghost"


def dump_all(url: str) -> list[tuple[str, list[tuple[Any, ...]]]]:
    """Every lendkit table's rows, the plugins' own tables included, sorted."""
    engine = create_engine(url) if "sqlite" in url else create_nullpool_engine(url)
    meta = MetaData()
    meta.reflect(engine)
    out = []
    with engine.connect() as conn:
        for table in meta.sorted_tables:
            if table.name in AUDIT_TABLES:
                continue
            if table.name.startswith("lendkit_") and not table.name.endswith("alembic_version"):
                rows = conn.execute(table.select()).all()
                out.append((table.name, sorted((tuple(r) for r in rows), key=repr)))
    engine.dispose()
    return out


@pytest.fixture
def world(make_platform: Callable[..., lendkit.Platform]) -> dict[str, Any]:
    """One of everything: a guarantor, a partner, an insurer with each kind of policy, an asset
    pledged for a disbursed, guaranteed loan, and an applied listing."""
    p = make_platform(plugins=PLUGINS, config={"waterfall": ["guarantee", "insurance", "reserve"]})
    b, i, gp = party(p, "b"), party(p, "i", "10000"), party(p, "g", "5000")
    g = guarantee.register_guarantor(p, "G", gp, "1000")
    guarantee.fund_deposit(p, g.id, "500")
    partner = guarantee.register_partner(p, "P", party(p, "pp"), "1000")
    ins = insurance.register_insurer(p, "I", "100000")
    insurance.fund_insurer(p, ins.id, "1000")
    asset = collateral.register_asset(p, "vehicle", "VIN1", b, "10000", date(2026, 1, 1))
    listing = p.listings.apply(b, "1000", "12%", months=3)
    collateral.pledge(p, listing.id, asset.id)
    guarantee.guarantee_listing(p, listing.id, g.id)
    insurance.insure_loan(p, listing.id, ins.id, "1%")
    p.listings.approve(listing.id, grade="A")
    p.listings.publish(listing.id)
    p.bidding.bid(listing.id, i, "1000")
    loan = p.loans.disburse(listing.id)
    return {
        "p": p,
        "b": b,
        "i": i,
        "g": g.id,
        "partner": partner.id,
        "ins": ins.id,
        "asset": asset.id,
        "loan": loan.id,
        "applied": p.listings.apply(b, "500", "12%", months=3).id,
        "account_policy": insurance.insure_account(p, i, ins.id, "100", "1%").id,
        "platform_policy": insurance.insure_platform(p, ins.id, "100", "1%", 1).id,
        "asset_policy": insurance.insure_asset(p, loan.id, ins.id, "VIN1", "100", "1%").id,
    }


SHORT_STRINGS = {repr(v) for v in HOSTILE if isinstance(v, str) and 0 < len(v) < 100}
D = date(2026, 1, 2)


def calls(w: dict[str, Any]) -> list[tuple[str, Callable[[Any], Any], set[str]]]:
    """(name, call with the hostile value in one argument, values that are valid there)."""
    p, b, g, ins, loan, applied = w["p"], w["b"], w["g"], w["ins"], w["loan"], w["applied"]
    text = SHORT_STRINGS  # short strings are valid names, identifiers and idempotency keys
    none = {"None"}  # an optional argument's default
    return [
        ("register_guarantor name", lambda v: guarantee.register_guarantor(p, v, b, "1"), text),
        ("register_guarantor party", lambda v: guarantee.register_guarantor(p, "n", v, "1"), set()),
        ("register_guarantor capital", lambda v: guarantee.register_guarantor(p, "n", b, v), set()),
        (
            "register_guarantor leverage",
            lambda v: guarantee.register_guarantor(p, "n", b, "1", leverage=v),
            none,
        ),
        (
            "register_guarantor fee_rate",
            lambda v: guarantee.register_guarantor(p, "n", b, "1", fee_rate=v),
            none | {"'0'"},
        ),
        (
            "register_guarantor liability",
            lambda v: guarantee.register_guarantor(p, "n", b, "1", liability=v),
            none,
        ),
        (
            "register_guarantor after_days",
            lambda v: guarantee.register_guarantor(p, "n", b, "1", after_days=v),
            none,
        ),
        (
            "register_guarantor controlled_by",
            lambda v: guarantee.register_guarantor(p, "n", b, "1", controlled_by=v),
            {"[]"},
        ),
        (
            "register_guarantor key",
            lambda v: guarantee.register_guarantor(p, "n", b, "1", key=v),
            text | none,
        ),
        ("register_partner capital", lambda v: guarantee.register_partner(p, "n", b, v), set()),
        ("declare_control controller", lambda v: guarantee.declare_control(p, v, b), set()),
        ("declare_control controlled", lambda v: guarantee.declare_control(p, b, v), set()),
        ("recommend partner", lambda v: guarantee.recommend(p, v, b), set()),
        ("recommend borrower", lambda v: guarantee.recommend(p, w["partner"], v), set()),
        ("fund_deposit id", lambda v: guarantee.fund_deposit(p, v, "1"), set()),
        ("fund_deposit amount", lambda v: guarantee.fund_deposit(p, g, v), set()),
        ("withdraw_deposit amount", lambda v: guarantee.withdraw_deposit(p, g, v), set()),
        ("guarantee_listing listing", lambda v: guarantee.guarantee_listing(p, v, g), set()),
        (
            "guarantee_listing guarantor",
            lambda v: guarantee.guarantee_listing(p, applied, v),
            set(),
        ),
        (
            "guarantee_listing liability",
            lambda v: guarantee.guarantee_listing(p, applied, g, liability=v, after_days=-1),
            none,
        ),
        (
            "guarantee_listing after_days",
            lambda v: guarantee.guarantee_listing(p, applied, g, after_days=v, cover="x"),
            none,
        ),
        (
            "apply_recommended amount",
            lambda v: guarantee.apply_recommended(p, w["partner"], b, v, annual_rate="12%"),
            set(),
        ),
        ("release_listing", lambda v: guarantee.release_listing(p, v), set()),
        ("get_guarantor", lambda v: guarantee.get_guarantor(p, v), set()),
        ("guarantee_of", lambda v: guarantee.guarantee_of(p, v), set()),
        ("compensations", lambda v: guarantee.compensations(p, v), text | none),
        ("seed amount", lambda v: reserve.seed(p, v), set()),
        ("seed from_party", lambda v: reserve.seed(p, "1", from_party=v), none),
        ("settle key", lambda v: reserve.settle(p, key=v), text | none),
        ("queue open_only", lambda v: reserve.queue(p, open_only=v), {"True"}),
        (
            "register_asset kind",
            lambda v: collateral.register_asset(p, v, "VIN9", b, "1", D),
            set(),
        ),
        (
            "register_asset identifier",
            lambda v: collateral.register_asset(p, "vehicle", v, b, "1", D),
            text,
        ),
        (
            "register_asset owner",
            lambda v: collateral.register_asset(p, "vehicle", "VIN9", v, "1", D),
            set(),
        ),
        (
            "register_asset value",
            lambda v: collateral.register_asset(p, "vehicle", "VIN9", b, v, D),
            set(),
        ),
        (
            "register_asset date",
            lambda v: collateral.register_asset(p, "vehicle", "VIN9", b, "1", v),
            set(),
        ),
        ("pledge listing", lambda v: collateral.pledge(p, v, w["asset"]), set()),
        ("pledge asset", lambda v: collateral.pledge(p, applied, v), set()),
        ("revalue value", lambda v: collateral.revalue(p, w["asset"], v, D), set()),
        ("revalue date", lambda v: collateral.revalue(p, w["asset"], "1", v), set()),
        ("record_sale loan", lambda v: collateral.record_sale(p, v, "1"), set()),
        ("record_sale proceeds", lambda v: collateral.record_sale(p, loan, v), set()),
        ("record_sale costs", lambda v: collateral.record_sale(p, loan, "10", v), set()),
        ("record_sale sold_on", lambda v: collateral.record_sale(p, loan, "1", sold_on=v), none),
        ("get_asset", lambda v: collateral.get_asset(p, v), set()),
        ("asset_pledges", lambda v: collateral.asset_pledges(p, v), text),
        ("register_insurer name", lambda v: insurance.register_insurer(p, v, "1"), text),
        ("register_insurer capacity", lambda v: insurance.register_insurer(p, "n", v), set()),
        ("register_insurer party", lambda v: insurance.register_insurer(p, "n", "1", v), none),
        ("fund_insurer id", lambda v: insurance.fund_insurer(p, v, "1"), set()),
        ("fund_insurer amount", lambda v: insurance.fund_insurer(p, ins, v), set()),
        ("insure_loan ident", lambda v: insurance.insure_loan(p, v, ins, "1%"), set()),
        ("insure_loan insurer", lambda v: insurance.insure_loan(p, applied, v, "1%"), set()),
        ("insure_loan rate", lambda v: insurance.insure_loan(p, applied, ins, v), {"'0'"}),
        (
            "insure_loan payer",
            lambda v: insurance.insure_loan(p, applied, ins, "1%", payer=v),
            set(),
        ),
        (
            "insure_loan trigger",
            lambda v: insurance.insure_loan(p, applied, ins, "1%", trigger_days=v),
            set(),
        ),
        (
            "insure_loan sum_insured",
            lambda v: insurance.insure_loan(p, applied, ins, "1%", sum_insured=v),
            none,
        ),
        (
            "insure_loan cover_interest",
            lambda v: insurance.insure_loan(p, applied, ins, "1%", cover_interest=v),
            {"True"},
        ),
        (
            "insure_asset asset",
            lambda v: insurance.insure_asset(p, applied, ins, v, "1", "1%"),
            text,
        ),
        (
            "insure_asset sum",
            lambda v: insurance.insure_asset(p, applied, ins, "VIN1", v, "1%"),
            set(),
        ),
        (
            "insure_account investor",
            lambda v: insurance.insure_account(p, v, ins, "1", "1%"),
            set(),
        ),
        (
            "insure_account sum",
            lambda v: insurance.insure_account(p, w["i"], ins, v, "1%"),
            set(),
        ),
        ("insure_platform sum", lambda v: insurance.insure_platform(p, ins, v, "1%"), set()),
        (
            "insure_platform trigger",
            lambda v: insurance.insure_platform(p, ins, "1", "1%", v),
            set(),
        ),
        (
            "claim_asset_loss loss",
            lambda v: insurance.claim_asset_loss(p, w["asset_policy"], v),
            set(),
        ),
        (
            "claim_account_loss loss",
            lambda v: insurance.claim_account_loss(p, w["account_policy"], v),
            set(),
        ),
        (
            "claim_account_loss policy",
            lambda v: insurance.claim_account_loss(p, v, "1"),
            set(),
        ),
        (
            "reimburse account",
            lambda v: insurance.reimburse(p, w["platform_policy"], v, loan, "1"),
            set(),
        ),
        (
            "reimburse loan",
            lambda v: insurance.reimburse(
                p, w["platform_policy"], f"insurer:{ins}:plugin:CNY", v, "1"
            ),
            set(),
        ),
        (
            "reimburse amount",
            lambda v: insurance.reimburse(
                p, w["platform_policy"], f"insurer:{ins}:plugin:CNY", loan, v
            ),
            set(),
        ),
        ("get_insurer", lambda v: insurance.get_insurer(p, v), set()),
        ("get_policy", lambda v: insurance.get_policy(p, v), set()),
        ("yield_effect", lambda v: insurance.yield_effect(p, v), set()),
        ("collection_history", lambda v: online.collection_history(p, v), text),
    ]


def test_every_plugin_function_refuses_hostile_input_and_changes_nothing(
    world: dict[str, Any], db_url: str
) -> None:
    before = dump_all(db_url)
    accepted = []
    crashed = []
    for name, call, valid in calls(world):
        for value in HOSTILE:
            if repr(value) in valid:
                continue
            try:
                call(value)
            except lendkit.LendkitError:
                continue
            except Exception as exc:  # anything not refused cleanly
                crashed.append((name, repr(value)[:30], type(exc).__name__))
                continue
            accepted.append((name, repr(value)[:30]))
    assert crashed == []
    assert accepted == []
    assert dump_all(db_url) == before


def test_unknown_parties_are_refused(world: dict[str, Any], db_url: str) -> None:
    p, b = world["p"], world["b"]
    before = dump_all(db_url)
    with pytest.raises(lendkit.NotFound, match=GHOST):
        guarantee.declare_control(p, GHOST, b)
    with pytest.raises(lendkit.NotFound, match=GHOST):
        guarantee.declare_control(p, world["g"], GHOST)
    with pytest.raises(lendkit.NotFound, match=GHOST):
        guarantee.register_guarantor(p, "n", b, "1", controlled_by=[GHOST])
    with pytest.raises(lendkit.NotFound, match=GHOST):
        collateral.register_asset(p, "vehicle", "VIN9", GHOST, "1", D)
    with pytest.raises(lendkit.NotFound, match=GHOST):
        insurance.register_insurer(p, "Ghost Insurer", "1000", party_id=GHOST)
    with pytest.raises(lendkit.NotFound, match=GHOST):
        insurance.insure_account(p, GHOST, world["ins"], "100", "1%")
    with pytest.raises(lendkit.InvalidAmount, match="too large"):
        insurance.fund_insurer(p, world["ins"], 10**18)
    assert dump_all(db_url) == before


def test_reimburse_pays_only_an_existing_account_that_paid_the_loan(
    world: dict[str, Any], db_url: str
) -> None:
    p, loan, policy = world["p"], world["loan"], world["platform_policy"]
    before = dump_all(db_url)
    with pytest.raises(lendkit.NotFound, match="does not exist"):
        insurance.reimburse(p, policy, "plugin:nobody:fund:CNY", loan, "10")
    # an existing account that never paid the loan's investors (a user's, the guarantor's)
    for code in (f"party:{world['b']}:available:CNY", f"guarantor:{world['g']}:deposit:CNY"):
        with pytest.raises(lendkit.InvalidState, match="nothing to be reimbursed"):
            insurance.reimburse(p, policy, code, loan, "10")
    assert dump_all(db_url) == before

"""Validators only read: the builtin plugins' ``lendkit_validate_listing`` implementations write
nothing (a refusal by another plugin then costs nothing); their effects belong in
``lendkit_listing_approved``. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import attrs
from sqlalchemy import event

import lendkit
from lendkit.plugins import collateral, guarantee
from tests.conftest import party


def test_builtin_listing_validators_write_nothing(
    make_platform: Callable[..., lendkit.Platform],
) -> None:
    p = make_platform(plugins=["online", "guarantee", "collateral"])
    b = party(p, "b")
    g = guarantee.register_guarantor(p, "G", party(p, "g", "1000"), "1000")
    guarantee.fund_deposit(p, g.id, "500")
    car = collateral.register_asset(p, "vehicle", "VIN1", b, "10000", date(2026, 1, 1))
    listing = p.listings.apply(b, "3000", "12%", months=3)
    guarantee.guarantee_listing(p, listing.id, g.id)
    collateral.pledge(p, listing.id, car.id)
    approved = attrs.evolve(p.listings.get(listing.id), state="approved", grade="A")
    writes: list[str] = []

    def spy(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().split(None, 1)[0].upper() in {"INSERT", "UPDATE", "DELETE"}:
            writes.append(statement.split("\n")[0][:80])

    with p.transaction() as ctx:
        event.listen(ctx.conn, "before_cursor_execute", spy)
        try:
            p.hooks.validate_listing(ctx, approved)  # LTV 3000/10000 x 60 % = 6000: allowed
        finally:
            event.remove(ctx.conn, "before_cursor_execute", spy)
    assert writes == []
    assert guarantee.guarantee_of(p, listing.id).state == "pending"

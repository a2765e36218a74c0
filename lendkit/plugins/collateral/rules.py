"""The collateral plugin's pure rules (no database, no context)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from lendkit.core.inputs import check_text
from lendkit.core.money import Money
from lendkit.plugins.collateral.records import Asset, Pledge, Sale


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def lending_value(value_minor: int, cap: Decimal) -> int:
    """``value x cap`` rounded down to a whole minor unit (the most that may be lent on it)."""
    return int((Decimal(value_minor) * cap).to_integral_value(rounding=ROUND_FLOOR))


def pct(ratio: Decimal) -> str:
    return f"{(ratio * 100).quantize(Decimal('0.01'))}%"


def asset_record(row: Any) -> Asset:
    return Asset(
        row.id,
        row.kind,
        row.identifier,
        row.owner_id,
        Money.from_minor(row.appraised_value, row.currency),
        row.appraised_on,
    )


def pledge_record(row: Any, caps: Mapping[str, Decimal]) -> Pledge:
    cur = row.currency
    ltv = (
        Decimal(row.exposure) / Decimal(row.appraised_value) if row.appraised_value else Decimal(0)
    )
    return Pledge(
        row.id,
        row.asset_id,
        row.listing_id,
        row.loan_id,
        row.state,
        Money.from_minor(row.exposure, cur),
        Money.from_minor(row.appraised_value, cur),
        caps.get(row.kind, Decimal(0)),
        ltv.quantize(Decimal("0.0001")),
        bool(row.breach),
    )


def collateral_identifier(value: object) -> str:
    """An asset identifier as the registry keeps it: stripped, upper case, 1..100 printable."""
    return check_text(value, "asset identifier", 100).upper()


def identifier_key(identifier: str) -> str:
    """What ``pledges.active_key`` holds for a live pledge: a 40-hex digest of the identifier, so
    one identifier carries one live pledge whatever kind its asset is registered as."""
    return hashlib.blake2b(identifier.encode(), digest_size=20).hexdigest()


def sale_record(row: Any) -> Sale:
    cur = row.currency
    return Sale(
        row.id,
        row.loan_id,
        Money.from_minor(row.proceeds, cur),
        Money.from_minor(row.costs, cur),
        Money.from_minor(row.penalty, cur),
        Money.from_minor(row.interest, cur),
        Money.from_minor(row.principal, cur),
        Money.from_minor(row.surplus, cur),
        row.sold_on,
    )

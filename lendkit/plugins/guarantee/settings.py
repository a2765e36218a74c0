"""The guarantee plugin's settings: ``config.plugins["guarantee"]``, structured when the Platform opens."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from attrs import field, frozen

from lendkit.core.money import parse_rate
from lendkit.plugins.guarantee.records import COVERS, LIABILITIES
from lendkit.plugins.guarantee.rules import choice, days, guarantee_leverage

DEFAULTS: Mapping[str, Any] = {
    "leverage": "10",
    "fee_rate": "0.02",
    "deposit_rate": "0.10",
    "liability": "joint",
    "after_days": 1,
    "cover": "principal_and_interest",
}


def _fee_rate(value: object) -> Decimal:
    return parse_rate(value, "guarantee fee_rate")


def _deposit_rate(value: object) -> Decimal:
    return parse_rate(value, "guarantee deposit_rate")


def _liability(value: object) -> str:
    return choice(value, "guarantee liability", LIABILITIES)


def _after_days(value: object) -> int:
    return days(value, "guarantee after_days")


def _cover(value: object) -> str:
    return choice(value, "guarantee cover", COVERS)


@frozen
class Settings:
    """``config.plugins["guarantee"]``, structured when the Platform opens: the defaults of
    every guarantor registered without its own (see the module docs)."""

    leverage: Decimal = field(default=Decimal(DEFAULTS["leverage"]), converter=guarantee_leverage)
    fee_rate: Decimal = field(default=Decimal(DEFAULTS["fee_rate"]), converter=_fee_rate)
    deposit_rate: Decimal = field(
        default=Decimal(DEFAULTS["deposit_rate"]), converter=_deposit_rate
    )
    liability: str = field(default=DEFAULTS["liability"], converter=_liability)
    after_days: int = field(default=DEFAULTS["after_days"], converter=_after_days)
    cover: str = field(default=DEFAULTS["cover"], converter=_cover)

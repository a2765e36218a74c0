"""The ``supplychain`` plugin's configuration (``config={"plugins": {"supplychain": {...}}}``):
one attrs class that checks its own values, structured once when the Platform opens."""

from __future__ import annotations

from decimal import Decimal

from attrs import field, frozen

from lendkit.core.errors import InvalidValue
from lendkit.core.inputs import check_choice, check_int
from lendkit.core.money import to_decimal
from lendkit.core.schedule import DayCount

PLUGIN = "supplychain"
#: the most days ``recourse_grace_days`` and ``min_days`` may be
MAX_DAYS = 3650
DAY_COUNTS = tuple(d.value for d in DayCount)


def _share(value: object, name: str) -> Decimal:
    share = to_decimal(value, name)
    if not Decimal(0) < share <= 1:
        raise InvalidValue(f"{name} {share} must be more than 0 and at most 1")
    return share


def _financing_ratio(value: object) -> Decimal:
    return _share(value, "financing_ratio")


def _industry_share(value: object) -> Decimal:
    return _share(value, "industry_share")


def _investor_cap(value: object) -> Decimal | None:
    if value is None:
        return None
    cap = to_decimal(value, "investor_cap")
    if not cap > 0:
        raise InvalidValue(f"investor_cap {cap} must be more than 0 (or None: no cap)")
    return cap


def _recourse_grace_days(value: object) -> int:
    return check_int(value, "recourse_grace_days", 0, MAX_DAYS)


def _min_days(value: object) -> int:
    return check_int(value, "min_days", 0, MAX_DAYS)


def _day_count(value: object) -> str:
    return check_choice(value, "day_count", DAY_COUNTS)


@frozen
class Settings:
    """What an integrator may set for ``supplychain`` (amounts and rates as strings), structured
    when the Platform opens (``lendkit_register_settings``); a bad value is refused there with a
    ``ConfigError`` naming the key and what is allowed. Hooks read it with
    ``ctx.settings("supplychain")``.

    * ``financing_ratio``: the most a listing may finance, as a share of the confirmed
      receivable (``"0.8"``: 80 %; 0 < ratio <= 1).
    * ``recourse_grace_days``: days after the receivable's due date during which only the core
      enterprise is collected from; from then on the supplier is collected from too (recourse).
    * ``industry_share``: the most one industry's supply-chain exposure (approved listings and
      outstanding principal) may be of the platform's outstanding principal (approved
      supply-chain listings and this listing included); ``"1"`` means no industry cap.
    * ``investor_cap``: the most one investor may have on one core enterprise (open bids plus
      outstanding principal), an amount in the platform's currency; ``None``: no cap.
    * ``day_count``: the basis of the receivable loan's interest (``ACT/360`` by default).
    * ``min_days``: the fewest days from approval to the receivable's due date.
    """

    financing_ratio: Decimal = field(default=Decimal("0.8"), converter=_financing_ratio)
    recourse_grace_days: int = field(default=3, converter=_recourse_grace_days)
    industry_share: Decimal = field(default=Decimal(1), converter=_industry_share)
    investor_cap: Decimal | None = field(default=None, converter=_investor_cap)
    day_count: str = field(default=DayCount.ACT_360.value, converter=_day_count)
    min_days: int = field(default=1, converter=_min_days)

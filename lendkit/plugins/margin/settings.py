"""The ``margin`` plugin's settings: one attrs class that checks its own values, structured from
``config.plugins["margin"]`` once when the Platform opens."""

from __future__ import annotations

from decimal import Decimal

from attrs import field, frozen

from lendkit.core.errors import InvalidValue
from lendkit.core.inputs import check_int
from lendkit.core.money import to_decimal

PLUGIN = "margin"
#: the subject kind of a margin account in the audit trail (``margin_account:<id>``); its owner
#: is the trader (``lendkit_subject_owner``), so a trader may act on its own account
SUBJECT = "margin_account"
#: no setting lets the leverage cap go above this
HIGHEST_CAP = 10
#: the longest a price may be trusted, in seconds (a week)
MAX_AGE = 7 * 86400


def _cap(value: object) -> int:
    return check_int(value, "max_leverage", 1, HIGHEST_CAP)


def _check_line(value: object, what: str) -> Decimal:
    line = to_decimal(value, what)
    if not Decimal(1) <= line <= Decimal(10):
        raise InvalidValue(f"{what} {line} must be a ratio from 1 (100%) up to 10")
    return line


def _warning_line(value: object) -> Decimal:
    return _check_line(value, "warning_line")


def _liquidation_line(value: object) -> Decimal:
    return _check_line(value, "liquidation_line")


def _band(value: object) -> Decimal:
    band = to_decimal(value, "near_warning_band")
    if not Decimal(0) <= band <= Decimal(1):
        raise InvalidValue(f"near_warning_band {band} must be from 0 up to 1")
    return band


def _fee_rate(value: object) -> Decimal:
    rate = to_decimal(value, "liquidation_fee_rate")
    if not Decimal(0) <= rate < Decimal("0.1"):
        raise InvalidValue(f"liquidation_fee_rate {rate} must be from 0 up to (not) 0.1")
    return rate


def _age(value: object) -> int:
    return check_int(value, "price_max_age_seconds", 1, MAX_AGE)


@frozen
class MarginSettings:
    """Configuration of ``margin`` (``config={"plugins": {"margin": {...}}}``), structured when
    the Platform opens; a bad value is refused there naming the key.

    :ivar max_leverage: the highest leverage an account may take (1:1 up to 1:N; default 5,
        at most 10): the borrowed funds are at most ``N`` times the trader's margin.
    :ivar warning_line: account value / borrowed funds below which the account is warned and
        withdrawals, unpledges and new buys are refused (default ``1.10``, 110 %).
    :ivar liquidation_line: the ratio at or below which the account is liquidated (default
        ``1.05``); below the warning line.
    :ivar near_warning_band: disclosure counts an account as near the warning line while its
        ratio is below ``warning_line + band`` (default ``0.05``).
    :ivar price_max_age_seconds: a price older than this (against the platform clock) is
        refused (default 86,400: the last close stays good until the next one).
    :ivar liquidation_fee_rate: the platform's fee on a forced sale's proceeds (HALF_UP to the
        cent; paid after the investors; default ``0.005``).
    """

    max_leverage: int = field(default=5, converter=_cap)
    warning_line: Decimal = field(default=Decimal("1.10"), converter=_warning_line)
    liquidation_line: Decimal = field(default=Decimal("1.05"), converter=_liquidation_line)
    near_warning_band: Decimal = field(default=Decimal("0.05"), converter=_band)
    price_max_age_seconds: int = field(default=86400, converter=_age)
    liquidation_fee_rate: Decimal = field(default=Decimal("0.005"), converter=_fee_rate)

    def __attrs_post_init__(self) -> None:
        if self.liquidation_line >= self.warning_line:
            raise InvalidValue(
                f"liquidation_line {self.liquidation_line} must be below warning_line"
                f" {self.warning_line}"
            )

"""The ``bills`` plugin's settings: one attrs class that checks its own values, structured from
``config.plugins["bills"]`` once when the Platform opens."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

from attrs import field, frozen

from lendkit.core.errors import InvalidValue
from lendkit.core.inputs import check_int
from lendkit.core.money import to_decimal
from lendkit.core.schedule import DayCount

PLUGIN = "bills"
#: the most days any of the day-count settings may be
MAX_DAYS = 36500


@runtime_checkable
class AcceptorRegistry(Protocol):
    """The acceptor banks' register of bills (an integrator supplies it, e.g. the central bank's
    electronic commercial draft system).

    ``check_bill`` returns ``None`` when the acceptor confirms the bill (genuine, accepted, not
    pledged or paid) or a sentence saying why not (``"not accepted by ICBC"``). It is asked at
    application, approval and publication, inside the command's transaction: keep it quick and
    side-effect free.
    """

    def check_bill(self, bill: Any) -> str | None:
        """Veto (a reason) or confirm (``None``) the bill (a :class:`lendkit.plugins.bills.Bill`)."""


def _basis(value: object) -> str:
    try:
        return DayCount.parse(value).value
    except InvalidValue as exc:
        raise InvalidValue(f"basis: {exc}") from None


def _min_days_to_maturity(value: object) -> int:
    return check_int(value, "min_days_to_maturity", 0, MAX_DAYS)


def _number_retention_days(value: object) -> int:
    return check_int(value, "number_retention_days", 0, MAX_DAYS)


def _recourse_grace_days(value: object) -> int:
    return check_int(value, "recourse_grace_days", 0, MAX_DAYS)


def _penalty_daily_rate(value: object) -> Decimal:
    rate = to_decimal(value, "penalty_daily_rate")
    if not Decimal(0) <= rate < Decimal(1):
        raise InvalidValue(f"penalty_daily_rate {rate} must be a daily rate in [0, 1)")
    return rate


def _registry(value: object) -> Any:
    if value is not None and not (isinstance(value, AcceptorRegistry) or callable(value)):
        raise InvalidValue(
            f"registry must have check_bill(bill) or be callable; got {type(value).__name__}"
        )
    return value


@frozen
class BillSettings:
    """Configuration of ``bills`` (``config={"plugins": {"bills": {...}}}``), structured when
    the Platform opens (``lendkit_register_settings``); a bad value is refused there with a
    ``ConfigError`` naming the key. Hooks and commands read it with ``ctx.settings("bills")``.

    :ivar basis: the product's day-count basis for the discount (``ACT/360`` as bills are
        quoted; ``ACT/365`` or ``30/360``; any case).
    :ivar min_days_to_maturity: a bill is financed only while at least this many days remain to
        its maturity (at application, approval and publication).
    :ivar number_retention_days: a paid or withdrawn bill's number stays taken this many days.
    :ivar recourse_grace_days: days after maturity the acceptor alone is collected from; after
        them the drawer is collected from too (recourse).
    :ivar penalty_daily_rate: a bill's daily penalty rate unless it is registered with its own
        (a string or Decimal in [0, 1); floats are refused).
    :ivar registry: an :class:`AcceptorRegistry` (or a callable ``(bill) -> str | None``); without
        one, a bill is refused until staff mark it verified (``bills.verify_bill``).
    """

    basis: str = field(default=DayCount.ACT_360.value, converter=_basis)
    min_days_to_maturity: int = field(default=7, converter=_min_days_to_maturity)
    number_retention_days: int = field(default=180, converter=_number_retention_days)
    recourse_grace_days: int = field(default=3, converter=_recourse_grace_days)
    penalty_daily_rate: Decimal = field(default=Decimal("0.0005"), converter=_penalty_daily_rate)
    registry: Any = field(default=None, converter=_registry)

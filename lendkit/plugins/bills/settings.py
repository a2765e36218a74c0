"""The ``bills`` plugin's settings: one attrs class, structured in one function."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

from attrs import frozen

from lendkit.core.context import HookContext
from lendkit.core.errors import ConfigError
from lendkit.core.schedule import DayCount
from lendkit.core.serde import structure

PLUGIN = "bills"


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


@frozen
class BillSettings:
    """Configuration of ``bills`` (``config={"plugins": {"bills": {...}}}``).

    :ivar basis: the product's day-count basis for the discount (``ACT/360`` as bills are
        quoted; ``ACT/365`` or ``30/360``).
    :ivar min_days_to_maturity: a bill is financed only while at least this many days remain to
        its maturity (at application, approval and publication).
    :ivar number_retention_days: a paid or withdrawn bill's number stays taken this many days.
    :ivar recourse_grace_days: days after maturity the acceptor alone is collected from; after
        them the drawer is collected from too (recourse).
    :ivar penalty_daily_rate: a bill's daily penalty rate unless it is registered with its own.
    :ivar registry: an :class:`AcceptorRegistry` (or a callable ``(bill) -> str | None``); without
        one, a bill is refused until staff mark it verified (``bills.verify_bill``).
    """

    basis: str = DayCount.ACT_360.value
    min_days_to_maturity: int = 7
    number_retention_days: int = 180
    recourse_grace_days: int = 3
    penalty_daily_rate: Decimal = Decimal("0.0005")
    registry: Any = None


def load_settings(raw: Mapping[str, Any]) -> BillSettings:
    """``BillSettings`` from the integrator's ``config["plugins"]["bills"]`` mapping;
    ``ConfigError`` naming the bad key (unknown keys, floats, out-of-range values)."""
    settings = structure(dict(raw), BillSettings, "bills configuration")
    try:
        basis = DayCount.parse(settings.basis).value
    except Exception as exc:
        raise ConfigError(f"bills basis: {exc}") from None
    for name in ("min_days_to_maturity", "number_retention_days", "recourse_grace_days"):
        value = getattr(settings, name)
        if isinstance(value, bool) or not 0 <= value <= 36500:
            raise ConfigError(f"bills {name} {value!r} must be a whole number of days 0..36500")
    rate = settings.penalty_daily_rate
    if not rate.is_finite() or not Decimal(0) <= rate < Decimal(1):
        raise ConfigError(f"bills penalty_daily_rate {rate} must be a daily rate in [0, 1)")
    registry = settings.registry
    if registry is not None and not (isinstance(registry, AcceptorRegistry) or callable(registry)):
        raise ConfigError(
            "bills registry must have check_bill(bill) or be callable; got"
            f" {type(registry).__name__}"
        )
    return BillSettings(
        basis,
        settings.min_days_to_maturity,
        settings.number_retention_days,
        settings.recourse_grace_days,
        rate,
        registry,
    )


def settings_of(ctx: HookContext) -> BillSettings:
    """The plugin's settings in a unit of work (the one place that reads its configuration)."""
    return load_settings(ctx.config(PLUGIN))

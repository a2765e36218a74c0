"""The ``supplychain`` plugin's configuration (``config={"plugins": {"supplychain": {...}}}``)."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from attrs import frozen

from lendkit.core.errors import ConfigError
from lendkit.core.schedule import DayCount
from lendkit.core.serde import structure

PLUGIN = "supplychain"


@frozen
class Settings:
    """What an integrator may set for ``supplychain`` (amounts and rates as strings).

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

    financing_ratio: Decimal = Decimal("0.8")
    recourse_grace_days: int = 3
    industry_share: Decimal = Decimal(1)
    investor_cap: Decimal | None = None
    day_count: str = "ACT/360"
    min_days: int = 1


def settings(config: Mapping[str, Any]) -> Settings:
    """The plugin's settings from its configuration (``ctx.config("supplychain")``): unknown
    keys, floats and values out of range are a ``ConfigError`` naming the key."""
    s = structure(dict(config), Settings, f"plugins.{PLUGIN}")
    problems = []
    if not Decimal(0) < s.financing_ratio <= 1:
        problems.append(f"financing_ratio {s.financing_ratio} must be more than 0 and at most 1")
    if not 0 <= s.recourse_grace_days <= 3650:
        problems.append(f"recourse_grace_days {s.recourse_grace_days} must be 0..3650")
    if not Decimal(0) < s.industry_share <= 1:
        problems.append(f"industry_share {s.industry_share} must be more than 0 and at most 1")
    if s.investor_cap is not None and not s.investor_cap > 0:
        problems.append(f"investor_cap {s.investor_cap} must be more than 0 (or None: no cap)")
    if s.day_count not in {d.value for d in DayCount}:
        allowed = ", ".join(d.value for d in DayCount)
        problems.append(f"day_count {s.day_count!r} is not allowed: choose one of {allowed}")
    if not 0 <= s.min_days <= 3650:
        problems.append(f"min_days {s.min_days} must be 0..3650")
    if problems:
        raise ConfigError(f"invalid plugins.{PLUGIN}: {'; '.join(problems)}")
    return s

"""Scenarios of ``lendkit simulate``: the shocks a month of the simulation applies.

A :class:`Scenario` is a frozen record of numbers; the builtin ones are :data:`BUILTIN`
(``base``, ``recession``, ``core-enterprise-failure``, ``run-on-the-platform``) and an
integrator's own comes from a TOML file (:func:`load_scenario`), every key checked: an unknown
key, a float or a value out of range is refused with a ``ConfigError`` naming the key and what is
allowed. Rates are decimal strings (``"0.02"``) or percentages (``"2%"``), never floats, so the
same file gives the same simulation everywhere.
"""

from __future__ import annotations

import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any

from attrs import evolve, frozen

from lendkit.core.config import GRADES
from lendkit.core.errors import ConfigError, LendkitError
from lendkit.core.money import parse_rate, to_decimal

__all__ = [
    "BASE_MONTHLY_DEFAULT_RATES",
    "BUILTIN",
    "SCENARIO_KEYS",
    "Scenario",
    "load_scenario",
    "resolve_scenario",
    "scenario_from_dict",
]

#: chance that a performing borrower stops paying in a month, by grade (base case)
BASE_MONTHLY_DEFAULT_RATES: dict[str, Decimal] = {
    "AA": Decimal("0.001"),
    "A": Decimal("0.002"),
    "B": Decimal("0.004"),
    "C": Decimal("0.007"),
    "D": Decimal("0.010"),
    "E": Decimal("0.015"),
    "HR": Decimal("0.025"),
}


@frozen
class Scenario:
    """What happens to the synthetic platform month by month (months count from 1).

    * ``default_rates``: monthly chance that a performing borrower stops paying, by grade;
      multiplied by ``default_multiplier`` in months ``shock_from_month..shock_to_month``.
    * ``core_enterprise_failure_month``: in that month the first core enterprise (supplychain)
      stops paying, and so does every supplier behind it (correlated defaults).
    * ``withdrawal_share``: share of their deposits investors ask back each month, plus
      ``withdrawal_growth`` more every month from ``withdrawal_from_month`` on (a run); what the
      available balance cannot pay waits in a queue. ``deposits_stop_month``: no new deposits
      from that month on.
    * ``prepayment_rate``: monthly chance that a performing borrower prepays in full.
    * ``recovery_rate``: monthly chance that a defaulted loan recovers something (a collateral
      sale, or the borrower paying ``recovery_share`` of what is outstanding).
    * ``reserve_seed_share``: the risk reserve's seed as a share of the planned volume;
      ``reserve_contribution``: the share of each loan's principal paid into the reserve at
      disbursement, every grade alike (``None``: the reserve plugin's rates by grade).
    """

    name: str
    description: str = ""
    default_rates: dict[str, Decimal] = BASE_MONTHLY_DEFAULT_RATES
    default_multiplier: Decimal = Decimal(1)
    shock_from_month: int = 1
    shock_to_month: int = 0
    core_enterprise_failure_month: int = 0
    withdrawal_share: Decimal = Decimal("0.01")
    withdrawal_growth: Decimal = Decimal(0)
    withdrawal_from_month: int = 1
    deposits_stop_month: int = 0
    prepayment_rate: Decimal = Decimal("0.01")
    recovery_rate: Decimal = Decimal("0.25")
    recovery_share: Decimal = Decimal("0.4")
    reserve_seed_share: Decimal = Decimal("0.02")
    reserve_contribution: Decimal | None = None

    def default_rate(self, grade: str, month: int) -> Decimal:
        """The chance that a performing borrower of ``grade`` stops paying in ``month``."""
        rate = self.default_rates[grade]
        if self.shock_from_month <= month <= self.shock_to_month:
            rate *= self.default_multiplier
        return min(rate, Decimal(1))

    def withdrawal_rate(self, month: int) -> Decimal:
        """The share of their deposits investors ask back in ``month``."""
        extra = max(0, month - self.withdrawal_from_month + 1) * self.withdrawal_growth
        return min(self.withdrawal_share + extra, Decimal(1))

    def deposits_open(self, month: int) -> bool:
        """Whether investors still bring new money in ``month``."""
        return not self.deposits_stop_month or month < self.deposits_stop_month

    def as_dict(self) -> dict[str, Any]:
        """The scenario as the JSON output shows it (decimals as strings)."""
        return {
            "name": self.name,
            "description": self.description,
            "default_rates": {g: str(r) for g, r in self.default_rates.items()},
            "default_multiplier": str(self.default_multiplier),
            "shock_from_month": self.shock_from_month,
            "shock_to_month": self.shock_to_month,
            "core_enterprise_failure_month": self.core_enterprise_failure_month,
            "withdrawal_share": str(self.withdrawal_share),
            "withdrawal_growth": str(self.withdrawal_growth),
            "withdrawal_from_month": self.withdrawal_from_month,
            "deposits_stop_month": self.deposits_stop_month,
            "prepayment_rate": str(self.prepayment_rate),
            "recovery_rate": str(self.recovery_rate),
            "recovery_share": str(self.recovery_share),
            "reserve_seed_share": str(self.reserve_seed_share),
            "reserve_contribution": None
            if self.reserve_contribution is None
            else str(self.reserve_contribution),
        }


def _builtin(months: int) -> dict[str, Scenario]:
    """The builtin scenarios, their windows placed in a run of ``months`` months."""
    third = min(months, max(2, months // 3))  # after the first loans exist
    return {
        "base": Scenario("base", "steady state: base default rates, 1 % withdrawals a month"),
        "recession": Scenario(
            "recession",
            f"default rates x4 from month {third} to month {months}",
            default_multiplier=Decimal(4),
            shock_from_month=third,
            shock_to_month=months,
            prepayment_rate=Decimal("0.005"),
            recovery_rate=Decimal("0.1"),
        ),
        "core-enterprise-failure": Scenario(
            "core-enterprise-failure",
            f"the first core enterprise stops paying in month {third}: every supplier loan"
            " behind it defaults at once",
            core_enterprise_failure_month=third,
        ),
        "run-on-the-platform": Scenario(
            "run-on-the-platform",
            f"from month {third} investors ask back 5 % more of their deposits every month and"
            " stop depositing",
            withdrawal_growth=Decimal("0.05"),
            withdrawal_from_month=third,
            deposits_stop_month=third,
        ),
    }


#: the builtin scenario names
BUILTIN = tuple(_builtin(12))

_RATES = (
    "default_multiplier",
    "withdrawal_share",
    "withdrawal_growth",
    "prepayment_rate",
    "recovery_rate",
    "recovery_share",
    "reserve_seed_share",
    "reserve_contribution",
)
_MONTHS = (
    "shock_from_month",
    "shock_to_month",
    "core_enterprise_failure_month",
    "withdrawal_from_month",
    "deposits_stop_month",
)
#: every key a scenario file may hold
SCENARIO_KEYS = ("name", "description", "base", "default_rates", *_RATES, *_MONTHS)


def _rate(key: str, value: object, allow_above_one: bool = False) -> Decimal:
    if isinstance(value, float):
        raise ConfigError(
            f"scenario key {key!r}: {value!r} is a float; write it as a string such as"
            f' "{value}" (or a percentage "{value * 100:g}%") so it is exact'
        )
    try:
        if allow_above_one:
            number = to_decimal(value, f"scenario key {key!r}")
            if number < 0 or number > 1000:
                raise ConfigError(f"scenario key {key!r} {value!r} is out of range: 0..1000")
            return number
        return parse_rate(value, f"scenario key {key!r}")
    except (LendkitError, TypeError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(str(exc)) from None


def _month(key: str, value: object, months: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= months:
        raise ConfigError(
            f"scenario key {key!r} {value!r} must be a month number 0..{months}"
            " (0: never; months count from 1)"
        )
    return value


def scenario_from_dict(data: dict[str, Any], months: int, where: str = "scenario") -> Scenario:
    """Build a scenario from a parsed TOML table, checking every key (``ConfigError``)."""
    unknown = sorted(set(data) - set(SCENARIO_KEYS))
    if unknown:
        raise ConfigError(
            f"{where}: unknown key {unknown[0]!r}; allowed keys: {', '.join(SCENARIO_KEYS)}"
        )
    builtin = _builtin(months)
    base_name = data.get("base", "base")
    if base_name not in builtin:
        raise ConfigError(
            f"{where}: key 'base' {base_name!r} is not a builtin scenario: one of"
            f" {', '.join(builtin)}"
        )
    name = data.get("name", Path(where).stem)
    if not isinstance(name, str) or not name.strip() or len(name) > 80:
        raise ConfigError(
            f"{where}: key 'name' must be a non-empty string of at most 80 characters"
        )
    description = data.get("description", "")
    if not isinstance(description, str) or len(description) > 500:
        raise ConfigError(f"{where}: key 'description' must be a string of at most 500 characters")
    changes: dict[str, Any] = {"name": name.strip(), "description": description}
    for key in _RATES:
        if key in data:
            changes[key] = _rate(key, data[key], allow_above_one=key == "default_multiplier")
    for key in _MONTHS:
        if key in data:
            changes[key] = _month(key, data[key], months)
    if "default_rates" in data:
        rates = data["default_rates"]
        if not isinstance(rates, dict):
            raise ConfigError(f"{where}: key 'default_rates' must be a table of grade = rate")
        bad = sorted(set(rates) - set(GRADES))
        if bad:
            raise ConfigError(
                f"{where}: default_rates has unknown grade {bad[0]!r}; allowed: {', '.join(GRADES)}"
            )
        merged = dict(BASE_MONTHLY_DEFAULT_RATES)
        merged.update({g: _rate(f"default_rates.{g}", v) for g, v in rates.items()})
        changes["default_rates"] = merged
    scenario = evolve(builtin[base_name], **changes)
    if scenario.shock_to_month and scenario.shock_from_month > scenario.shock_to_month:
        raise ConfigError(
            f"{where}: shock_from_month {scenario.shock_from_month} is after shock_to_month"
            f" {scenario.shock_to_month}"
        )
    return scenario


def load_scenario(path: str | Path, months: int) -> Scenario:
    """Read a scenario file (TOML); ``ConfigError`` naming the file and the bad key."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"scenario file {str(path)!r} cannot be read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"scenario file {str(path)!r} is not UTF-8 text") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"scenario file {str(path)!r} is not valid TOML: {exc}") from None
    return scenario_from_dict(data, months, where=str(path))


def resolve_scenario(name_or_path: str, months: int) -> Scenario:
    """A builtin scenario by name, or a ``.toml`` file; ``ConfigError`` for anything else."""
    builtin = _builtin(months)
    if name_or_path in builtin:
        return builtin[name_or_path]
    if name_or_path.endswith(".toml") or Path(name_or_path).is_file():
        return load_scenario(name_or_path, months)
    raise ConfigError(
        f"scenario {name_or_path!r} is not known: use one of {', '.join(builtin)}"
        " or the path of a .toml scenario file"
    )

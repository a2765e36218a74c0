"""lendkit: an embeddable, plugin-based lending SDK with exact money.

>>> import lendkit
>>> p = lendkit.Platform.open("sqlite:///demo.db", plugins=["online"])   # doctest: +SKIP
"""

from __future__ import annotations

import pluggy

from lendkit.core.errors import (
    CobRunning,
    CurrencyMismatch,
    Forbidden,
    HoldResolved,
    IdempotencyConflict,
    InsufficientFunds,
    InvalidAmount,
    InvalidRate,
    InvalidState,
    InvalidValue,
    LendkitError,
    LimitExceeded,
    NotFound,
    PluginError,
)
from lendkit.core.money import Money, RoundingPolicy, allocate
from lendkit.core.records import (
    Claim,
    CreditAssessment,
    Deduction,
    Disclosure,
    Product,
)
from lendkit.core.schedule import Schedule, build_schedule
from lendkit.platform import Platform

#: decorate plugin hook implementations with ``@lendkit.hookimpl``
hookimpl = pluggy.HookimplMarker("lendkit")

__version__ = "0.1.0"

__all__ = [
    "Claim",
    "CobRunning",
    "CreditAssessment",
    "CurrencyMismatch",
    "Deduction",
    "Disclosure",
    "Forbidden",
    "HoldResolved",
    "IdempotencyConflict",
    "InsufficientFunds",
    "InvalidAmount",
    "InvalidRate",
    "InvalidState",
    "InvalidValue",
    "LendkitError",
    "LimitExceeded",
    "Money",
    "NotFound",
    "Platform",
    "PluginError",
    "Product",
    "RoundingPolicy",
    "Schedule",
    "allocate",
    "build_schedule",
    "hookimpl",
]

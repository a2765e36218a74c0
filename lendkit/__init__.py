"""lendkit: an embeddable, plugin-based lending SDK with exact money.

>>> import lendkit
>>> p = lendkit.Platform.open("sqlite:///demo.db", plugins=["online"])   # doctest: +SKIP
"""

from __future__ import annotations

import pluggy

from lendkit.core.access import AccessDecision, Actor, AuditEntry, Subject
from lendkit.core.errors import (
    CobRunning,
    CobWorkersFailed,
    ConfigError,
    CurrencyMismatch,
    Forbidden,
    FourEyesRequired,
    HoldResolved,
    IdempotencyConflict,
    InsufficientFunds,
    InvalidAmount,
    InvalidRate,
    InvalidSchedule,
    InvalidState,
    InvalidValue,
    LedgerError,
    LendkitError,
    LimitExceeded,
    NotFound,
    NoYield,
    PermissionDenied,
    PluginError,
    PluginsMismatch,
    SchemaOutOfDate,
    UnknownCurrency,
    ValidationRefused,
    WrongType,
)
from lendkit.core.money import Money, RoundingPolicy, allocate
from lendkit.core.open_ended import OpenEndedTerms
from lendkit.core.records import (
    Claim,
    CreditAssessment,
    Deduction,
    Disclosure,
    Product,
)
from lendkit.core.schedule import (
    DayCount,
    Schedule,
    build_schedule,
    custom_rows,
    discount_bullet,
    validate_schedule,
)
from lendkit.platform import Platform

#: decorate plugin hook implementations with ``@lendkit.hookimpl``
hookimpl = pluggy.HookimplMarker("lendkit")

__version__ = "0.1.0"

__all__ = [
    "AccessDecision",
    "Actor",
    "AuditEntry",
    "Claim",
    "CobRunning",
    "CobWorkersFailed",
    "ConfigError",
    "CreditAssessment",
    "CurrencyMismatch",
    "DayCount",
    "Deduction",
    "Disclosure",
    "Forbidden",
    "FourEyesRequired",
    "HoldResolved",
    "IdempotencyConflict",
    "InsufficientFunds",
    "InvalidAmount",
    "InvalidRate",
    "InvalidSchedule",
    "InvalidState",
    "InvalidValue",
    "LedgerError",
    "LendkitError",
    "LimitExceeded",
    "Money",
    "NoYield",
    "NotFound",
    "OpenEndedTerms",
    "PermissionDenied",
    "Platform",
    "PluginError",
    "PluginsMismatch",
    "Product",
    "RoundingPolicy",
    "Schedule",
    "SchemaOutOfDate",
    "Subject",
    "UnknownCurrency",
    "ValidationRefused",
    "WrongType",
    "allocate",
    "build_schedule",
    "custom_rows",
    "discount_bullet",
    "hookimpl",
    "validate_schedule",
]

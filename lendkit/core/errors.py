"""The ``LendkitError`` tree.

Every refusal lendkit makes is one of these, with a message a person can act on: what was wrong,
which value, and what is allowed. A refused command leaves the database exactly as it was.

``InvalidValue`` also subclasses ``ValueError`` so that callers catching the builtin still work;
``NotFound`` subclasses ``LookupError`` for the same reason.
"""

from __future__ import annotations


class LendkitError(Exception):
    """Base of every error lendkit raises on purpose."""

    #: exit status the CLI uses for this kind of refusal
    exit_code = 2


class InvalidValue(LendkitError, ValueError):
    """A value given to lendkit is malformed or out of range."""


class NoYield(InvalidValue):
    """Cash flows have no rate of return (no sign change, or none inside the solver's range)."""


class InvalidAmount(InvalidValue):
    """A money amount is malformed, not finite, negative/zero where not allowed, or too precise."""


class InvalidRate(InvalidValue):
    """An interest or fee rate is malformed or out of its allowed range."""


class UnknownCurrency(InvalidValue):
    """A currency code lendkit does not know."""


class CurrencyMismatch(InvalidValue):
    """Two amounts in different currencies were combined."""


class InvalidSchedule(InvalidValue):
    """A repayment schedule breaks a rule (principal sum, negative amount, balance, due dates).

    ``row`` is the offending row's period (``None`` for the schedule as a whole) and ``rule``
    a short name of the rule broken (see :func:`lendkit.core.schedule.validate_schedule`).
    """

    def __init__(self, message: str, *, row: int | None = None, rule: str = "") -> None:
        super().__init__(message)
        self.row = row
        self.rule = rule


class NotFound(LendkitError, LookupError):
    """An id names nothing (party, listing, loan, hold, account, plugin...)."""


class InvalidState(LendkitError):
    """The command is not allowed in the object's current state (a wrong transition)."""


class ValidationRefused(InvalidState):
    """One or more plugins' validators refused the command; the message lists every violation."""


class InsufficientFunds(InvalidState):
    """An account does not hold enough available money for the movement."""


class CobRunning(InvalidState):
    """Close of business for the date and shard is running in another process; nothing changed."""


class CobWorkersFailed(InvalidState):
    """Some close-of-business worker processes failed; what the others and the failed ones
    committed stands (each chunk commits with its loans' markers): run the same command again."""


class HoldResolved(InvalidState):
    """A hold was already posted, voided or expired; it resolves exactly once."""


class Forbidden(InvalidState):
    """The party may not do this (unverified, own listing, risk level, segregation rules)."""


class PermissionDenied(LendkitError, PermissionError):
    """The actor may not run this command: the message names the actor, the action and the
    permission missing. Nothing changed (and an idempotency key is not used up by it)."""


class FourEyesRequired(PermissionDenied):
    """A four-eyes rule refused the actor: the one who approved a listing may not disburse it;
    a write-off needs a request by another staff member first."""


class LimitExceeded(InvalidState):
    """A limit (credit line, bid size, leverage cap, remaining amount) would be exceeded."""


class IdempotencyConflict(LendkitError):
    """The idempotency key was used before with a different command or payload."""


class LedgerError(LendkitError):
    """A journal entry is unbalanced or otherwise breaks the ledger's rules."""


class PluginError(LendkitError):
    """A plugin could not be found or loaded, or two plugins registered the same name."""


class PluginsMismatch(PluginError):
    """The plugins asked for are not the ones the database remembers (names both sets)."""


class SchemaOutOfDate(LendkitError):
    """The database schema is behind the code: run ``lendkit db upgrade``."""


class ConfigError(InvalidValue):
    """Configuration given to the platform or a plugin is invalid."""


class WrongType(InvalidValue, TypeError):
    """A value of the wrong type, e.g. a float where money or a rate enters.

    It is a ``TypeError`` (floats are refused as a type error, as Python's own APIs do) and a
    ``LendkitError``, so the CLI and integrators catching ``LendkitError`` report it cleanly.
    """

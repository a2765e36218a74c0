"""Parsing what callers pass in: the bounds every command applies, core's and plugins' alike.

A plugin imports only ``lendkit`` and ``lendkit.core``, so the checks its public functions need
live here: amounts (positive, within :data:`MAX_AMOUNT` so sums stay in a BigInteger column),
ids (short strings), names and free text (printable, bounded), choices and whole numbers. Each
refusal is an ``InvalidValue`` (``InvalidAmount`` for money) naming the value and what is
allowed; a wrong type (a list where a string is expected) is an ``InvalidValue`` too, never a
bare ``TypeError``.

The limits are the services' own (``lendkit.services.common`` uses the same numbers).
"""

from __future__ import annotations

from datetime import date, datetime

from lendkit.core.errors import InvalidAmount, InvalidValue
from lendkit.core.money import Money

#: the largest amount lendkit accepts in one command, in major units (keeps sums in BigInteger)
MAX_AMOUNT = 10**13
#: ids are at most this long (lendkit's own are ``prefix_`` + 32 hex digits)
MAX_ID_LENGTH = 40
#: names (parties, guarantors, insurers) are at most this long
MAX_NAME_LENGTH = 200

__all__ = [
    "MAX_AMOUNT",
    "MAX_ID_LENGTH",
    "MAX_NAME_LENGTH",
    "check_bool",
    "check_choice",
    "check_date",
    "check_id",
    "check_int",
    "check_text",
    "parse_amount",
]


def _shown(value: object) -> str:
    return repr(value)[:50]


def parse_amount(
    value: object, currency: str, what: str = "amount", *, allow_zero: bool = False
) -> Money:
    """Money from user input: positive (or zero if allowed), below :data:`MAX_AMOUNT`.

    Floats are refused (``WrongType``, a ``TypeError`` and an ``InvalidValue``); a ``Money`` in
    another currency is a ``CurrencyMismatch``.
    """
    money = Money.of(value, currency, what=what)
    if money.is_negative() or (money.is_zero() and not allow_zero):
        allowed = "zero or more" if allow_zero else "more than zero"
        raise InvalidAmount(f"{what} {money.format()} is not allowed: it must be {allowed}")
    if money.amount >= MAX_AMOUNT:
        raise InvalidAmount(
            f"{what} {money.format()} is too large: at most {MAX_AMOUNT:,} {currency}"
        )
    return money


def _printable(text: str) -> bool:
    """No control characters (NUL included) and no lone surrogates (not encodable)."""
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_id(value: object, what: str) -> str:
    """A syntactically valid id: a printable string of 1..``MAX_ID_LENGTH`` characters.

    Whether it names something is for the lookup to say (``NotFound``).
    """
    if (
        not isinstance(value, str)
        or not value
        or len(value) > MAX_ID_LENGTH
        or value != value.strip()
        or not _printable(value)
    ):
        raise InvalidValue(
            f"{what} {_shown(value)} is not a valid id (a string of 1..{MAX_ID_LENGTH} printable"
            " characters)"
        )
    return value


def check_text(value: object, what: str, max_length: int = MAX_NAME_LENGTH) -> str:
    """A name or short text: a string, stripped, 1..``max_length`` printable characters."""
    if not isinstance(value, str):
        raise InvalidValue(f"{what} must be a string, got {type(value).__name__} {_shown(value)}")
    text = value.strip()
    if not text or len(text) > max_length or not _printable(text):
        raise InvalidValue(
            f"{what} {text[:40]!r} is not allowed: 1..{max_length} printable characters"
        )
    return text


def check_choice(value: object, what: str, allowed: tuple[str, ...]) -> str:
    """One of ``allowed`` (exactly)."""
    if not isinstance(value, str) or value not in allowed:
        raise InvalidValue(
            f"{what} {_shown(value)} is not allowed: choose one of {', '.join(allowed)}"
        )
    return value


def check_int(value: object, what: str, low: int, high: int) -> int:
    """A whole number (not a bool) between ``low`` and ``high`` inclusive."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidValue(
            f"{what} {_shown(value)} must be a whole number between {low} and {high}"
        )
    if not low <= value <= high:
        raise InvalidValue(f"{what} {value} is out of range: allowed {low}..{high}")
    return value


def check_bool(value: object, what: str) -> bool:
    """``True`` or ``False`` (not 0/1, not a string)."""
    if not isinstance(value, bool):
        raise InvalidValue(f"{what} {_shown(value)} must be True or False")
    return value


def check_date(value: object, what: str) -> date:
    """A ``datetime.date`` (not a ``datetime``, not a string)."""
    if not isinstance(value, date) or isinstance(value, datetime):
        raise InvalidValue(f"{what} {_shown(value)} must be a datetime.date")
    return value

"""Parsing what callers pass in: the bounds every command applies, core's and plugins' alike.

A plugin imports only ``lendkit`` and ``lendkit.core``, so the checks that core's services and
plugins' public functions both need live here: amounts (positive, within :data:`MAX_AMOUNT` so
sums stay in a BigInteger column), ids (short strings), names and free text (printable, UTF-8
encodable, bounded), choices, whole numbers, booleans and calendar days. Each refusal is an
``InvalidValue`` (``InvalidAmount`` for money) naming the value and what is allowed; a wrong type
(a list where a string is expected) is an ``InvalidValue`` too, never a bare ``TypeError``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from lendkit.core.errors import InvalidAmount, InvalidValue
from lendkit.core.money import Money

#: the largest amount lendkit accepts in one command, in major units (keeps sums in BigInteger)
MAX_AMOUNT = 10**13
#: ids are at most this long (lendkit's own are ``prefix_`` + 32 hex digits)
MAX_ID_LENGTH = 40
#: names (parties, guarantors, insurers) are at most this long
MAX_NAME_LENGTH = 200
#: free text (reasons, notes, check details)
MAX_TEXT_LENGTH = 400
#: a reviewer's name (the size of the columns that keep it)
MAX_REVIEWER_LENGTH = 100

__all__ = [
    "MAX_AMOUNT",
    "MAX_ID_LENGTH",
    "MAX_NAME_LENGTH",
    "MAX_REVIEWER_LENGTH",
    "MAX_TEXT_LENGTH",
    "check_bool",
    "check_choice",
    "check_date",
    "check_datetime",
    "check_id",
    "check_int",
    "check_text",
    "parse_amount",
    "text_problem",
]


def parse_amount(
    value: object, currency: str, what: str = "amount", *, allow_zero: bool = False
) -> Money:
    """Money from user input: positive (or zero if allowed), within ``MAX_AMOUNT``."""
    money = Money.of(value, currency, what=what)
    if money.is_negative() or (money.is_zero() and not allow_zero):
        allowed = "zero or more" if allow_zero else "more than zero"
        raise InvalidAmount(f"{what} {money.format()} is not allowed: it must be {allowed}")
    if money.amount >= MAX_AMOUNT:
        raise InvalidAmount(
            f"{what} {money.format()} is too large: at most {MAX_AMOUNT:,} {currency}"
        )
    return money


def text_problem(text: str, *, multiline: bool = False) -> str | None:
    """What makes ``text`` unstorable or unprintable, or None if it is fine.

    Refused: NUL (PostgreSQL cannot store it), other control characters (tab and line breaks
    are allowed in ``multiline`` free text) and surrogate code points (they cannot be encoded
    as UTF-8, so neither database can store them).
    """
    for c in text:
        o = ord(c)
        if 0xD800 <= o <= 0xDFFF:
            return f"it contains a lone surrogate (U+{o:04X})"
        if o < 32 or 127 <= o < 160:
            if multiline and c in "\t\n\r":
                continue
            kind = "a NUL character" if o == 0 else "a control character"
            return f"it contains {kind} (U+{o:04X})"
    return None


def check_text(
    value: object,
    what: str,
    max_length: int = MAX_TEXT_LENGTH,
    *,
    allow_empty: bool = False,
    multiline: bool = False,
) -> str:
    """A string from user input (a name, a reason, a note): printable, UTF-8 encodable, bounded.

    Leading and trailing whitespace is stripped. Every string a service stores or looks up goes
    through this (ids through :func:`check_id`, idempotency keys through ``uow.check_key``), so
    a NUL or a lone surrogate is an ``InvalidValue`` naming the field, never a driver error.
    """
    lines = (
        "printable characters (tab and line breaks allowed)"
        if multiline
        else "printable characters"
    )
    allowed = f"{0 if allow_empty else 1}..{max_length} {lines}"
    if not isinstance(value, str):
        raise InvalidValue(f"{what} must be a string of {allowed}, got {type(value).__name__}")
    text = value.strip()
    problem: str | None
    if len(text) > max_length:
        problem = f"it is {len(text):,} characters long"
    elif not text and not allow_empty:
        problem = "it is empty"
    else:
        problem = text_problem(text, multiline=multiline)
    if problem:
        raise InvalidValue(f"{what} {_shown(value)} is not allowed: {problem}; use {allowed}")
    return text


def check_id(value: object, what: str) -> str:
    """A syntactically valid id (string, short, printable); existence is checked by the lookup."""
    allowed = f"a string of 1..{MAX_ID_LENGTH} printable characters"
    if not isinstance(value, str) or not value or len(value) > MAX_ID_LENGTH:
        raise InvalidValue(f"{what} {_shown(value)} is not a valid id ({allowed})")
    problem = text_problem(value)
    if problem is None and value != value.strip():
        problem = "it has leading or trailing spaces"
    if problem:
        raise InvalidValue(f"{what} {_shown(value)} is not a valid id: {problem}; use {allowed}")
    return value


def _shown(value: object) -> str:
    """``value`` for an error message: its repr (escapes NUL and surrogates), cut short."""
    shown = repr(value)
    return shown if len(shown) <= 50 else shown[:47] + "..."


def check_datetime(value: object, what: str) -> datetime:
    """A moment: an aware ``datetime``, or a ``date`` (its midnight, UTC); a naive datetime is
    refused (which zone it means is unknown)."""
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise InvalidValue(
                f"{what} {_shown(value)} has no time zone: give an aware datetime, e.g."
                " datetime(2027, 1, 5, tzinfo=UTC), or a date"
            )
        return value
    if isinstance(value, date):
        return datetime.combine(value, time(0), tzinfo=UTC)
    raise InvalidValue(
        f"{what} {_shown(value)} must be a datetime (aware) or a date, not {type(value).__name__}"
    )


def check_date(value: object, what: str) -> date:
    """A calendar day: a ``datetime.date`` (not a ``datetime``, not text) before 9999-12-31.

    The last representable day is refused because a day's business ends at the next midnight,
    which ``datetime`` cannot represent after it.
    """
    if not isinstance(value, date) or isinstance(value, datetime):
        kind = "a datetime" if isinstance(value, datetime) else type(value).__name__
        raise InvalidValue(
            f"{what} {_shown(value)} must be a datetime.date (got {kind}), e.g. date(2027, 1, 5)"
        )
    if value >= date.max:
        raise InvalidValue(
            f"{what} {value} is out of range: allowed up to {date.max - timedelta(days=1)}"
        )
    return value


def check_int(value: object, what: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidValue(f"{what} {value!r} must be a whole number between {low} and {high}")
    if not low <= value <= high:
        raise InvalidValue(f"{what} {value} is out of range: allowed {low}..{high}")
    return value


def check_choice(value: object, what: str, allowed: tuple[str, ...]) -> str:
    """One of ``allowed`` (exact string match)."""
    if not isinstance(value, str) or value not in allowed:
        raise InvalidValue(
            f"{what} {str(value)[:50]!r} is not allowed: choose one of {', '.join(allowed)}"
        )
    return value


def check_bool(value: object, what: str) -> bool:
    """``True`` or ``False`` (not 0/1, not a string)."""
    if not isinstance(value, bool):
        raise InvalidValue(f"{what} {_shown(value)} must be True or False")
    return value

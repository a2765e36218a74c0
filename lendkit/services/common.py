"""Small helpers shared by services: ids, input parsing, row lookups."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Connection, Table, select

from lendkit.core.errors import InvalidAmount, InvalidValue, NotFound
from lendkit.core.money import Money

#: the largest amount lendkit accepts in one command, in major units (keeps sums in BigInteger)
MAX_AMOUNT = 10**13
MAX_ID_LENGTH = 40
MAX_NAME_LENGTH = 200


def new_id(prefix: str) -> str:
    """A fresh id such as ``lst_9f2c...`` (prefix tells what it names)."""
    return f"{prefix}_{uuid.uuid4().hex}"


def parse_amount(
    value: object, currency: str, what: str = "amount", *, allow_zero: bool = False
) -> Money:
    """Money from user input: positive (or zero if allowed), within ``MAX_AMOUNT``."""
    money = Money.of(value, currency)
    if money.is_negative() or (money.is_zero() and not allow_zero):
        allowed = "zero or more" if allow_zero else "more than zero"
        raise InvalidAmount(f"{what} {money.format()} is not allowed: it must be {allowed}")
    if money.amount >= MAX_AMOUNT:
        raise InvalidAmount(
            f"{what} {money.format()} is too large: at most {MAX_AMOUNT:,} {currency}"
        )
    return money


def check_id(value: object, what: str) -> str:
    """A syntactically valid id (string, short); existence is checked by the lookup."""
    if not isinstance(value, str) or not value or len(value) > MAX_ID_LENGTH:
        shown = repr(value)[:50]
        raise InvalidValue(
            f"{what} {shown} is not a valid id (a string of 1..{MAX_ID_LENGTH} chars)"
        )
    return value


def check_int(value: object, what: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidValue(f"{what} {value!r} must be a whole number between {low} and {high}")
    if not low <= value <= high:
        raise InvalidValue(f"{what} {value} is out of range: allowed {low}..{high}")
    return value


def check_choice(value: object, what: str, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise InvalidValue(
            f"{what} {str(value)[:50]!r} is not allowed: choose one of {', '.join(allowed)}"
        )
    return value


def get_row(conn: Connection, table: Table, row_id: str, what: str, *, lock: bool = False) -> Any:
    """The row with primary key ``id``; ``NotFound`` naming it otherwise."""
    stmt = select(table).where(table.c.id == row_id)
    if lock and conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    row = conn.execute(stmt).first()
    if row is None:
        raise NotFound(f"{what} {row_id!r} does not exist")
    return row

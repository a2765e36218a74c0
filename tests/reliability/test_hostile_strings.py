"""NUL, control characters and lone surrogates in any string a service takes (issue 10.13).

Every public method of every service is found by introspection; each parameter that takes a string
(ids, idempotency keys, names, choices, free text, amounts and rates given as text) gets each bad
string, alone and appended to a valid value. Each call must be refused with ``InvalidValue`` whose
message names the field and is itself printable, never a ``UnicodeEncodeError`` or a driver
``DataError``, and the database must be unchanged -- on SQLite and PostgreSQL.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest

import lendkit
from lendkit.core.errors import InvalidValue
from tests.conftest import dump
from tests.conftest import party as _party

BAD = ["\x00", "\ud800", "\x1b"]

#: the services and their public methods, found by introspection (a new one is tested too)
SERVICES = ("parties", "custody", "listings", "bidding", "loans", "cob", "reports", "staff")

#: what each parameter's refusal must name (a word of the field's description)
FIELD = {
    "actor": "actor",
    "subject": "audit subject",
    "action": "audit action",
    "outcome": "audit outcome",
    "staff_id": "staff member",
    "roles": "role",
    "party_id": "party",
    "investor_id": "investor",
    "borrower_id": "borrower",
    "listing_id": "listing",
    "loan_id": "loan",
    "hold_id": "hold",
    "movement_id": "movement",
    "rule_id": "rule",
    "key": "idempotency key",
    "name": "name",
    "kind": "kind",
    "check": "check",
    "state": "state",
    "detail": "detail",
    "agency": "agency",
    "grade": "grade",
    "grades": "grades",
    "reason": "reason",
    "reviewer": "reviewer",
    "method": "method",
    "bidding": "bidding",
    "product": "product",
    "clearing": "clearing",
    "mode": "mode",
    "amount": "",  # each method names its amount: "deposit amount", "repayment", ...
    "annual_rate": "rate",
    "max_rate": "rate",
    "min_rate": "rate",
    "rate": "rate",
    "min_bid": "minimum bid",
    "max_bid": "maximum bid",
    "keep_balance": "balance to keep",
    "shard": "shard",
    "payer": "payer",
    "interest": "interest",
    "after": "page cursor",
    "bucket": "bucket",
    "as_of": "status date",
    "on": "payoff date",
    "since": "history since",
    "until": "history until",
}


def _takes_text(annotation: object) -> str | None:
    """``"str"`` for a parameter that takes a string, ``"list"`` for a list of strings."""
    members = [m.strip() for m in str(annotation).split("|")]
    if "str" in members or "object" in members:
        return "str"
    if any(m in ("list[str]", "tuple[str, ...]") for m in members):
        return "list"
    return None


def _valid_arguments(p: lendkit.Platform) -> dict[str, Any]:
    """A world in which every method has a valid value for each argument."""
    b, i = _party(p, "borrower"), _party(p, "investor", "300")
    listing = p.listings.apply(b, amount="100", annual_rate="12%", months=1)
    p.listings.approve(listing.id)
    p.listings.publish(listing.id)
    p.bidding.bid(listing.id, i, "100")
    loan = p.loans.disburse(listing.id)
    hold = p.custody.operator_freeze(i, "10", "court order")
    movement = p.custody.withdraw(i, "10")
    rule = p.bidding.add_rule(i, "10")
    p.staff.add("s1", "Staff One", ["reviewer"])
    return {
        "actor": "system",
        "subject": "party:x",
        "action": "parties.register",
        "outcome": "ok",
        "staff_id": "s1",
        "roles": "reviewer",
        "active": True,
        "party_id": i,
        "investor_id": i,
        "borrower_id": b,
        "listing_id": listing.id,
        "loan_id": loan.id,
        "hold_id": hold.id,
        "movement_id": movement.id,
        "rule_id": rule.id,
        "name": "a name",
        "kind": "person",
        "check": "email",
        "state": "verified",
        "detail": "a note",
        "agency": "an agency",
        "grade": "A",
        "grades": ["A"],
        "reason": "a reason",
        "reviewer": "ops",
        "method": "equal-installment",
        "bidding": "fixed",
        "product": "online",
        "clearing": "own",
        "mode": "shorten",
        "amount": "1",
        "annual_rate": "12%",
        "min_rate": "0",
        "max_rate": "1",
        "rate": "12%",
        "min_bid": "1",
        "max_bid": "1",
        "keep_balance": "0",
        "shard": "1/1",
        "key": "a-key",
        "payer": b,
        "interest": "accrued",
        "answers": [1, 2],
        "run_date": date(2026, 1, 1),
        "day": date(2026, 1, 1),
        "statement": [],
        "after": "a-cursor",
        "bucket": "M1",
        "as_of": date(2026, 1, 1),
        "on": date(2026, 1, 1),
        "since": date(2026, 1, 1),
        "until": date(2026, 1, 1),
    }


def _string_parameters(p: lendkit.Platform) -> list[tuple[str, str, str, Callable[..., Any], str]]:
    """(service, method, parameter, bound method, "str"|"list") for every string parameter."""
    found = []
    for service_name in SERVICES:
        service = getattr(p, service_name)
        for name, fn in inspect.getmembers(type(service), inspect.isfunction):
            if name.startswith("_"):
                continue
            for param in list(inspect.signature(fn).parameters.values())[1:]:
                kind = _takes_text(param.annotation)
                if kind:
                    found.append((service_name, name, param.name, getattr(service, name), kind))
    return found


@pytest.mark.parametrize("bad", BAD, ids=["nul", "surrogate", "escape"])
def test_bad_characters_in_any_string_argument_are_invalid_value_and_change_nothing(
    platform: lendkit.Platform, db_url: str, bad: str
) -> None:
    p = platform
    valid = _valid_arguments(p)
    params = _string_parameters(p)
    assert len(params) > 50  # the introspection found the services' methods
    before = dump(db_url)
    wrong: list[str] = []
    for service, method, name, call, kind in params:
        sig = inspect.signature(call)
        base = {
            n: valid[n]
            for n, prm in sig.parameters.items()
            if prm.default is inspect.Parameter.empty and prm.kind is not prm.VAR_KEYWORD
        }
        good = valid[name]
        # the bad string alone, and after a valid value (a real id, a valid name or amount)
        values: list[Any] = [bad, f"{good}{bad}"] if kind == "str" else [[bad], [*good, bad]]
        for value in values:
            where = f"{service}.{method}({name}={value!r})"
            try:
                call(**{**base, name: value})
            except InvalidValue as exc:
                message = str(exc)
                message.encode("utf-8")  # printable: no surrogate, no NUL in the message
                if "\x00" in message or "\x1b" in message:
                    wrong.append(f"{where}: message carries the raw character: {message!r}")
                elif FIELD[name].lower() not in message.lower():
                    wrong.append(f"{where}: message does not name {FIELD[name]!r}: {message}")
            except Exception as exc:  # list every kind of failure, not only the first
                wrong.append(f"{where}: {type(exc).__name__}: {str(exc)[:120]!r}")
            else:
                wrong.append(f"{where}: accepted")
    assert wrong == [], "\n".join(wrong)
    assert dump(db_url) == before

"""Every public function of the bills plugin refuses hostile input (the reliability suite's
HOSTILE values, floats and a 10 kB string included) with a ``LendkitError`` and changes nothing,
plugin tables included. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import lendkit
from lendkit.plugins import bills
from tests.conftest import party
from tests.plugins.bills.test_bills import MATURITY, START, everything, new_bill, open_platform
from tests.reliability.test_commands import HOSTILE

TEXT = {repr(v) for v in HOSTILE if isinstance(v, str) and 0 < len(v) < 100}
NUMBERS = {"'0'", "'-1'", "'1e-30'", "'1e400'", "'NaN'", "'Infinity'", "'-Infinity'"}
NONE = {"None"}


def test_hostile_input_is_refused_and_changes_nothing(
    make_platform: Callable[..., lendkit.Platform],
) -> None:
    p = open_platform(make_platform)
    d, a = party(p, "drawer"), party(p, "bank")
    b = new_bill(p, d, a).id

    def reg(field: str) -> Callable[[Any], Any]:
        """register_bill with the hostile value in ``field`` and valid values elsewhere."""

        def call(v: Any) -> Any:
            args: dict[str, Any] = {
                "number": "H1",
                "face": "1",
                "drawer_id": d,
                "acceptor_id": a,
                "issue_date": START,
                "maturity": MATURITY,
            }
            return bills.register_bill(p, **{**args, field: v})

        return call

    calls: list[tuple[str, Callable[[Any], Any], set[str]]] = [
        ("register number", reg("number"), NUMBERS),
        ("register face", reg("face"), set()),
        ("register drawer", reg("drawer_id"), set()),
        ("register acceptor", reg("acceptor_id"), set()),
        ("register issue date", reg("issue_date"), set()),
        ("register maturity", reg("maturity"), set()),
        ("register endorsements", reg("endorsements"), {"[]"}),
        ("register penalty rate", reg("penalty_rate"), NONE | {"'0'", "'1e-30'"}),
        ("register key", reg("key"), TEXT | NONE),
        ("verify id", lambda v: bills.verify_bill(p, v, staff="s"), set()),
        ("verify staff", lambda v: bills.verify_bill(p, b, staff=v), TEXT),
        ("mark_pledged id", lambda v: bills.mark_pledged(p, v, "x"), set()),
        ("mark_pledged pledgee", lambda v: bills.mark_pledged(p, b, v), TEXT),
        ("quote id", lambda v: bills.quote(p, v, "3%"), set()),
        ("quote rate", lambda v: bills.quote(p, b, v), {"'1e-30'"}),
        ("quote on", lambda v: bills.quote(p, b, "3%", v), NONE),
        ("apply id", lambda v: bills.apply_with_bill(p, v, "3%"), set()),
        ("apply rate", lambda v: bills.apply_with_bill(p, b, v), {"'1e-30'"}),
        ("apply window", lambda v: bills.apply_with_bill(p, b, "3%", window_days=v), set()),
        ("apply min_bid", lambda v: bills.apply_with_bill(p, b, "3%", min_bid=v), NONE),
        ("apply max_bid", lambda v: bills.apply_with_bill(p, b, "3%", max_bid=v), NONE),
        ("apply key", lambda v: bills.apply_with_bill(p, b, "3%", key=v), TEXT | NONE),
        ("get_bill", lambda v: bills.get_bill(p, v), set()),
        ("recourse_payments", lambda v: bills.recourse_payments(p, v), set()),
    ]
    before = everything(p)
    for name, call, valid in calls:
        for value in HOSTILE:
            if repr(value) in valid:
                continue
            try:
                call(value)
            except lendkit.LendkitError:
                continue
            except Exception as exc:  # pragma: no cover - the failure's message
                raise AssertionError(f"{name}({value!r}) raised {exc!r}") from exc
            raise AssertionError(f"{name}({value!r}) was accepted")
    assert everything(p) == before
    assert p.verify().ok

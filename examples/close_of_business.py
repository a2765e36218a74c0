"""Close of business (日终) every day for a month: collections, overdue, penalties, collection stages.

Two loans are disbursed on 2026-01-05 with a fixed clock. Through February, each evening's
``platform.cob.run(day)`` collects installments due that day from borrowers' available balances,
marks unpaid ones overdue after the grace days (penalty interest accrues), and lets plugins act:
the ``online`` plugin records collection stages (SMS from day 1 overdue, a phone call from day 8).
Acme deposits its installment two days early and is collected on the due date; Lotus does not pay
and goes overdue. Rerunning a finished date changes nothing.

Run: ``python examples/close_of_business.py [DB]`` (a SQLite file path or a database URL;
default: a file in a temporary folder).
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import lendkit
from lendkit.plugins.online import collection_history


class Clock:
    """The platform's clock, moved forward by the script."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def at(self, day: date, hour: int) -> None:
        self.now = datetime.combine(day, time(hour), tzinfo=UTC)


@contextmanager
def database(arg: str | None) -> Iterator[str]:
    """The URL to use: the argument (a URL or a SQLite file path), else a temporary file."""
    if arg and "://" in arg:
        yield arg
    elif arg:
        yield f"sqlite:///{Path(arg).resolve()}"
    else:
        with tempfile.TemporaryDirectory(prefix="lendkit-example-") as tmp:
            yield f"sqlite:///{Path(tmp) / 'close_of_business.db'}"


def party(p: lendkit.Platform, name: str, deposit: str = "0", kind: str = "person") -> str:
    """Register and verify a party; deposit into its custody account."""
    party_id = p.parties.register(name, kind).id
    p.parties.verify(party_id)
    if deposit != "0":
        p.custody.deposit(party_id, deposit)
    return party_id


def disbursed_loan(p: lendkit.Platform, borrower: str, investors: list[str], amount: str) -> str:
    listing = p.listings.apply(borrower, amount, annual_rate="12%", months=6)
    p.listings.approve(listing.id, grade="A", reviewer="risk desk")
    p.listings.publish(listing.id)
    shares = lendkit.allocate(listing.amount, [1] * len(investors))  # equal, to the cent
    for investor, share in zip(investors, shares, strict=True):
        p.bidding.bid(listing.id, investor, share)
    return p.loans.disburse(listing.id, reviewer="ops").id


def run(url: str) -> None:
    clock = Clock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    with lendkit.Platform.open(url, plugins=["online"], clock=clock) as p:
        investors = [party(p, "Wang Fang", "30000"), party(p, "Emily Carter", "30000")]
        acme = party(p, "Acme Trading Co.", kind="enterprise")
        lotus = party(p, "Lotus Tea House", kind="enterprise")
        loans = {
            "Acme": disbursed_loan(p, acme, investors, "24000"),
            "Lotus": disbursed_loan(p, lotus, investors, "18000"),
        }
        # the proceeds are spent: the borrowers' accounts start the month empty
        for borrower in (acme, lotus):
            p.custody.withdraw(borrower, p.custody.balance(borrower).available)
        due = p.loans.schedule(loans["Acme"]).installments[0]
        print(f"2026-01-05: two 6-month loans disbursed; first installments due {due.due_date}")

        day, runs, totals = date(2026, 2, 1), 0, {"collected": 0, "overdue": 0}
        before = {name: p.loans.get(loan_id).state for name, loan_id in loans.items()}
        while day <= date(2026, 2, 28):
            clock.at(day, 9)
            if day == due.due_date - timedelta(days=2):
                p.custody.deposit(acme, due.payment, key="acme-installment-1")
                print(f"{day}: Acme deposits {due.payment} for its installment")
            clock.at(day, 20)
            result = p.cob.run(day)
            runs += 1
            totals["collected"] += result.collected
            totals["overdue"] += result.overdue
            states = {name: p.loans.get(loan_id).state for name, loan_id in loans.items()}
            if result.collected or states != before:
                print(
                    f"{day}: COB collected {result.collected} installment(s),"
                    f" {result.overdue} overdue; loans {states}"
                )
            before = states
            day += timedelta(days=1)
        print(
            f"{runs} COB runs in February: {totals['collected']} installment(s) collected,"
            f" {totals['overdue']} loan-days overdue"
        )

        again = p.cob.run(date(2026, 2, 28))
        print(f"COB 2026-02-28 again: already done = {again.already_done}")
        for stage in collection_history(p, loans["Lotus"]):
            print(
                f"Lotus installment {stage.period}: {stage.stage} on {stage.recorded_on}"
                f" ({stage.days_overdue} days overdue)"
            )
        for investor, name in zip(investors, ("Wang Fang", "Emily Carter"), strict=True):
            position = p.loans.position(loans["Acme"], investor)
            print(
                f"{name} received {position.received_principal} principal and"
                f" {position.received_interest} interest from Acme"
            )
        report = p.verify()
        print(f"ledger verified: {report.ok} ({report.entries} journal entries)")
        if not report.ok:
            raise SystemExit("; ".join(report.problems))


def main(argv: list[str]) -> int:
    with database(argv[0] if argv else None) as url:
        run(url)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""A fixed-rate listing and an auction listing, from application to disbursement.

Fixed rate: the borrower asks for 30000.00 at 10 % over 12 months; three investors bid and the
last bid, crossing the target, is trimmed to what remained; the listing is full (满标) and the
reviewer disburses it (放款). Auction: the borrower asks for 20000.00 at most 14 %; investors bid
amounts at rates of their choosing; closing fills the lowest rates first, the marginal bid only
partly, and returns the rest of the losers' money; the loan's rate is the fills' weighted rate.

Run: ``python examples/listings.py [DB]`` (a SQLite file path or a database URL; default: a file
in a temporary folder).
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import lendkit


@contextmanager
def database(arg: str | None) -> Iterator[str]:
    """The URL to use: the argument (a URL or a SQLite file path), else a temporary file."""
    if arg and "://" in arg:
        yield arg
    elif arg:
        yield f"sqlite:///{Path(arg).resolve()}"
    else:
        with tempfile.TemporaryDirectory(prefix="lendkit-example-") as tmp:
            yield f"sqlite:///{Path(tmp) / 'listings.db'}"


def party(p: lendkit.Platform, name: str, deposit: str = "0", kind: str = "person") -> str:
    """Register and verify a party; deposit into its custody account."""
    party_id = p.parties.register(name, kind).id
    p.parties.verify(party_id)
    if deposit != "0":
        p.custody.deposit(party_id, deposit)
    return party_id


def fixed_rate(p: lendkit.Platform, names: dict[str, str]) -> None:
    borrower = party(p, "Acme Trading Co.", kind="enterprise")
    listing = p.listings.apply(
        borrower, "30000.00", annual_rate="10%", months=12, method="equal-installment"
    )
    p.listings.approve(listing.id, grade="A", reviewer="risk desk")
    p.listings.publish(listing.id)
    print(f"fixed: Acme applied for {listing.amount} at 10% over 12 months; approved, published")
    for name, amount in (("Wang Fang", "12000"), ("Emily Carter", "10000"), ("Li Ming", "15000")):
        investor = party(p, name, deposit="20000")
        names[investor] = name
        bid = p.bidding.bid(listing.id, investor, amount, key=f"fixed-{name}")
        trimmed = f" (trimmed from {bid.requested})" if bid.amount != bid.requested else ""
        print(f"  {name} bids {bid.amount}{trimmed}")
    print(f"  listing is {p.listings.get(listing.id).state}")
    loan = p.loans.disburse(listing.id, reviewer="ops")
    balance = p.custody.balance(borrower).available
    first = p.loans.schedule(loan.id).installments[0]
    print(f"  disbursed: Acme received {balance} (principal less the service fee)")
    print(f"  first installment {first.payment} due {first.due_date} of 12")
    for position in loan.positions:
        print(f"  {names[position.investor_id]} lends {position.principal}")


def auction(p: lendkit.Platform, names: dict[str, str]) -> None:
    borrower = party(p, "Lotus Tea House", kind="enterprise")
    listing = p.listings.apply(
        borrower, "20000.00", months=6, bidding="auction", max_rate="14%", window_days=3
    )
    p.listings.approve(listing.id, grade="B", reviewer="risk desk")
    p.listings.publish(listing.id)
    print(f"auction: Lotus Tea House asks for {listing.amount}, at most 14% over 6 months")
    bids = (
        ("Oliver Brown", "8000", "11%"),
        ("Zhang Wei", "9000", "9.5%"),
        ("Chen Jing", "6000", "12.5%"),
        ("Sofia Rossi", "5000", "13.5%"),
    )
    for name, amount, rate in bids:
        investor = party(p, name, deposit="10000")
        names[investor] = name
        p.bidding.bid(listing.id, investor, amount, rate=rate, key=f"auction-{name}")
        print(f"  {name} bids {amount} at {rate}")
    closed = p.listings.close(listing.id)
    print(f"  closed: {closed.state}")
    for bid in p.bidding.bids(listing.id):
        rest = p.custody.balance(bid.investor_id)
        print(
            f"  {names[bid.investor_id]:<13} {bid.state:<5} {bid.amount} of {bid.requested}"
            f" at {bid.rate:.2%}; available again: {rest.available}"
        )
    loan = p.loans.disburse(listing.id, reviewer="ops")
    print(f"  disbursed at {loan.annual_rate:.4%} a year")


def run(url: str) -> None:
    with lendkit.Platform.open(url, plugins=["online"]) as p:
        names: dict[str, str] = {}
        fixed_rate(p, names)
        auction(p, names)
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

"""Auto-bid rules (自动投标): investors say what they lend on, publishing a listing bids for them.

Three investors save rules with ``platform.bidding.add_rule``: an amount per listing, a rate range,
a months range, the grades they accept and a balance to keep. When a listing is published, every
matching rule bids at once (oldest rule first), within what the investor can spare. A short,
well-rated listing attracts every rule; a long one only the rule that accepts it; a risky grade
none, and it waits for manual bids. A disabled rule bids no more.

Run: ``python examples/auto_bidding.py [DB]`` (a SQLite file path or a database URL; default: a
file in a temporary folder).
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
            yield f"sqlite:///{Path(tmp) / 'auto_bidding.db'}"


def party(p: lendkit.Platform, name: str, deposit: str = "0", kind: str = "person") -> str:
    """Register and verify a party; deposit into its custody account."""
    party_id = p.parties.register(name, kind).id
    p.parties.verify(party_id)
    if deposit != "0":
        p.custody.deposit(party_id, deposit)
    return party_id


def publish(
    p: lendkit.Platform, borrower: str, label: str, amount: str, months: int, grade: str, rate: str
) -> str:
    listing = p.listings.apply(borrower, amount, annual_rate=rate, months=months)
    p.listings.approve(listing.id, grade=grade, reviewer="risk desk")
    published = p.listings.publish(listing.id)  # matching rules bid here
    print(
        f"{label}: {amount} at {rate}, {months} months, grade {grade}:"
        f" {published.bid_count} auto-bids, {published.bid_total} of {published.amount},"
        f" {published.state}"
    )
    return listing.id


def run(url: str) -> None:
    with lendkit.Platform.open(url, plugins=["online"]) as p:
        names = {}
        rules = {}
        for name, deposit, rule in (
            ("Wang Fang", "20000", dict(amount="4000", min_rate="8%", max_months=12)),
            ("Emily Carter", "9000", dict(amount="5000", grades=["AA", "A"], keep_balance="3000")),
            ("Li Ming", "50000", dict(amount="6000", min_rate="9%", max_months=36)),
        ):
            investor = party(p, name, deposit)
            names[investor] = name
            rules[name] = p.bidding.add_rule(investor, **rule)
            print(f"{name} deposits {deposit} and saves a rule: {rule}")
        borrower = party(p, "Acme Trading Co.", kind="enterprise")

        first = publish(p, borrower, "listing 1", "15000", 6, "A", "10%")
        for bid in p.bidding.bids(first):
            print(f"  {names[bid.investor_id]} auto-bid {bid.amount}")
        publish(p, borrower, "listing 2", "10000", 24, "B", "11%")
        publish(p, borrower, "listing 3", "8000", 6, "HR", "7%")

        p.bidding.disable_rule(rules["Li Ming"].id)
        print("Li Ming disables his rule")
        last = publish(p, borrower, "listing 4", "5000", 3, "A", "9.5%")
        for bid in p.bidding.bids(last):
            print(f"  {names[bid.investor_id]} auto-bid {bid.amount}")
        print("  (Emily's rule keeps 3000 available, so it bid only the 1000 above that)")
        for investor, name in names.items():
            balance = p.custody.balance(investor)
            print(f"{name}: available {balance.available}, frozen in bids {balance.frozen}")
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

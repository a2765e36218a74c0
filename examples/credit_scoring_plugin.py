"""A custom credit-scoring plugin written inline, replacing lendkit's default scorecard.

``lendkit_assess_credit`` is a decision hook (``firstresult``): the first plugin to return a
:class:`lendkit.CreditAssessment` decides and lendkit's own scorecard only answers last. This
script's plugin is an object holding the integrator's own data (years trading, annual revenue,
late payments from its records); it scores the parties it knows and returns ``None`` for the
others, leaving them to lendkit's default. ``platform.parties.assess`` stores the grade and the
credit line, and a listing beyond the line is refused.

Run: ``python examples/credit_scoring_plugin.py [DB]`` (a SQLite file path or a database URL;
default: a file in a temporary folder).
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import lendkit
from lendkit import CreditAssessment, Money
from lendkit.core.context import HookContext


@dataclass(frozen=True)
class Record:
    """What the integrator knows about a borrower from its own systems."""

    years_trading: int
    annual_revenue: int
    late_payments: int


#: the lowest score of each grade, best first
GRADE_FLOORS = ((800, "AA"), (700, "A"), (600, "B"), (500, "C"), (400, "D"), (300, "E"), (0, "HR"))


class AcmeScorecard:
    """A lendkit plugin: an object whose ``@lendkit.hookimpl`` methods implement hooks."""

    #: the name the platform registers the plugin under (``platform.pm.has_plugin(...)``)
    lendkit_plugin_name = "acme-scorecard"

    def __init__(self) -> None:
        self.records: dict[str, Record] = {}

    @lendkit.hookimpl
    def lendkit_assess_credit(
        self, ctx: HookContext, party_id: str, verified: Sequence[str], reports: Sequence[str]
    ) -> CreditAssessment | None:
        """Score from our records; ``None`` (not ours) lets lendkit's default scorecard decide."""
        record = self.records.get(party_id)
        if record is None:
            return None
        score = 400 + min(record.years_trading, 10) * 30 - record.late_payments * 80
        score += 200 if record.annual_revenue >= 1_000_000 else 50
        score += 50 * len(verified) // 4  # every identity check passed adds up to 50
        score = max(0, min(score, 1000))
        grade = next(g for floor, g in GRADE_FLOORS if score >= floor)
        line = min(record.annual_revenue // 10, 500_000) if score >= 500 else 0
        return CreditAssessment(score=score, grade=grade, credit_line=Money.of(line, ctx.currency))


@contextmanager
def database(arg: str | None) -> Iterator[str]:
    """The URL to use: the argument (a URL or a SQLite file path), else a temporary file."""
    if arg and "://" in arg:
        yield arg
    elif arg:
        yield f"sqlite:///{Path(arg).resolve()}"
    else:
        with tempfile.TemporaryDirectory(prefix="lendkit-example-") as tmp:
            yield f"sqlite:///{Path(tmp) / 'credit_scoring.db'}"


def run(url: str) -> None:
    scorecard = AcmeScorecard()
    with lendkit.Platform.open(url, plugins=["online", scorecard]) as p:
        print(f"plugins registered: {[name for name, _ in p.pm.list_name_plugin()]}")
        borrowers = {}
        for name, record in (
            (
                "Acme Trading Co.",
                Record(years_trading=12, annual_revenue=3_000_000, late_payments=0),
            ),
            ("Lotus Tea House", Record(years_trading=3, annual_revenue=400_000, late_payments=1)),
            ("Newcomer Ltd.", None),
        ):
            party_id = p.parties.register(name, "enterprise").id
            p.parties.verify(party_id)
            if record is not None:
                scorecard.records[party_id] = record
            borrowers[name] = party_id
            result = p.parties.assess(party_id)
            source = "our scorecard" if record is not None else "lendkit's default scorecard"
            print(
                f"{name}: score {result.score}, grade {result.grade},"
                f" credit line {result.credit_line} ({source})"
            )

        lotus = borrowers["Lotus Tea House"]
        try:
            p.listings.apply(lotus, "60000", annual_rate="12%", months=12)
        except lendkit.LimitExceeded as exc:
            print(f"Lotus applies for 60000: refused: {exc}")
        listing = p.listings.apply(lotus, "30000", annual_rate="12%", months=12)
        print(f"Lotus applies for 30000 within its line: {listing.state}")
        report = p.verify()
        print(f"ledger verified: {report.ok}")
        if not report.ok:
            raise SystemExit("; ".join(report.problems))


def main(argv: list[str]) -> int:
    with database(argv[0] if argv else None) as url:
        run(url)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

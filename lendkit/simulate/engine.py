"""The simulation engine: a synthetic platform driven month by month through the real engine.

Nothing here models money on the side: every deposit, bid, disbursement, repayment, cover,
recovery and withdrawal is a command of the :class:`lendkit.Platform` (its facades and the
plugins' public commands), and close of business runs every day. The engine only decides, with
``random.Random(seed)``, what the people on the platform do; it reads the outcome back through
the same public API. Amounts are integers of currency units or ``Money``; the only rates are
``Decimal``. Two runs with the same seed, size and scenario give the same output.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from attrs import define, field

from lendkit.core import states as S
from lendkit.core.errors import LendkitError
from lendkit.core.money import Money
from lendkit.core.yields import NoYield, xirr
from lendkit.platform import Platform
from lendkit.simulate.scenarios import Scenario

__all__ = [
    "ALL_PLUGINS",
    "RISK_PLUGINS",
    "Simulation",
    "SimulationClock",
    "SimulationSize",
    "open_simulation",
    "run_simulation",
    "simulation_config",
]

START = date(2027, 1, 1)
#: the risk plugins a simulation enables unless told otherwise (with ``online``)
RISK_PLUGINS = ("reserve", "guarantee", "insurance", "collateral", "supplychain")
ALL_PLUGINS = ("online", *RISK_PLUGINS)
GRADE_WEIGHTS = {"AA": 5, "A": 15, "B": 25, "C": 25, "D": 15, "E": 10, "HR": 5}
#: investors' appetites: the grades their auto-bid rules take
APPETITES = (("AA", "A", "B"), ("A", "B", "C", "D"), ("C", "D", "E", "HR"), tuple(GRADE_WEIGHTS))
PERCENTILES = (10, 25, 50, 75, 90)
HUNDRED = Decimal(100)


@define
class SimulationSize:
    """How big a run is: ``loans`` listings over ``months`` months (``quick``: 40 loans, 4 months)."""

    months: int
    loans: int

    @classmethod
    def quick(cls) -> SimulationSize:
        """The ``--quick`` size."""
        return cls(months=4, loans=40)


class SimulationClock:
    """The platform clock of a run: fixed, moved forward by the engine."""

    def __init__(self, start: date) -> None:
        self.now = datetime.combine(start, time(9), tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def at(self, day: date, hour: int) -> None:
        self.now = datetime.combine(day, time(hour), tzinfo=UTC)


def add_months(day: date, months: int) -> date:
    """``day`` moved ``months`` calendar months on (the day of month kept; all runs use the 1st)."""
    year, month = divmod(day.month - 1 + months, 12)
    return day.replace(year=day.year + year, month=month + 1)


def pct(part: Decimal, whole: Decimal) -> str:
    """``part / whole`` as a percentage with two places (``"0.00%"`` for an empty whole)."""
    if not whole:
        return "0.00%"
    return f"{(part * HUNDRED / whole).quantize(Decimal('0.01'), ROUND_HALF_UP)}%"


def rate_pct(rate: Decimal) -> str:
    """A rate as a percentage with two places."""
    return f"{(rate * HUNDRED).quantize(Decimal('0.01'), ROUND_HALF_UP)}%"


@define
class SimLoan:
    """What the engine knows of a loan it made."""

    loan_id: str
    label: str
    borrower: str
    grade: str
    product: str
    principal: int
    start: date
    dues: list[tuple[date, Money]]
    core: int | None = None  # index of its core enterprise (supplychain)
    policy: str | None = None  # insurance policy id
    guarantor: int | None = None
    stopped: int = 0  # month the borrower stopped paying (0: performing)
    owed_at_stop: Money | None = None
    recovered: bool = False
    prepaid: bool = False
    positions: dict[str, int] = field(factory=dict)  # investor -> principal lent (minor units)


@define
class Investor:
    """An investor of the run and what it brought, asked back, got back and still waits for
    (minor units)."""

    name: str
    party: str
    appetite: tuple[str, ...]
    deposited: int = 0  # minor units
    withdrawn: int = 0
    requested: int = 0
    queued: int = 0


class Simulation:
    """One run; :meth:`run` returns the result as plain JSON-ready data."""

    def __init__(
        self,
        platform: Platform,
        clock: SimulationClock,
        scenario: Scenario,
        size: SimulationSize,
        seed: int,
        plugins: Sequence[str],
    ) -> None:
        self.p = platform
        self.clock = clock
        self.scenario = scenario
        self.size = size
        self.seed = seed
        self.plugins = tuple(plugins)
        self.rng = random.Random(seed)
        self.cur = platform.config.currency
        self.zero = Money.zero(self.cur)
        self.loans: list[SimLoan] = []
        self.investors: list[Investor] = []
        self.guarantors: list[tuple[str, str]] = []  # (name, guarantor id)
        self.insurers: list[tuple[str, str]] = []
        self.cores: list[tuple[str, str, str]] = []  # (name, core enterprise id, party id)
        self.operator = ""
        self.months: list[dict[str, Any]] = []
        self.counts: dict[str, int] = {
            "listings": 0,
            "unfunded": 0,
            "guarantee_refused": 0,
            "stopped": 0,
            "prepaid": 0,
            "recoveries": 0,
            "collateral_sales": 0,
        }
        self.recovered_cash = 0
        self.dry_month: int | None = None
        self.month_events: dict[str, int] = {}

    # -- helpers ----------------------------------------------------------------------------------

    def money(self, units: int) -> Money:
        """``units`` whole currency units as ``Money``."""
        return Money.of(units, self.cur)

    def chance(self, rate: Decimal) -> bool:
        """A draw that is true with probability ``rate`` (exact: integers, no float)."""
        return Decimal(self.rng.randrange(1_000_000)) < rate * 1_000_000

    def party(self, name: str, kind: str = "person") -> str:
        """Register and verify a party; its id."""
        party = self.p.parties.register(name, kind).id
        self.p.parties.verify(party)
        return party

    def enabled(self, plugin: str) -> bool:
        """Whether ``plugin`` is enabled in this run."""
        return plugin in self.plugins

    @property
    def planned_volume(self) -> int:
        """What the planned loans lend in all, in currency units (20,000 each on average)."""
        return self.size.loans * 20_000

    # -- set-up -------------------------------------------------------------------------------------

    def setup(self) -> None:
        """Register the operator, guarantors, insurer, core enterprises and investors (with their
        deposits and auto-bid rules) and seed the reserve, as the enabled plugins allow."""
        p, rng = self.p, self.rng
        volume = self.planned_volume
        self.operator = self.party("Platform operator", "enterprise")
        if self.enabled("reserve"):
            from lendkit.plugins import reserve

            seed = int((self.scenario.reserve_seed_share * volume).to_integral_value(ROUND_HALF_UP))
            if seed > 0:
                p.custody.deposit(self.operator, seed)
                reserve.seed(p, seed, from_party=self.operator)
        if self.enabled("guarantee"):
            from lendkit.plugins import guarantee

            for name in ("Huatai Guarantee 华泰担保", "Pacific Credit Guarantee"):
                party = self.party(name, "enterprise")
                capital = max(10_000, volume // 60)  # cap 10x: about a sixth of the volume
                p.custody.deposit(party, capital * 2)
                g = guarantee.register_guarantor(
                    p, name, party, capital, cover="principal", liability="joint", after_days=30
                )
                guarantee.fund_deposit(p, g.id, capital)
                self.guarantors.append((name, g.id))
        if self.enabled("insurance"):
            from lendkit.plugins import insurance

            name = "PICC Credit Insurance"
            ins = insurance.register_insurer(p, name, capacity=volume)
            insurance.fund_insurer(p, ins.id, max(10_000, volume // 20))
            self.insurers.append((name, ins.id))
        if self.enabled("supplychain"):
            from lendkit.plugins import supplychain

            for name, industry in (
                ("Eastern Motors Group 东方汽车", "automotive"),
                ("Delta Electronics Works", "electronics"),
            ):
                party = self.party(name, "enterprise")
                ce = supplychain.register_core_enterprise(p, name, party, volume, industry)
                self.cores.append((name, ce.id, party))
        count = max(8, self.size.loans // 4)
        # one and a half months of lending to start with: most of the money is lent out soon,
        # and new deposits and repayments fund the months after
        per = max(10_000, volume * 3 // (2 * self.size.months * count))
        for k in range(count):
            investor = Investor(
                f"Investor {k + 1:03d}", self.party(f"Investor {k + 1:03d}"), APPETITES[k % 4]
            )
            amount = per // 2 + rng.randrange(per // 1000 + 1) * 1000
            self.deposit(investor, amount)
            p.bidding.add_rule(
                investor.party,
                rng.choice((5000, 8000, 10000)),
                min_months=1,
                max_months=36,
                grades=investor.appetite,
            )
            self.investors.append(investor)

    def deposit(self, investor: Investor, amount: int) -> None:
        """``investor`` brings ``amount`` (currency units) onto the platform."""
        self.p.custody.deposit(investor.party, amount)
        investor.deposited += self.money(amount).minor

    # -- one month ----------------------------------------------------------------------------------

    @staticmethod
    def months_first(month: int) -> date:
        """The first day of ``month`` of a run (months count from 1)."""
        return add_months(START, month - 1)

    def run(self, progress: Callable[[int], None] = lambda _: None) -> dict[str, Any]:
        """Set the platform up, run every month (``progress(month)`` after each) and return the
        result (the ``--json`` shape)."""
        self.clock.at(START, 9)
        self.setup()
        per_month = -(-self.size.loans // self.size.months)
        for month in range(1, self.size.months + 1):
            first = add_months(START, month - 1)
            self.clock.at(first, 9)
            self.month_events = dict.fromkeys(
                ("new_loans", "unfunded", "stopped", "prepaid", "recoveries"), 0
            )
            self.month_events["recovered"] = 0
            self.month_events["deposits"] = 0
            self.borrowers_act(month, first)
            self.investors_act(month)
            made = len(self.loans)
            for _ in range(min(per_month, self.size.loans - made)):
                self.new_listing(month, first)
            self.close_days(first, add_months(first, 1))
            self.months.append(self.month_figures(month, add_months(first, 1) - timedelta(days=1)))
            progress(month)
        return self.result()

    def close_days(self, first: date, end: date) -> None:
        """Close of business for every day from ``first`` to the day before ``end``."""
        day = first
        while day < end:
            self.clock.at(day, 20)
            self.p.cob.run(day)
            day += timedelta(days=1)

    def borrowers_act(self, month: int, first: date) -> None:
        """Each performing borrower pays this month's installments, prepays, or stops paying;
        defaulted loans may recover something."""
        end = add_months(first, 1)
        failing = self.scenario.core_enterprise_failure_month == month and self.cores
        for loan in self.loans:
            if loan.prepaid:
                continue
            if loan.stopped:
                self.maybe_recover(loan)
                continue
            if loan.dues[-1][0] < first:
                continue  # every installment fell due and was collected: settled
            if loan.core is not None:
                if failing and loan.core == 0:
                    self.stop(loan, month)
                    continue
            elif self.chance(self.scenario.default_rate(loan.grade, month)):
                self.stop(loan, month)
                continue
            elif self.chance(self.scenario.prepayment_rate) and self.prepay(loan):
                continue
            due = sum((amount for day, amount in loan.dues if first <= day < end), self.zero)
            if due.is_positive():
                payer = self.cores[loan.core][2] if loan.core is not None else loan.borrower
                self.p.custody.deposit(payer, due)

    def stop(self, loan: SimLoan, month: int) -> None:
        """The borrower of ``loan`` stops paying; what investors are owed now is remembered."""
        record = self.p.loans.get(loan.loan_id)
        loan.stopped = month
        loan.owed_at_stop = sum((pos.outstanding_principal for pos in record.positions), self.zero)
        self.counts["stopped"] += 1
        self.month_events["stopped"] += 1

    def prepay(self, loan: SimLoan) -> bool:
        """The borrower prepays ``loan`` in full (an installment due today first); ``False`` if
        the loan cannot be prepaid now."""
        record = self.p.loans.get(loan.loan_id)
        if record.state != S.ACTIVE:
            return False
        # an installment due today first, then principal, interest to date and the fee (a tenth
        # more than the principal covers them)
        today = self.clock.now.date()
        due_today = sum((amount for day, amount in loan.dues if day == today), self.zero)
        need = (
            due_today + record.outstanding_principal + record.outstanding_principal.multiply("0.1")
        )
        self.p.custody.deposit(loan.borrower, need)
        if due_today.is_positive():
            self.p.loans.repay(loan.loan_id)
        if self.p.loans.get(loan.loan_id).state == S.ACTIVE:
            self.p.loans.prepay(loan.loan_id)
        left = self.p.custody.balance(loan.borrower).available
        if left.is_positive():
            self.p.custody.withdraw(loan.borrower, left)
        loan.prepaid = True
        self.counts["prepaid"] += 1
        self.month_events["prepaid"] += 1
        return True

    def maybe_recover(self, loan: SimLoan) -> None:
        """Once per defaulted loan, with the scenario's recovery rate: a collateral sale for a
        secured loan, else the borrower pays ``recovery_share`` of what is outstanding."""
        if loan.recovered:
            return
        record = self.p.loans.get(loan.loan_id)
        if record.state != S.DEFAULTED or not self.chance(self.scenario.recovery_rate):
            return
        loan.recovered = True
        self.counts["recoveries"] += 1
        self.month_events["recoveries"] += 1
        outstanding = record.outstanding_principal
        if loan.product == "secured":
            from lendkit.plugins import collateral

            share = Decimal(self.rng.randrange(50, 91)) / HUNDRED
            proceeds = outstanding.multiply(share)
            costs = proceeds.multiply("0.02")
            collateral.record_sale(self.p, loan.loan_id, proceeds, costs)
            self.counts["collateral_sales"] += 1
            paid = proceeds - costs
        else:
            paid = outstanding.multiply(self.scenario.recovery_share)
            if not paid.is_positive():
                return
            self.p.custody.deposit(loan.borrower, paid)
            self.p.loans.repay(loan.loan_id, paid)
        left = self.p.custody.balance(loan.borrower).available
        if left.is_positive():  # a surplus stays the borrower's: it leaves the platform
            self.p.custody.withdraw(loan.borrower, left)
            paid -= left
        self.recovered_cash += paid.minor
        self.month_events["recovered"] += paid.minor

    def investors_act(self, month: int) -> None:
        """Investors bring new money (unless deposits stopped) and ask for withdrawals; what
        their available balance cannot pay now waits in the queue, paid first next month."""
        share = self.scenario.withdrawal_rate(month)
        for investor in self.investors:
            if self.scenario.deposits_open(month) and month > 1 and self.rng.randrange(10) < 3:
                amount = self.rng.randrange(5, 21) * 1000
                self.deposit(investor, amount)
                self.month_events["deposits"] += self.money(amount).minor
            ask = int((Decimal(investor.deposited) * share).to_integral_value(ROUND_HALF_UP))
            ask = min(ask, investor.deposited - investor.requested)
            if ask > 0:
                investor.requested += ask
                investor.queued += ask
            if investor.queued:
                available = self.p.custody.balance(investor.party).available.minor
                pay = min(available, investor.queued)
                if pay > 0:
                    self.p.custody.withdraw(investor.party, Money.from_minor(pay, self.cur))
                    investor.withdrawn += pay
                    investor.queued -= pay

    def new_listing(self, month: int, first: date) -> None:
        """One listing: drawn grade, product, amount and term; covered, approved, published
        (auto-bids), topped up and disbursed, or failed when investors cannot fund it."""
        p, rng = self.p, self.rng
        grades = list(GRADE_WEIGHTS)
        grade = rng.choices(grades, weights=[GRADE_WEIGHTS[g] for g in grades])[0]
        products = ["online"]
        if self.enabled("guarantee"):
            products.append("guaranteed")
        if self.enabled("insurance"):
            products.append("insured")
        if self.enabled("collateral"):
            products.append("secured")
        if self.enabled("supplychain"):
            products.append("supplychain")
        product = rng.choice(products)
        months = rng.choice((3, 6, 12))
        amount = rng.randrange(5, 36) * 1000
        rate = p.config.grade_rates[grade]
        label = f"L{len(self.loans) + self.counts['unfunded'] + 1:04d}"
        kind = "enterprise" if product in ("supplychain", "secured") else "person"
        borrower = self.party(f"Borrower {label}", kind)
        self.counts["listings"] += 1
        core = guarantor = None
        policy = None
        if product == "supplychain":
            from lendkit.plugins import supplychain

            months = rng.choice((3, 6))
            core = 0 if len(self.cores) == 1 else rng.randrange(len(self.cores))
            if self.scenario.core_enterprise_failure_month and month >= (
                self.scenario.core_enterprise_failure_month
            ):
                core = len(self.cores) - 1  # nobody finances a failed core enterprise's chain
            listing = p.listings.apply(
                borrower, amount, rate, months=months, product="supplychain", method="receivable"
            )
            due = first + timedelta(days=30 * months)
            face = amount * 5 // 4
            receivable = supplychain.submit_receivable(
                p, listing.id, borrower, self.cores[core][1], f"INV-{label}", face, due
            )
            supplychain.confirm_receivable(p, receivable.id, face, due)
        elif product == "secured":
            from lendkit.plugins import collateral

            listing = p.listings.apply(borrower, amount, rate, months=months, product="secured")
            asset = collateral.register_asset(
                p, "real_estate", f"PROPERTY-{label}", borrower, amount * 2, first
            )
            collateral.pledge(p, listing.id, asset.id)
        else:
            listing = p.listings.apply(borrower, amount, rate, months=months)
            if product == "guaranteed":
                from lendkit.plugins import guarantee

                guarantor = rng.randrange(len(self.guarantors))
                try:
                    guarantee.guarantee_listing(p, listing.id, self.guarantors[guarantor][1])
                except LendkitError:  # the leverage cap is full: the loan goes unguaranteed
                    self.counts["guarantee_refused"] += 1
                    guarantor = None
            elif product == "insured":
                from lendkit.plugins import insurance

                try:
                    policy = insurance.insure_loan(
                        p,
                        listing.id,
                        self.insurers[0][1],
                        "1.5%",
                        payer="borrower",
                        trigger_days=30,
                        cover_interest=False,
                    ).id
                except LendkitError:  # the insurer's capacity is full
                    policy = None
        p.listings.approve(listing.id, grade=grade, reviewer="risk desk")
        p.listings.publish(listing.id)  # auto-bid rules bid here
        remaining = p.listings.get(listing.id).remaining.minor
        order = self.rng.sample(self.investors, len(self.investors))
        for investor in order:
            if remaining <= 0:
                break
            if investor.queued:
                continue  # waiting for its own money back: it does not lend more
            step = self.money(1000).minor  # bids in whole thousands, at most 5000 each
            available = p.custody.balance(investor.party).available.minor // step * step
            take = min(remaining, available, 5 * step)
            if take > 0:
                p.bidding.bid(listing.id, investor.party, Money.from_minor(take, self.cur))
                remaining = p.listings.get(listing.id).remaining.minor
        if remaining > 0:
            p.listings.close(listing.id)  # not funded: it fails (流标), every hold goes back
            self.counts["unfunded"] += 1
            self.month_events["unfunded"] += 1
            return
        loan = p.loans.disburse(listing.id, reviewer="customer service")
        proceeds = p.custody.balance(borrower).available
        if proceeds.is_positive():
            p.custody.withdraw(borrower, proceeds)
        dues = [(i.due_date, i.payment) for i in p.loans.schedule(loan.id).installments]
        record = p.loans.get(loan.id)
        sim = SimLoan(
            loan.id,
            label,
            borrower,
            grade,
            "guaranteed" if guarantor is not None else product,
            loan.principal.minor,
            first,
            dues,
            core=core,
            policy=policy,
            guarantor=guarantor,
        )
        if product == "guaranteed" and guarantor is None:
            sim.product = "online"
        for pos in record.positions:
            sim.positions[pos.investor_id] = sim.positions.get(pos.investor_id, 0) + (
                pos.principal.minor
            )
        self.loans.append(sim)
        self.month_events["new_loans"] += 1

    # -- figures ------------------------------------------------------------------------------------

    def month_figures(self, month: int, last: date) -> dict[str, Any]:
        """The figures at the end of ``month`` (one entry of ``monthly``)."""
        p = self.p
        totals = p.reports.totals()
        out: dict[str, Any] = {
            "month": month,
            "date": last.isoformat(),
            "new_loans": self.month_events["new_loans"],
            "unfunded_listings": self.month_events["unfunded"],
            "borrowers_stopped": self.month_events["stopped"],
            "prepaid_loans": self.month_events["prepaid"],
            "recoveries": self.month_events["recoveries"],
            "recovered": Money.from_minor(self.month_events["recovered"], self.cur).format(),
            "new_deposits": Money.from_minor(self.month_events["deposits"], self.cur).format(),
            "volume": totals.volume.format(),
            "outstanding_principal": totals.outstanding_principal.format(),
            "overdue_principal": totals.overdue_principal.format(),
            "defaulted_principal": totals.defaulted_principal.format(),
            "overdue_rate": totals.overdue_rate,
            "bad_debt_rate": totals.bad_debt_rate,
            "revenue": totals.revenue.format(),
            "withdrawals_requested": Money.from_minor(
                sum(i.requested for i in self.investors), self.cur
            ).format(),
            "withdrawals_paid": Money.from_minor(
                sum(i.withdrawn for i in self.investors), self.cur
            ).format(),
            "pending_withdrawals": Money.from_minor(
                sum(i.queued for i in self.investors), self.cur
            ).format(),
            "investors_waiting": sum(1 for i in self.investors if i.queued),
        }
        if self.enabled("reserve"):
            from lendkit.plugins import reserve

            status = reserve.status(p)
            out["reserve"] = {
                "balance": status.balance.format(),
                "covered_outstanding": status.outstanding_principal.format(),
                "coverage_ratio": pct(status.balance.amount, status.outstanding_principal.amount),
                "paid": status.paid.format(),
                "queued_shortfall": status.queued_shortfall.format(),
                "queued_claims": status.queued_claims,
            }
            if self.dry_month is None and status.queued_shortfall.is_positive():
                self.dry_month = month
        if self.guarantors:
            from lendkit.plugins import guarantee

            rows = []
            for _name, guarantor_id in self.guarantors:  # in the run's order, not by id
                g = guarantee.get_guarantor(p, guarantor_id)
                exposure = g.outstanding + g.committed
                rows.append(
                    {
                        "name": g.name,
                        "exposure": exposure.format(),
                        "cap": g.cap.format(),
                        "leverage": str(g.leverage),
                        "utilisation": pct(exposure.amount, g.cap.amount),
                        "compensated": g.compensated.format(),
                    }
                )
            out["guarantors"] = rows
        if self.insurers:
            from lendkit.plugins import insurance

            paid = sum(
                (
                    insurance.get_policy(p, loan.policy).claims_paid
                    for loan in self.loans
                    if loan.policy is not None and loan.stopped
                ),
                self.zero,
            )
            rows = []
            for name, insurer_id in self.insurers:
                ins = insurance.get_insurer(p, insurer_id)
                rows.append(
                    {
                        "name": name,
                        "claims_paid": paid.format(),
                        "balance": ins.balance.format(),
                        "exposure": ins.exposure.format(),
                        "capacity": ins.capacity.format(),
                    }
                )
            out["insurers"] = rows
        return out

    def result(self) -> dict[str, Any]:
        """The whole run: the months, the defaults reconciled, losses, yields, the ledger check."""
        p = self.p
        end = add_months(START, self.size.months)
        covered = self.covered()
        stopped = [loan for loan in self.loans if loan.stopped]
        owed_at_stop = sum((loan.owed_at_stop or self.zero for loan in stopped), self.zero)
        lost_by_grade: dict[str, Money] = {}
        lost = self.zero
        for loan in stopped:
            record = p.loans.get(loan.loan_id)
            owed = sum((pos.outstanding_principal for pos in record.positions), self.zero)
            lost += owed
            lost_by_grade[loan.grade] = lost_by_grade.get(loan.grade, self.zero) + owed
        covered_total = sum(covered.values(), self.zero)
        recovered = owed_at_stop - lost - covered_total
        check = p.verify()
        return {
            "seed": self.seed,
            "months": self.size.months,
            "loans_planned": self.size.loans,
            "plugins": list(self.plugins),
            "currency": self.cur,
            "start": START.isoformat(),
            "end": end.isoformat(),
            "scenario": self.scenario.as_dict(),
            "counts": dict(self.counts, loans=len(self.loans), investors=len(self.investors)),
            "monthly": self.months,
            "reserve_dry_month": self.dry_month,
            "reserve_dry_date": None
            if self.dry_month is None
            else self.months[self.dry_month - 1]["date"],
            "defaults": {
                "loans": len(stopped),
                "principal_at_stop": owed_at_stop.format(),
                "covered": {k: v.format() for k, v in covered.items()},
                "covered_total": covered_total.format(),
                "recovered": recovered.format(),
                "lost": lost.format(),
                "recovered_cash": Money.from_minor(self.recovered_cash, self.cur).format(),
            },
            "investor_losses": {
                "total": lost.format(),
                "by_grade": {
                    g: lost_by_grade[g].format() for g in GRADE_WEIGHTS if g in lost_by_grade
                },
            },
            "yield_by_grade": self.yields(end),
            "ledger": {"ok": check.ok, "entries": check.entries, "accounts": check.accounts},
        }

    def covered(self) -> dict[str, Money]:
        """Principal third parties paid to investors of loans whose borrower stopped paying."""
        stopped = {loan.loan_id for loan in self.loans if loan.stopped}
        out: dict[str, Money] = {}
        if self.guarantors:
            from lendkit.plugins import guarantee

            out["guarantee"] = sum(
                (c.principal for c in guarantee.compensations(self.p) if c.loan_id in stopped),
                self.zero,
            )
        if self.insurers:
            from lendkit.plugins import insurance

            out["insurance"] = sum(
                (
                    insurance.get_policy(self.p, loan.policy).claims_paid
                    for loan in self.loans
                    if loan.policy is not None and loan.stopped
                ),
                self.zero,
            )
        if self.enabled("reserve"):
            from lendkit.plugins import reserve

            out["reserve"] = sum(
                (x.amount for x in reserve.payouts(self.p) if x.loan_id in stopped), self.zero
            )
        return out

    def yields(self, end: date) -> dict[str, Any]:
        """Each investor's realised XIRR per grade, and the percentiles over investors.

        Flows: the principal lent (out, on the disbursement date), every receipt of the position
        (in, on its date), and at the end the outstanding principal of loans still performing
        (at par; a loan whose borrower stopped paying counts for what it paid, nothing more).
        """
        p = self.p
        flows: dict[tuple[str, str], list[tuple[date, Money]]] = {}
        for loan in self.loans:
            record = p.loans.get(loan.loan_id) if not loan.stopped else None
            terminal: dict[str, Money] = {}
            if record is not None and record.state in S.OPEN_LOAN_STATES:
                for pos in record.positions:
                    terminal[pos.investor_id] = (
                        terminal.get(pos.investor_id, self.zero) + pos.outstanding_principal
                    )
            for investor, lent in loan.positions.items():
                cash = flows.setdefault((loan.grade, investor), [])
                cash.append((loan.start, -Money.from_minor(lent, self.cur)))
                for receipt in p.reports.position_history(loan.loan_id, investor):
                    cash.append((receipt.paid_on, receipt.amount))
                if terminal.get(investor, self.zero).is_positive():
                    cash.append((end, terminal[investor]))
        by_grade: dict[str, list[Decimal]] = {}
        for (grade, _investor), cash in sorted(flows.items()):
            try:
                rate = xirr(cash)
            except NoYield:
                rate = Decimal(-1)  # nothing came back: the whole stake is lost
            by_grade.setdefault(grade, []).append(rate)
        out: dict[str, Any] = {}
        for grade in GRADE_WEIGHTS:
            rates = sorted(by_grade.get(grade, []))
            if not rates:
                continue
            out[grade] = {
                "investors": len(rates),
                **{f"p{q}": rate_pct(percentile(rates, q)) for q in PERCENTILES},
            }
        return out


def percentile(ordered: Sequence[Decimal], q: int) -> Decimal:
    """The nearest-rank percentile ``q`` of an ascending list (exact: one of its values)."""
    rank = max(1, -(-q * len(ordered) // 100))
    return ordered[rank - 1]


def simulation_config(scenario: Scenario) -> dict[str, Any]:
    """The platform configuration of a run: COB rules short enough to see defaults in months."""
    settings: dict[str, Any] = {"after_days": 30, "pay_interest": False}
    if scenario.reserve_contribution is not None:
        settings["rates"] = dict.fromkeys(GRADE_WEIGHTS, str(scenario.reserve_contribution))
    return {
        "sqlite_synchronous": "NORMAL",
        "grace_days": 3,
        "default_after_days": 60,
        "cover_after_days": 1,
        "plugins": {"reserve": settings},
    }


@contextmanager
def open_simulation(
    url: str,
    scenario: Scenario,
    size: SimulationSize,
    seed: int,
    plugins: Sequence[str] = ALL_PLUGINS,
) -> Iterator[Simulation]:
    """Open the platform of a run on an empty database at ``url`` and yield its
    :class:`Simulation` (call ``run()``); the platform is closed afterwards.

    ``plugins``: ``online`` plus any of :data:`RISK_PLUGINS`; the waterfall is guarantee,
    insurance, then the reserve (which pays last, at the day's close).
    """
    chosen = list(dict.fromkeys(["online", *plugins]))
    config = simulation_config(scenario)
    config["waterfall"] = [w for w in ("guarantee", "insurance", "reserve") if w in chosen]
    clock = SimulationClock(START)
    platform = Platform.open(url, chosen, config=config, clock=clock)
    try:
        yield Simulation(platform, clock, scenario, size, seed, chosen)
    finally:
        platform.close()


def run_simulation(
    url: str,
    scenario: Scenario,
    size: SimulationSize,
    seed: int,
    plugins: Sequence[str] = ALL_PLUGINS,
    progress: Callable[[int], None] = lambda _: None,
) -> dict[str, Any]:
    """Run a simulation on an empty database at ``url``; the JSON-ready result (``--json``)."""
    with open_simulation(url, scenario, size, seed, plugins) as sim:
        return sim.run(progress)

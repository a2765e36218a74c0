"""``lendkit demo``: a year of a small lending platform, simulated day by day, then a report.

The story: two borrowers and six investors register and are verified, investors deposit; a fixed
rate listing fills (the last bid trimmed to what remained) and is disbursed; an auction clears at
the lowest rates and is disbursed; a third listing fails (流标) when its funding window closes
short and every hold is voided. Close of business then runs for every day of the year: the first
borrower deposits each installment before its due date and COB collects it; the second pays two
installments and stops, so its loan goes overdue, accrues penalty interest and defaults after
``default_after_days``. The report lists listings, investors' returns, platform fees and loan
states, and ends with the ledger check.

Deterministic: a fixed clock starting 2026-01-05 09:00 UTC and ``random.Random(seed)`` drive
everything, so two runs with the same seed print the identical report (names, never ids).
"""

from __future__ import annotations

import random
import shlex
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import click

from lendkit.cli.base import (
    database_option,
    db_url_from_environment,
    fail,
    given_actor,
    given_db_url,
    main,
)
from lendkit.cli.db import database_errors, display_url, sqlite_file, tool_engine
from lendkit.cli.report import render_table
from lendkit.core import states as S
from lendkit.core.access import Actor
from lendkit.core.money import Money, allocate
from lendkit.core.records import LoanRecord
from lendkit.core.servicing import MAX_PAGE
from lendkit.platform import Platform
from lendkit.store.schema import party_count

__all__ = ["DEMO_FILE", "DemoClock", "demo_command", "run_demo"]

DEMO_FILE = "lendkit-demo.db"
RISK_DESK = Actor.staff("risk-desk")
SERVICE_DESK = Actor.staff("service-desk")
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
DAYS = 366  # 2026-01-05 .. 2027-01-05: every due date of a 12-month loan started on day one

BORROWERS = (("Acme Trading Co.", "enterprise"), ("Lotus Tea House 莲心茶馆", "enterprise"))
INVESTORS = (
    "王芳 (Wang Fang)",
    "Emily Carter",
    "李明 (Li Ming)",
    "Oliver Brown",
    "张伟 (Zhang Wei)",
    "陈静 (Chen Jing)",
)
AUCTION_RATES = ("9.5%", "10%", "10.5%", "11%", "11.5%", "12%", "12.5%", "13%", "13.5%", "14%")


class DemoClock:
    """The demo's clock: fixed, moved forward by the simulation."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def at(self, day: date, hour: int) -> None:
        self.now = datetime.combine(day, time(hour), tzinfo=UTC)


def _pct(rate: object) -> str:
    """``Decimal("0.1145")`` -> ``"11.45%"`` (exact: no float on the way)."""
    return f"{(Decimal(str(rate)) * 100).quantize(Decimal('0.01'), ROUND_HALF_UP)}%"


class Demo:
    """One simulation run; ``lines`` is the report."""

    def __init__(
        self, platform: Platform, clock: DemoClock, seed: int, asset_backed: bool = False
    ) -> None:
        self.p = platform
        self.asset_backed = asset_backed
        self.asset_parties: dict[str, str] = {}  # role -> party id (--asset-backed)
        self.margin_id = ""  # margin account M1 (--asset-backed)
        self.core_enterprise = ""
        self.clock = clock
        self.rng = random.Random(seed)
        self.seed = seed
        self.names: dict[str, str] = {}
        self.events: list[tuple[date, str]] = []
        self.listings: list[tuple[str, str]] = []  # (label, listing id)
        self.loans: list[tuple[str, str]] = []  # (label, loan id)
        self.deposits: dict[str, Money] = {}
        self.planned: dict[date, list[tuple[str, Money, str]]] = {}  # day -> (party, amount, what)
        self.trimmed = ""
        self.auction_lines: list[str] = []
        self.failed_holds = 0

    @property
    def today(self) -> date:
        return self.clock.now.date()

    def event(self, text: str) -> None:
        self.events.append((self.today, text))

    def money(self, value: Money) -> str:
        return f"{value.format()} {value.currency}"

    # -- the story --------------------------------------------------------------------------------

    def register(self) -> tuple[str, str, list[str]]:
        p = self.p
        # two staff members: who approves a listing may not disburse it (four-eyes)
        p.staff.add(RISK_DESK.id, "Risk desk (风控)", ["reviewer"])
        p.staff.add(SERVICE_DESK.id, "Customer service (客服)", ["customer_service"])
        ids = []
        for name, kind in BORROWERS:
            party = p.parties.register(name, kind)
            p.parties.verify(party.id)
            self.names[party.id] = name
            ids.append(party.id)
        investors = []
        for name in INVESTORS:
            party = p.parties.register(name, "person")
            p.parties.verify(party.id)
            self.names[party.id] = name
            amount = Money.of(self.rng.randrange(100, 151) * 1000, p.config.currency)
            p.custody.deposit(party.id, amount)
            self.deposits[party.id] = amount
            investors.append(party.id)
        total = sum(self.deposits.values(), Money.zero(p.config.currency))
        self.event(
            f"registered and verified {len(BORROWERS)} borrowers and {len(INVESTORS)} investors;"
            f" investors deposited {self.money(total)}"
        )
        return ids[0], ids[1], investors

    def fixed_listing(self, acme: str, investors: list[str]) -> None:
        p = self.p
        listing = p.listings.apply(
            acme, "120000.00", annual_rate="10%", months=12, method="equal-installment"
        )
        p.listings.approve(
            listing.id, grade="A", annual_rate="10%", reviewer="risk desk", actor=RISK_DESK
        )
        p.listings.publish(listing.id)
        self.listings.append(("1", listing.id))
        order = self.rng.sample(investors, len(investors))
        count = 0
        while p.listings.get(listing.id).state == S.PUBLISHED:
            investor = order[count % len(order)]
            remaining = int(p.listings.get(listing.id).remaining.amount)
            amount = self.rng.randrange(30, 61) * 500
            if amount >= remaining:
                amount = remaining + self.rng.randrange(1, 11) * 500  # crosses the target
            bid = p.bidding.bid(listing.id, investor, str(amount))
            count += 1
            if bid.amount != bid.requested:
                self.trimmed = (
                    f"{self.names[investor]} bid {self.money(bid.requested)},"
                    f" trimmed to the {self.money(bid.amount)} that remained"
                )
        self.event(
            f"listing 1 (Acme, 120000.00, fixed 10%, grade A): {count} bids filled it (满标);"
            f" {self.trimmed}"
        )
        loan = p.loans.disburse(listing.id, reviewer="customer service", actor=SERVICE_DESK)
        self.loans.append(("1", loan.id))
        self._spend_proceeds(acme)
        self.event("listing 1 disbursed (放款); Acme received the principal less the service fee")
        sched = p.loans.schedule(loan.id)
        for inst in sched.installments:
            self._plan(inst.due_date - timedelta(days=2), acme, inst.payment, "installment")

    def auction_listing(self, lotus: str, investors: list[str]) -> str:
        p = self.p
        listing = p.listings.apply(
            lotus, "60000.00", months=12, bidding="auction", max_rate="14%", window_days=7
        )
        p.listings.approve(listing.id, grade="B", reviewer="risk desk", actor=RISK_DESK)
        p.listings.publish(listing.id)
        self.listings.append(("2", listing.id))
        for investor in self.rng.sample(investors, len(investors)):
            amount = self.rng.randrange(20, 41) * 500
            rate = self.rng.choice(AUCTION_RATES)
            p.bidding.bid(listing.id, investor, str(amount), rate=rate)
        self.event(
            f"listing 2 (Lotus Tea House, 60000.00, auction, max 14%, grade B): {len(investors)} bids"
        )
        return listing.id

    def failing_listing(self, acme: str, investors: list[str]) -> None:
        p = self.p
        listing = p.listings.apply(acme, "80000.00", annual_rate="11%", months=6, window_days=5)
        p.listings.approve(listing.id, grade="A", reviewer="risk desk", actor=RISK_DESK)
        p.listings.publish(listing.id)
        self.listings.append(("3", listing.id))
        bidders = self.rng.sample(investors, 2)
        for investor in bidders:
            p.bidding.bid(listing.id, investor, str(self.rng.randrange(20, 61) * 500))
        self.failed_holds = len(bidders)
        total = p.listings.get(listing.id).bid_total
        self.event(
            f"listing 3 (Acme, 80000.00, fixed 11%, 5-day window): {len(bidders)} bids,"
            f" {self.money(total)} frozen"
        )

    def close_auction(self, listing_id: str, lotus: str) -> None:
        p = self.p
        closed = p.listings.close(listing_id)
        won = lost = 0
        for bid in p.bidding.bids(listing_id):
            if bid.state == S.BID_LOST:
                lost += 1
            else:
                won += 1
            result = bid.state if bid.amount == bid.requested else f"{bid.state} (part)"
            self.auction_lines.append(
                f"{self.names[bid.investor_id]}|{bid.requested.format()}|{_pct(bid.rate)}|"
                f"{result}|{bid.amount.format() if bid.state != S.BID_LOST else '0.00'}"
            )
        self.event(
            f"listing 2 closed: lowest rates win ({won} won, {lost} released);"
            f" average rate {_pct(closed.annual_rate)}"
        )
        loan = p.loans.disburse(listing_id, reviewer="customer service", actor=SERVICE_DESK)
        self.loans.append(("2", loan.id))
        self._spend_proceeds(lotus)
        self.event("listing 2 disbursed; Lotus Tea House received the principal less the fee")
        for inst in p.loans.schedule(loan.id).installments[:2]:  # pays two, then stops
            self._plan(inst.due_date - timedelta(days=2), lotus, inst.payment, "installment")

    def _spend_proceeds(self, borrower: str) -> None:
        available = self.p.custody.balance(borrower).available
        if available.is_positive():
            self.p.custody.withdraw(borrower, available)

    def _plan(self, day: date, party: str, amount: Money, what: str) -> None:
        self.planned.setdefault(day, []).append((party, amount, what))

    # -- asset-backed listings (--asset-backed) -------------------------------------------------------

    def asset_day(self, offset: int, investors: list[str]) -> None:
        """Bills and supply-chain receivables: one of each repaid within the year, one still open."""
        if offset == 0:
            self.register_asset_parties()
        for label, start, days in (("B1", 20, 90), ("B2", 320, 90)):
            if offset == start:
                self.bill_listing(label, days, investors)
        for label, start, days in (("S1", 21, 120), ("S2", 321, 120)):
            if offset == start:
                self.receivable_listing(label, days, investors)
        if offset == 22:
            self.lease_listing("L1", investors)
        self.margin_account(offset, investors)

    def register_asset_parties(self) -> None:
        from lendkit.plugins import supplychain

        p = self.p
        for role, name in (
            ("acceptor", "Bank of Qiantang 钱塘银行"),
            ("drawer", "Harbor Steel Supply"),
            ("core", "Eastern Motors Group 东方汽车"),
            ("supplier", "Lakeside Parts Ltd."),
        ):
            party = p.parties.register(name, "enterprise")
            p.parties.verify(party.id)
            self.names[party.id] = name
            self.asset_parties[role] = party.id
        core = supplychain.register_core_enterprise(
            p, "Eastern Motors Group", self.asset_parties["core"], "500000", "automotive"
        )
        self.core_enterprise = core.id
        self.names[core.id] = "Eastern Motors Group"
        self.event(
            "registered an acceptor bank, a bill drawer, a core enterprise (credit limit"
            " 500000.00) and its supplier"
        )

    def _fund(self, listing_id: str, investors: list[str], amount: Money) -> None:
        """Three investors take the listing in near-equal parts (exact: ``allocate``)."""
        bidders = self.rng.sample(investors, 3)
        for investor, share in zip(bidders, allocate(amount, [1, 1, 1]), strict=True):
            self.p.custody.deposit(investor, share)  # fresh money: the story's balances stay
            self.p.bidding.bid(listing_id, investor, share.format())

    def bill_listing(self, label: str, days: int, investors: list[str]) -> None:
        from lendkit.plugins import bills

        p = self.p
        acceptor, drawer = self.asset_parties["acceptor"], self.asset_parties["drawer"]
        number = f"3102 0051 {label[1]:0>4}"
        bill = bills.register_bill(
            p,
            number,
            "100000",
            drawer,
            acceptor,
            self.today - timedelta(days=30),
            self.today + timedelta(days=days),
        )
        bills.verify_bill(p, bill.id, staff="risk desk")
        listed = bills.apply_with_bill(p, bill.id, "3.6%")
        assert listed.listing_id is not None
        p.listings.approve(listed.listing_id, grade="A", reviewer="risk desk", actor=RISK_DESK)
        p.listings.publish(listed.listing_id)
        self.listings.append((label, listed.listing_id))
        listing = p.listings.get(listed.listing_id)
        self._fund(listing.id, investors, listing.amount)
        loan = p.loans.disburse(listing.id, reviewer="customer service", actor=SERVICE_DESK)
        self.loans.append((label, loan.id))
        self._spend_proceeds(drawer)
        [inst] = p.loans.schedule(loan.id).installments
        # the acceptor bank pays the face into custody; COB collects it at maturity
        self._plan(inst.due_date - timedelta(days=1), acceptor, inst.payment, "bill face")
        self.event(
            f"bill listing {label} (bank acceptance bill {number}, face 100000.00, discount 3.6%,"
            f" {days} days): price {self.money(listing.amount)}, funded and disbursed;"
            f" the acceptor pays at maturity {inst.due_date.isoformat()}"
        )

    def receivable_listing(self, label: str, days: int, investors: list[str]) -> None:
        from lendkit.plugins import supplychain

        p = self.p
        core, supplier = self.asset_parties["core"], self.asset_parties["supplier"]
        due = self.today + timedelta(days=days)
        listing = p.listings.apply(
            supplier,
            "80000.00",
            annual_rate="9%",
            months=4,
            product="supplychain",
            method="receivable",
        )
        invoice = f"INV-2026-{label}"
        receivable = supplychain.submit_receivable(
            p, listing.id, supplier, self.core_enterprise, invoice, "100000", due
        )
        supplychain.confirm_receivable(p, receivable.id, "100000", due)
        p.listings.approve(listing.id, grade="A", reviewer="risk desk", actor=RISK_DESK)
        p.listings.publish(listing.id)
        self.listings.append((label, listing.id))
        self._fund(listing.id, investors, p.listings.get(listing.id).amount)
        loan = p.loans.disburse(listing.id, reviewer="customer service", actor=SERVICE_DESK)
        self.loans.append((label, loan.id))
        self._spend_proceeds(supplier)
        [inst] = p.loans.schedule(loan.id).installments
        self._plan(inst.due_date - timedelta(days=1), core, inst.payment, "receivable")
        self.event(
            f"supply-chain listing {label} (Lakeside Parts, 80000.00 on a confirmed 100000.00"
            f" receivable {invoice} of Eastern Motors, 9%): funded and disbursed; the core"
            f" enterprise pays on {inst.due_date.isoformat()}"
        )

    def lease_listing(self, label: str, investors: list[str]) -> None:
        """A direct lease: the lessor buys a harvester from its dealer for the lessee, who pays
        ten monthly rents (the last with the buy-out price) and then owns it."""
        from lendkit.plugins import leasing

        p = self.p
        roles = {}
        for role, name in (
            ("lessor", "West Lake Leasing 西湖租赁"),
            ("lessee", "Greenfield Farms"),
            ("dealer", "Northern Harvester Sales"),
        ):
            party = p.parties.register(name, "enterprise")
            p.parties.verify(party.id)
            self.names[party.id] = name
            roles[role] = party.id
        lessor = leasing.register_lessor(p, "West Lake Leasing", roles["lessor"])
        leasing.register_lessee(p, roles["lessee"], "Greenfield Farms")
        asset = leasing.register_asset(p, "harvester", "HV-2026-0001", "150000", roles["dealer"])
        lease = leasing.file_lease(
            p,
            lessor.id,
            roles["lessee"],
            asset.id,
            "120000",
            "8%",
            form="direct",
            supplier_id=roles["dealer"],
            rents=10,
            residual="1000",
        )
        assert lease.listing_id is not None
        p.listings.approve(lease.listing_id, grade="A", reviewer="risk desk", actor=RISK_DESK)
        p.listings.publish(lease.listing_id)
        self.listings.append((label, lease.listing_id))
        self._fund(lease.listing_id, investors, lease.amount)
        loan = p.loans.disburse(lease.listing_id, reviewer="customer service", actor=SERVICE_DESK)
        self.loans.append((label, loan.id))
        self._spend_proceeds(roles["dealer"])
        for inst in p.loans.schedule(loan.id).installments:
            self._plan(inst.due_date - timedelta(days=1), roles["lessee"], inst.payment, "rent")
        self.event(
            f"lease listing {label} (West Lake Leasing leases a 150000.00 harvester to Greenfield"
            " Farms, 120000.00 financed at 8%, 10 monthly rents, buy-out price 1000.00): funded;"
            " the dealer is paid, the lessee pays the rents and owns the harvester after the last"
        )

    def margin_account(self, offset: int, investors: list[str]) -> None:
        """Margin M1: a trader's 100,000.00 borrows 1:3 into a controlled trading account and
        buys shares; the price falls through the warning line, then the liquidation line: the
        forced sale repays the investors first, then the platform's fee, then the trader."""
        from lendkit.plugins import margin

        p, symbol = self.p, "600519.SH"
        prices = {40: "1500.00", 100: "1230.00", 130: "1150.00"}
        if offset == 40:
            trader = p.parties.register("Jade River Trading", "person")
            p.parties.verify(trader.id)
            self.names[trader.id] = "Jade River Trading"
            p.custody.deposit(trader.id, "100000")
            account = margin.open_account(p, trader.id, "100000", "1:3", "9%")
            assert account.listing_id is not None
            p.listings.approve(account.listing_id, grade="A", reviewer="risk desk", actor=RISK_DESK)
            p.listings.publish(account.listing_id)
            self._fund(account.listing_id, investors, account.borrowed)
            p.loans.disburse(account.listing_id, reviewer="customer service", actor=SERVICE_DESK)
            self.margin_id = account.id
            margin.push_prices(p, {symbol: (prices[offset], self.clock())})
            margin.buy(p, account.id, symbol, 250)
            self.event(
                "margin account M1 (Jade River Trading: margin 100000.00 at 1:3, 9%): 300000.00"
                " borrowed into its controlled trading account; bought 250 x 600519.SH at 1500.00"
            )
        elif offset in prices and self.margin_id:
            for valued in margin.push_prices(p, {symbol: (prices[offset], self.clock())}):
                self.event(
                    f"margin M1: 600519.SH at {prices[offset]}: the account stands at"
                    f" {valued.ratio:.2%} of its borrowed funds ({valued.state})"
                )
            done = margin.get_account(p, self.margin_id).liquidation
            if done is not None:
                self.event(
                    f"margin M1 liquidated: proceeds {self.money(done.proceeds)}; investors"
                    f" {self.money(done.investors_paid)}, fee {self.money(done.fee)}, trader"
                    f" {self.money(done.trader_paid)}, shortfall {self.money(done.shortfall)}"
                )

    # -- the year -----------------------------------------------------------------------------------

    def run(self, progress: Callable[[str], None]) -> None:
        p, clock = self.p, self.clock
        first = START.date()
        acme = lotus = ""
        investors: list[str] = []
        auction = ""
        states: dict[str, str] = {}
        for offset in range(DAYS):
            day = first + timedelta(days=offset)
            clock.at(day, 9)
            if offset == 0:
                acme, lotus, investors = self.register()
                self.fixed_listing(acme, investors)
            elif offset == 1:
                auction = self.auction_listing(lotus, investors)
                self.failing_listing(acme, investors)
            elif offset == 3:
                self.close_auction(auction, lotus)
            if self.asset_backed:
                self.asset_day(offset, investors)
            for party, amount, _what in self.planned.get(day, []):
                p.custody.deposit(party, amount)
            clock.at(day, 20)
            result = p.cob.run(day)
            if result.expired_listings:
                label, lid = self.listings[2]
                listing = p.listings.get(lid)
                self.event(
                    f"COB: listing 3's window closed at {self.money(listing.bid_total)} of"
                    f" {self.money(listing.amount)}: {listing.state} (流标),"
                    f" {self.failed_holds} holds voided"
                )
            for label, loan_id in self.loans:
                state = p.loans.get(loan_id).state
                if states.get(loan_id, S.ACTIVE) != state:
                    self.event(f"COB: loan {label} is now {state}{self._overdue_note(loan_id)}")
                states[loan_id] = state
            if day.day == first.day and offset:
                progress(f"simulated through {day.isoformat()}")

    def _overdue_note(self, loan_id: str) -> str:
        days, penalty, _ = self.arrears(loan_id)
        if not days:
            return ""
        return f" ({days} days past the oldest unpaid due date, penalty {self.money(penalty)})"

    def arrears(self, loan_id: str) -> tuple[int, Money, int]:
        """Days past the oldest unpaid due date, unpaid penalty, installments paid."""
        status = self.p.loans.status(loan_id, as_of=self.today)
        paid = sum(1 for i in status.installments if i.state == S.INST_PAID)
        return status.days_past_due, status.penalty_unpaid, paid

    # -- the report ---------------------------------------------------------------------------------

    def report(self, where: str) -> list[str]:
        p = self.p
        cur = p.config.currency
        zero = Money.zero(cur)
        out = [
            f"lendkit demo (seed {self.seed}): a year of lending, day by day",
            f"database: {where}",
            "",
            "Timeline",
        ]
        out += [f"  {d.isoformat()}  {text}" for d, text in self.events]
        out += [f"  {self.today.isoformat()}  close of business ran every day for a year"]

        out += ["", "Listings"]
        rows = []
        for label, lid in self.listings:
            lst = p.listings.get(lid)
            rows.append(
                (
                    label,
                    self.names[lst.borrower_id],
                    lst.amount.format(),
                    f"{lst.months}m",
                    lst.bidding,
                    "-" if lst.annual_rate is None else _pct(lst.annual_rate),
                    lst.grade or "-",
                    lst.bid_total.format(),
                    lst.state,
                )
            )
        out += self._indent(
            render_table(
                ("#", "borrower", "amount", "term", "style", "rate", "grade", "bid", "state"),
                rows,
                (True, False, True, True, False, True, False, True, False),
            )
        )
        if self.auction_lines:
            out += ["", "Auction of listing 2 (lowest rates fill first, the rest is released)"]
            out += self._indent(
                render_table(
                    ("investor", "bid", "rate", "result", "lent"),
                    [tuple(line.split("|")) for line in self.auction_lines],
                    (False, True, True, False, True),
                )
            )

        loans: list[LoanRecord] = [p.loans.get(loan_id) for _, loan_id in self.loans]
        per: dict[str, list[Money]] = {i: [zero] * 5 for i in self.deposits}
        for loan in loans:
            # the loan's unpaid penalty, shared by the investors as their positions' principal
            penalty_shares = allocate(
                self.arrears(loan.id)[1], [pos.principal.minor for pos in loan.positions]
            )
            for pos, penalty_due in zip(loan.positions, penalty_shares, strict=True):
                acc = per[pos.investor_id]
                owed = pos.outstanding_principal + pos.outstanding_interest + penalty_due
                for k, value in enumerate(
                    (
                        pos.principal,
                        pos.received_principal,
                        pos.received_interest,
                        pos.received_penalty,
                        owed,
                    )
                ):
                    acc[k] = acc[k] + value
        out += [
            "",
            f"Investors ({cur}; interest is net of the platform's management fee;"
            " still owed: principal, interest and penalty the borrower has not paid them yet)",
        ]
        inv_rows = []
        totals = [zero] * 6
        for investor, acc in per.items():
            balance = p.custody.balance(investor).total
            values = [*acc, balance]
            totals = [a + b for a, b in zip(totals, values, strict=True)]
            inv_rows.append((self.names[investor], *(v.format() for v in values)))
        inv_rows.append(("total", *(v.format() for v in totals)))
        out += self._indent(
            render_table(
                (
                    "investor",
                    "lent",
                    "principal back",
                    "interest (net)",
                    "penalty",
                    "still owed",
                    "balance",
                ),
                inv_rows,
                (False, True, True, True, True, True, True),
            )
        )

        out += ["", "Loans"]
        loan_rows = []
        for (label, _), loan in zip(self.loans, loans, strict=True):
            days, penalty, paid = self.arrears(loan.id)
            loan_rows.append(
                (
                    label,
                    self.names[loan.borrower_id],
                    loan.principal.format(),
                    _pct(loan.annual_rate),
                    f"{paid}/{loan.months if label.isdigit() else self.terms(loan.id)}",
                    loan.outstanding_principal.format(),
                    loan.state,
                    str(days),
                    penalty.format(),
                )
            )
        out += self._indent(
            render_table(
                (
                    "loan",
                    "borrower",
                    "principal",
                    "rate",
                    "paid",
                    "outstanding",
                    "state",
                    "days overdue",
                    "penalty due",
                ),
                loan_rows,
                (True, False, True, True, True, True, False, True, True),
            )
        )

        totals_rec = p.reports.totals()
        fees = p.reports.fees()
        service = totals_rec.revenue - fees
        out += ["", "Platform"]
        figures = [
            ("service fees (at disbursement)", self.money(service)),
            ("management fees (on interest)", self.money(fees)),
            ("revenue", self.money(totals_rec.revenue)),
        ]
        own: list[tuple[str, str]] = []
        plugins: list[tuple[str, str]] = []
        for d in p.reports.disclosure():
            shown = (f"{d.name} ({d.plugin})", d.value)
            if self.asset_backed:  # the plugins name parties and loans by id: the report by name
                shown = (self._named(shown[0]), self._named(shown[1]))
            (own if d.plugin == "platform" else plugins).append(shown)
        figures += own + sorted(plugins)  # plugins need not order their figures
        out += self._indent(render_table(("figure", "value"), figures, (False, True)))
        by_staff = {
            who: len(p.audit(actor=who, limit=MAX_PAGE)) for who in (RISK_DESK, SERVICE_DESK)
        }
        out += [
            "",
            f"Audit trail: {by_staff[RISK_DESK]} commands by {RISK_DESK}, {by_staff[SERVICE_DESK]}"
            f" by {SERVICE_DESK}",
            "  (`lendkit audit` lists every command, who ran it, refused or not)",
        ]
        return out

    def terms(self, loan_id: str) -> int:
        """Installments of a bill or receivable loan (one, whatever months its listing named)."""
        return len(self.p.loans.schedule(loan_id).installments)

    def _named(self, text: str) -> str:
        """``text`` with the ids of the demo's parties, listings and loans replaced by names."""
        swaps = [(f" ({self.core_enterprise})", "")] if self.core_enterprise else []
        swaps += list(self.names.items())
        swaps += [(lid, f"listing {label}") for label, lid in self.listings]
        swaps += [(lid, f"loan {label}") for label, lid in self.loans]
        for old, new in swaps:
            text = text.replace(old, new)
        return text

    @staticmethod
    def _indent(lines: list[str]) -> list[str]:
        return [f"  {line}" for line in lines]


def run_demo(
    url: str,
    seed: int,
    where: str,
    progress: Callable[[str], None] = lambda _: None,
    asset_backed: bool = False,
) -> tuple[list[str], bool]:
    """Simulate on ``url`` (empty database); the report's lines and whether the ledger verified.

    ``asset_backed`` adds the ``bills``, ``supplychain``, ``leasing`` and ``margin`` plugins and their
    listings.
    """
    clock = DemoClock(START)
    config = {"default_after_days": 90, "sqlite_synchronous": "NORMAL"}
    plugins = (
        ["online", "bills", "supplychain", "leasing", "margin"] if asset_backed else ["online"]
    )
    with (
        database_errors(url),
        Platform.open(url, plugins, config=config, clock=clock, actor=given_actor()) as p,
    ):
        demo = Demo(p, clock, seed, asset_backed)
        demo.run(progress)
        lines = demo.report(where)
        check = p.verify()
    lines.append("")
    if check.ok:
        lines.append(f"ledger verified: {check.entries} entries, {check.accounts} accounts")
    else:
        lines.append(f"LEDGER CHECK FAILED: {len(check.problems)} problems")
        lines += [f"  {problem}" for problem in check.problems]
    return lines, check.ok


def parties_at(url: str) -> int:
    """Parties already in the database at ``url`` (0 for a new or empty one)."""
    engine = tool_engine(url)
    try:
        path = sqlite_file(url)
        if path is not None and not path.exists():
            return 0
        with database_errors(url), engine.connect() as conn:
            return party_count(conn)
    finally:
        engine.dispose()


def report_hint(url: str, from_environment: bool) -> str:
    """The command that shows the demo database's report again (printed after the demo).

    It names the demo's database exactly (shell-quoted), so it can be pasted; a URL taken from
    ``LENDKIT_DATABASE_URL`` is not echoed (it may hold a password): ``lendkit report`` reads it.
    """
    if from_environment:
        return "next: `lendkit report` shows this database's totals again (LENDKIT_DATABASE_URL)"
    return f"next: `lendkit --db {shlex.quote(url)} report` shows this database's totals again"


@main.command("demo")
@click.option("--seed", default=1, show_default=True, type=int, help="Seed for the amounts.")
@click.option(
    "--asset-backed",
    is_flag=True,
    help="Also finance bank acceptance bills (bills), receivables (supplychain), a lease"
    " (leasing) and a margin account (margin).",
)
@database_option
@click.pass_context
def demo_command(ctx: click.Context, seed: int, asset_backed: bool) -> None:
    """Simulate a year of a lending platform (listings, bids, COB every day) and print a report.

    ``--asset-backed`` adds the ``bills``, ``supplychain``, ``leasing`` and ``margin`` plugins:
    two bill listings and two supply-chain receivable listings, repaid at maturity by the acceptor
    bank and the core enterprise through COB (the second of each is still outstanding at the
    year's end); a direct lease whose lessee pays ten monthly rents and buys the asset out; and a
    margin account at 1:3 whose shares fall through the warning line and then the liquidation
    line (forced sale: investors first, the platform's fee, then the trader).

    Uses ``--db`` (of ``demo`` or of ``lendkit``, or LENDKIT_DATABASE_URL) when given, refusing a
    database that already has parties; otherwise recreates ``lendkit-demo.db`` here.
    """
    url = given_db_url(ctx)  # the database must hold no parties; default: a new lendkit-demo.db
    if url is None:
        path = Path(DEMO_FILE).resolve()
        for extra in ("", "-wal", "-shm", "-journal"):
            Path(f"{path}{extra}").unlink(missing_ok=True)
        url = f"sqlite:///{path}"
        where = str(path)
    else:
        where = display_url(url)
        found = parties_at(url)
        if found:
            fail(
                f"database {where!r} already has {found} parties: the demo needs an empty"
                " database (omit --db to use a new lendkit-demo.db)"
            )
    click.echo(f"lendkit demo: simulating a year on {where} ...", err=True)
    lines, ok = run_demo(
        url, seed, where, lambda text: click.echo(f"  {text}", err=True), asset_backed
    )
    for line in lines:
        click.echo(line)
    if not ok:
        ctx.exit(1)
    click.echo(report_hint(url, db_url_from_environment(ctx)), err=True)

"""Reports and disclosure (信息披露): platform totals plus what each plugin publishes."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from attrs import frozen
from sqlalchemy import func, select

from lendkit.core import states as S
from lendkit.core.errors import NotFound
from lendkit.core.ledger import AVAILABLE, PARTY_OWNER, split_code
from lendkit.core.money import Money
from lendkit.core.records import Disclosure, Receipt
from lendkit.ops.market import disclosures as market_disclosures
from lendkit.ops.market import transfer_receipts
from lendkit.store.ledger import flush
from lendkit.store.rows import get_row
from lendkit.store.tables import (
    accounts,
    installments,
    listings,
    loans,
    payments,
    positions,
    postings,
)
from lendkit.uow import UnitOfWork


@frozen
class PlatformTotals:
    """Headline figures, every one computed from lendkit's tables and the ledger."""

    volume: Money
    loans: int
    outstanding_principal: Money
    overdue_principal: Money
    defaulted_principal: Money
    revenue: Money
    listings_by_state: dict[str, int]

    @property
    def overdue_rate(self) -> str:
        """:data:`OVERDUE_RATE`: overdue principal / outstanding principal, as a percentage."""
        return _ratio(self.overdue_principal, self.outstanding_principal)

    @property
    def bad_debt_rate(self) -> str:
        """:data:`BAD_DEBT_RATE`: defaulted principal / outstanding principal, as a percentage."""
        return _ratio(self.defaulted_principal, self.outstanding_principal)


#: how the rates are defined, printed next to them (``lendkit report``, ``lendkit demo``)
OVERDUE_RATE = (
    "overdue rate = overdue principal (unpaid principal of installments past due,"
    " open loans) / outstanding principal (open loans)"
)
BAD_DEBT_RATE = (
    "bad-debt rate = defaulted principal (outstanding principal of defaulted loans)"
    " / outstanding principal (open loans)"
)


def _ratio(part: Money, whole: Money) -> str:
    if whole.is_zero():
        return "0.00%"
    return f"{(part.amount * 100 / whole.amount).quantize(Decimal('0.01'))}%"


def totals(ctx: UnitOfWork) -> PlatformTotals:
    """Volume, outstanding, overdue and defaulted principal, revenue, listings by state."""
    cur = ctx.currency
    conn = ctx.conn

    def money(stmt: Any) -> Money:
        return Money.from_minor(int(conn.execute(stmt).scalar_one() or 0), cur)

    volume = money(select(func.coalesce(func.sum(loans.c.principal), 0)))
    count = int(conn.execute(select(func.count()).select_from(loans)).scalar_one())
    outstanding = money(
        select(func.coalesce(func.sum(loans.c.outstanding_principal), 0)).where(
            loans.c.state.in_(S.OPEN_LOAN_STATES)
        )
    )
    overdue = money(
        select(func.coalesce(func.sum(installments.c.principal - installments.c.paid_principal), 0))
        .join(loans, loans.c.id == installments.c.loan_id)
        .where(installments.c.state == S.INST_OVERDUE, loans.c.state.in_(S.OPEN_LOAN_STATES))
    )
    defaulted = money(
        select(func.coalesce(func.sum(loans.c.outstanding_principal), 0)).where(
            loans.c.state == S.DEFAULTED
        )
    )
    flush(ctx.conn)  # balances with what this unit of work booked
    revenue = money(
        select(func.coalesce(func.sum(accounts.c.balance), 0)).where(
            accounts.c.code == f"platform:revenue:revenue:{cur}"
        )
    )
    states: dict[str, int] = dict(
        conn.execute(select(listings.c.state, func.count()).group_by(listings.c.state)).all()
    )
    return PlatformTotals(
        volume,
        count,
        outstanding,
        overdue,
        defaulted,
        revenue,
        {str(k): int(v) for k, v in states.items()},
    )


def fees(ctx: UnitOfWork) -> Money:
    """Fees booked on payments (management, prepayment) — the revenue less service fees."""
    total = ctx.conn.execute(select(func.coalesce(func.sum(payments.c.fee), 0))).scalar_one()
    return Money.from_minor(int(total), ctx.currency)


def disclosure(ctx: UnitOfWork) -> list[Disclosure]:
    """Platform totals plus every enabled plugin's disclosures (``lendkit_disclosures``)."""
    t = totals(ctx)
    own = [
        Disclosure("platform", "volume", str(t.volume)),
        Disclosure("platform", "outstanding principal", str(t.outstanding_principal)),
        Disclosure("platform", "overdue rate (overdue / outstanding principal)", t.overdue_rate),
        Disclosure(
            "platform", "bad-debt rate (defaulted / outstanding principal)", t.bad_debt_rate
        ),
    ]
    return own + market_disclosures(ctx) + ctx.hooks.disclosures(ctx)


def payer_named(code: str, borrower_id: str) -> tuple[str, str]:
    """(kind, owner) of the paying account ``code``, named as receipts name payers: a party's
    account is ``borrower`` or ``party``, any other the account's owner kind (``guarantor``,
    ``insurer``, ``plugin``...)."""
    kind, owner, _purpose, _cur = split_code(code)
    if kind == PARTY_OWNER:
        kind = "borrower" if owner == borrower_id else "party"
    return kind, owner


def position_history(ctx: UnitOfWork, loan_id: str, investor_id: str) -> list[Receipt]:
    """Every payment ``investor_id`` received on loan ``loan_id``, oldest first, each with who
    paid it (``NotFound`` if the investor has no position in the loan), and every transfer of
    its claim on the secondary market (``kind`` ``transfer-sale``: what the seller received net
    of the fee; ``transfer-purchase``: a negative amount, what the buyer paid).

    Read from the ledger: a receipt is the posting of a payment's journal entry to the
    investor's available account (what it received net of the management fee, over all its
    positions in the loan); the payer is the entry's paying account (the one posting that takes
    money out), named as ``PaymentRecord.payer`` names it for parties.
    """
    loan = get_row(ctx.conn, loans, loan_id, "loan")
    holders = sorted(
        ctx.conn.execute(
            select(positions.c.holder_id)
            .where(positions.c.loan_id == loan_id, positions.c.investor_id == investor_id)
            .distinct()
        ).scalars()
    )
    if not holders:
        raise NotFound(f"investor {investor_id} has no position in loan {loan_id}")
    codes = [f"{PARTY_OWNER}:{h}:{AVAILABLE}:{loan.currency}" for h in holders]
    flush(ctx.conn)  # entries this unit of work booked are written at commit: read them too
    received = ctx.conn.execute(
        select(
            payments.c.id,
            payments.c.paid_on,
            payments.c.kind,
            payments.c.entry_seq,
            func.sum(postings.c.amount).label("amount"),
        )
        .join(postings, postings.c.entry_seq == payments.c.entry_seq)
        .join(accounts, accounts.c.id == postings.c.account_id)
        .where(payments.c.loan_id == loan_id, accounts.c.code.in_(codes))
        .group_by(
            payments.c.id,
            payments.c.paid_on,
            payments.c.kind,
            payments.c.entry_seq,
            payments.c.created_at,
        )
        # sequence numbers order entries within a chain; concurrent writers use several chains
        .order_by(payments.c.created_at, payments.c.entry_seq)
    ).all()
    seqs = [r.entry_seq for r in received]
    paying: dict[int, tuple[int, str]] = {}  # entry -> (amount, code) of its largest debit
    for start in range(0, len(seqs), 500):
        for seq, amount, code in ctx.conn.execute(
            select(postings.c.entry_seq, postings.c.amount, accounts.c.code)
            .join(accounts, accounts.c.id == postings.c.account_id)
            .where(postings.c.entry_seq.in_(seqs[start : start + 500]), postings.c.amount < 0)
        ):
            if seq not in paying or amount < paying[seq][0]:
                paying[seq] = (amount, code)
    out: list[tuple[int, Receipt]] = []
    for r in received:
        code = paying[r.entry_seq][1]
        kind, owner = payer_named(code, loan.borrower_id)
        out.append(
            (
                r.entry_seq,
                Receipt(
                    payment_id=r.id,
                    loan_id=loan_id,
                    investor_id=investor_id,
                    paid_on=r.paid_on,
                    kind=r.kind,
                    amount=Money.from_minor(int(r.amount), loan.currency),
                    payer_kind=kind,
                    payer_id=owner,
                    payer_account=code,
                ),
            )
        )
    # transfers of the claim (debt transfer) are lines of both the seller's and the buyer's history
    out.extend(transfer_receipts(ctx, loan_id, investor_id, loan.currency))
    return [receipt for _seq, receipt in sorted(out, key=lambda line: line[0])]

"""Build big books fast: bulk inserts into lendkit's own tables with SQLAlchemy Core.

Calling the API a million times would take hours, so the benchmark writes rows directly, in the
shape lendkit itself writes them, and keeps the ledger consistent so that ``lendkit verify``
passes on the result:

* parties (verified: all four checks ``verified``), each with its ``available`` and ``frozen``
  custody accounts;
* money enters through ONE journal entry per call to :meth:`Book.fund` (kind ``bench.setup``) from
  the embedded gateway account to the funded accounts; cached balances are updated by the same
  amounts and the hash chain head is advanced, exactly as ``append_entry`` would;
* an open listing (fixed rate, published, with its escrow account) with ``k`` existing bids: each
  bid has an open hold whose amount sits in the investor's frozen account (funded directly by the
  setup entry), and the listing's ``bid_total`` / ``bid_count`` match;
* loans (active, with their listing in state ``disbursed`` and its escrow account at zero, a loan
  clearing account, 12 installments from lendkit's own ``build_schedule``, and ``m`` positions of
  equal principal), the borrower funded with exactly the first installment when it is due.

Not written, and documented as such: the bids, holds and agreements of already disbursed loans,
and the disbursement's journal history (investors' accounts start at zero, as if the money had
come from elsewhere); positions carry a ``bid_id`` that names no bid row.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, select, update

from lendkit.core import states as S
from lendkit.core.ledger import entry_hash
from lendkit.core.schedule import add_months, build_schedule
from lendkit.store.tables import (
    accounts,
    bids,
    holds,
    installments,
    journal_entries,
    ledger_head,
    listings,
    loans,
    parties,
    positions,
    postings,
    verifications,
)

CUR = "CNY"
CHUNK = 20_000
GATEWAY_CODE = f"gateway:embedded:gateway:{CUR}"


def bench_id(prefix: str) -> str:
    """Ids shaped like lendkit's own (``prefix_<uuid4 hex>``)."""
    return f"{prefix}_{uuid.uuid4().hex}"


def chunks(rows: Sequence[dict[str, Any]], size: int = CHUNK) -> Iterator[Sequence[dict[str, Any]]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def insert_many(conn: Connection, table: Any, rows: Sequence[dict[str, Any]]) -> None:
    for part in chunks(rows):
        conn.execute(table.insert(), list(part))


class Book:
    """Writes lendkit rows in bulk on one engine; remembers account ids by code."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.now = datetime.now(UTC)
        self.account_ids: dict[str, int] = {}

    # -- accounts and money -------------------------------------------------------------------

    def _accounts(self, conn: Connection, specs: Iterable[tuple[str, str, str, bool]]) -> None:
        """Create accounts ``(owner_kind, owner_id, purpose, allow_negative)`` not yet known."""
        rows = []
        for kind, owner, purpose, negative in specs:
            code = f"{kind}:{owner}:{purpose}:{CUR}"
            if code in self.account_ids:
                continue
            rows.append(
                {
                    "code": code,
                    "owner_kind": kind,
                    "owner_id": owner,
                    "purpose": purpose,
                    "currency": CUR,
                    "allow_negative": negative,
                    "balance": 0,
                }
            )
        if not rows:
            return
        wanted = {r["code"] for r in rows}
        existing = {
            r.code: r.id
            for r in conn.execute(select(accounts.c.id, accounts.c.code))
            if r.code in wanted
        }
        insert_many(conn, accounts, [r for r in rows if r["code"] not in existing])
        for r in conn.execute(select(accounts.c.id, accounts.c.code)):
            if r.code in wanted:
                self.account_ids[r.code] = int(r.id)

    def ensure_accounts(
        self, conn: Connection, specs: Iterable[tuple[str, str, str, bool]]
    ) -> None:
        """Create (or find) accounts ``(owner_kind, owner_id, purpose, allow_negative)``."""
        self._accounts(conn, specs)

    def account(self, kind: str, owner: str, purpose: str) -> int:
        return self.account_ids[f"{kind}:{owner}:{purpose}:{CUR}"]

    def fund(self, conn: Connection, credits: dict[int, int], reference: str) -> None:
        """One balanced ``bench.setup`` entry: the gateway pays ``credits`` (account id -> minor)."""
        self._accounts(conn, [("gateway", "embedded", "gateway", True)])
        gateway = self.account_ids[GATEWAY_CODE]
        legs = {aid: amt for aid, amt in credits.items() if amt}
        if not legs:
            return
        legs[gateway] = legs.get(gateway, 0) - sum(legs.values())
        pairs = sorted((aid, amt) for aid, amt in legs.items() if amt)
        head = conn.execute(
            update(ledger_head)
            .where(ledger_head.c.id == 1)
            .values(seq=ledger_head.c.seq + 1)
            .returning(ledger_head.c.seq, ledger_head.c.hash)
        ).one()
        seq, prev = int(head.seq), str(head.hash)
        digest = entry_hash(prev, seq, "bench.setup", reference, pairs)
        conn.execute(update(ledger_head).where(ledger_head.c.id == 1).values(hash=digest))
        conn.execute(
            journal_entries.insert().values(
                seq=seq,
                kind="bench.setup",
                reference=reference,
                memo="benchmark book set-up",
                created_at=self.now,
                prev_hash=prev,
                hash=digest,
            )
        )
        insert_many(
            conn, postings, [{"entry_seq": seq, "account_id": a, "amount": m} for a, m in pairs]
        )
        stmt = (
            update(accounts)
            .where(accounts.c.id == bindparam("aid"))
            .values(balance=accounts.c.balance + bindparam("d"))
        )
        rows = [{"aid": a, "d": m} for a, m in pairs]
        for part in chunks(rows):
            conn.execute(stmt, list(part))

    # -- parties ------------------------------------------------------------------------------

    def parties(self, conn: Connection, n: int, prefix: str, kind: str = "person") -> list[str]:
        """``n`` verified parties with their available and frozen accounts."""
        ids = [bench_id("pty") for _ in range(n)]
        insert_many(
            conn,
            parties,
            [
                {
                    "id": pid,
                    "name": f"{prefix} {i}",
                    "kind": kind,
                    "credit_line": 0,
                    "credit_used": 0,
                    "currency": CUR,
                    "created_at": self.now,
                }
                for i, pid in enumerate(ids)
            ],
        )
        insert_many(
            conn,
            verifications,
            [
                {
                    "party_id": pid,
                    "check": check,
                    "state": "verified",
                    "detail": "",
                    "updated_at": self.now,
                }
                for pid in ids
                for check in ("id_card", "phone", "email", "documents")
            ],
        )
        self._accounts(
            conn,
            [("party", pid, p, False) for pid in ids for p in ("available", "frozen")],
        )
        return ids

    # -- an open listing ----------------------------------------------------------------------

    def open_listing(
        self,
        conn: Connection,
        borrower: str,
        amount_minor: int,
        bidders: Sequence[str],
        existing_bids: int,
        bid_minor: int,
    ) -> str:
        """A published fixed-rate listing with ``existing_bids`` open bids (holds and frozen money)."""
        listing_id = bench_id("lst")
        self._accounts(conn, [("listing", listing_id, "listing", False)])
        conn.execute(
            listings.insert().values(
                id=listing_id,
                borrower_id=borrower,
                product="online",
                currency=CUR,
                amount=amount_minor,
                months=12,
                method="equal-installment",
                bidding="fixed",
                clearing="own",
                annual_rate="0.1",
                max_rate=None,
                min_bid=1,
                max_bid=None,
                window_days=30,
                state=S.PUBLISHED,
                grade="A",
                reason=None,
                bid_total=existing_bids * bid_minor,
                bid_count=existing_bids,
                account_id=self.account("listing", listing_id, "listing"),
                created_at=self.now,
                published_at=self.now,
                closes_at=self.now + timedelta(days=30),
            )
        )
        frozen: dict[int, int] = {}
        hold_rows, bid_rows = [], []
        dest = self.account("listing", listing_id, "listing")
        for k in range(existing_bids):
            investor = bidders[k % len(bidders)]
            hold_id, bid_id = bench_id("hld"), bench_id("bid")
            src = self.account("party", investor, "available")
            frz = self.account("party", investor, "frozen")
            frozen[frz] = frozen.get(frz, 0) + bid_minor
            hold_rows.append(
                {
                    "id": hold_id,
                    "owner_id": investor,
                    "currency": CUR,
                    "amount": bid_minor,
                    "source_account_id": src,
                    "frozen_account_id": frz,
                    "destination_account_id": dest,
                    "reference": listing_id,
                    "reason": "bid",
                    "state": "open",
                    "posted_amount": 0,
                    "created_at": self.now,
                    "expires_at": None,
                    "resolved_at": None,
                }
            )
            bid_rows.append(
                {
                    "id": bid_id,
                    "listing_id": listing_id,
                    "investor_id": investor,
                    "seq": k + 1,
                    "requested": bid_minor,
                    "amount": bid_minor,
                    "filled": 0,
                    "rate": None,
                    "hold_id": hold_id,
                    "state": S.BID_OPEN,
                    "auto": False,
                    "created_at": self.now,
                }
            )
        insert_many(conn, holds, hold_rows)
        insert_many(conn, bids, bid_rows)
        self.fund(conn, frozen, f"bench:listing:{listing_id}")
        return listing_id

    # -- loans --------------------------------------------------------------------------------

    def loans(
        self,
        conn: Connection,
        n: int,
        investors: Sequence[str],
        per_loan: int,
        due_on: date,
        *,
        due: bool,
        principal_minor: int = 1_200_000,
        rate: str = "0.12",
        funded: bool = True,
    ) -> list[str]:
        """``n`` active loans of ``per_loan`` equal positions each; with ``due``, installment 1 is
        due on ``due_on`` and the borrower holds exactly that amount (nothing if not ``funded``:
        the installment stays unpaid); otherwise it falls due 20 days after ``due_on``."""
        start = add_months(due_on, -1) if due else due_on - timedelta(days=10)
        schedule = build_schedule(
            Decimal(principal_minor) / 100, rate, 12, "equal-installment", start_date=start
        )
        first = schedule.installments[0]
        first_due = first.principal.minor + first.interest.minor
        borrowers = self.parties(conn, n, "Bench borrower", kind="enterprise")
        loan_ids = [bench_id("loan") for _ in range(n)]
        listing_ids = [bench_id("lst") for _ in range(n)]
        self._accounts(
            conn,
            [("listing", lid, "listing", False) for lid in listing_ids]
            + [("loan", loan_id, "loan", False) for loan_id in loan_ids],
        )
        share = principal_minor // per_loan
        assert share * per_loan == principal_minor, "principal must split evenly"
        listing_rows, loan_rows = [], []
        for b, lid, loan_id in zip(borrowers, listing_ids, loan_ids, strict=True):
            listing_rows.append(
                {
                    "id": lid,
                    "borrower_id": b,
                    "product": "online",
                    "currency": CUR,
                    "amount": principal_minor,
                    "months": 12,
                    "method": "equal-installment",
                    "bidding": "fixed",
                    "clearing": "own",
                    "annual_rate": rate,
                    "max_rate": None,
                    "min_bid": 1,
                    "max_bid": None,
                    "window_days": 7,
                    "state": S.DISBURSED,
                    "grade": "A",
                    "reason": None,
                    "bid_total": principal_minor,
                    "bid_count": per_loan,
                    "account_id": self.account("listing", lid, "listing"),
                    "created_at": self.now,
                    "published_at": self.now,
                    "closes_at": self.now,
                    "funded_at": self.now,
                }
            )
            loan_rows.append(
                {
                    "id": loan_id,
                    "listing_id": lid,
                    "borrower_id": b,
                    "product": "online",
                    "currency": CUR,
                    "principal": principal_minor,
                    "annual_rate": rate,
                    "months": 12,
                    "method": "equal-installment",
                    "start_date": start,
                    "state": S.ACTIVE,
                    "outstanding_principal": principal_minor,
                    "account_id": self.account("loan", loan_id, "loan"),
                    "reviewer": "bench",
                    "created_at": self.now,
                    "closed_at": None,
                }
            )
        insert_many(conn, listings, listing_rows)
        insert_many(conn, loans, loan_rows)
        del listing_rows, loan_rows
        inst_rows: list[dict[str, Any]] = []
        for loan_id in loan_ids:
            for i in schedule.installments:
                inst_rows.append(
                    {
                        "loan_id": loan_id,
                        "period": i.period,
                        "due_date": i.due_date,
                        "principal": i.principal.minor,
                        "interest": i.interest.minor,
                        "paid_principal": 0,
                        "paid_interest": 0,
                        "penalty": 0,
                        "paid_penalty": 0,
                        "penalty_through": None,
                        "state": S.INST_PENDING,
                    }
                )
            if len(inst_rows) >= CHUNK:
                conn.execute(installments.insert(), inst_rows)
                inst_rows = []
        if inst_rows:
            conn.execute(installments.insert(), inst_rows)
        pos_rows: list[dict[str, Any]] = []
        k = 0
        for loan_id in loan_ids:
            for seq in range(1, per_loan + 1):
                holder = investors[k % len(investors)]
                k += 1
                pos_rows.append(
                    {
                        "id": bench_id("pos"),
                        "loan_id": loan_id,
                        "investor_id": holder,
                        "bid_id": bench_id("bid"),
                        "seq": seq,
                        "principal": share,
                        "annual_rate": rate,
                        "received_principal": 0,
                        "received_interest": 0,
                        "received_penalty": 0,
                        "fees_paid": 0,
                        "holder_id": holder,
                    }
                )
            if len(pos_rows) >= CHUNK:
                conn.execute(positions.insert(), pos_rows)
                pos_rows = []
        if pos_rows:
            conn.execute(positions.insert(), pos_rows)
        if due and funded:
            self.fund(
                conn,
                {self.account("party", b, "available"): first_due for b in borrowers},
                f"bench:borrowers:{loan_ids[0]}",
            )
        return loan_ids

"""lendkit's tables (SQLAlchemy Core), all prefixed ``lendkit_``.

Every amount is a ``BigInteger`` count of the currency's minor units; rates are exact decimal text.
Frozen attrs records are not ORM rows: repositories convert between the two.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

ID = String(40)
RATE = String(40)
Amount = BigInteger


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: lendkit stores aware UTC times")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _ts(name: str, nullable: bool = False) -> Column[datetime]:
    return Column(name, UtcDateTime(), nullable=nullable)


# --- ledger and custody -----------------------------------------------------------------------

accounts = Table(
    "lendkit_accounts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("code", String(200), nullable=False, unique=True),
    Column("owner_kind", String(20), nullable=False),
    Column("owner_id", String(64), nullable=False),
    Column("purpose", String(32), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("allow_negative", Boolean, nullable=False, default=False),
    Column("balance", Amount, nullable=False, default=0),
)

ledger_head = Table(
    "lendkit_ledger_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
)

journal_entries = Table(
    "lendkit_journal_entries",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("kind", String(40), nullable=False),
    Column("reference", String(200), nullable=False),
    Column("memo", String(400), nullable=False, default=""),
    _ts("created_at"),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    # hashed with the entry when not empty: e.g. a hold's routing on its freeze entry
    Column("detail", String(400), nullable=False, default=""),
)

postings = Table(
    "lendkit_postings",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("entry_seq", BigInteger, ForeignKey("lendkit_journal_entries.seq"), nullable=False),
    Column("account_id", Integer, ForeignKey("lendkit_accounts.id"), nullable=False),
    Column("amount", Amount, nullable=False),
    Index("ix_lendkit_postings_entry_seq", "entry_seq"),
    Index("ix_lendkit_postings_account_id", "account_id"),
)

holds = Table(
    "lendkit_holds",
    metadata,
    Column("id", ID, primary_key=True),
    Column("owner_id", String(64), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("amount", Amount, nullable=False),
    Column("source_account_id", Integer, ForeignKey("lendkit_accounts.id"), nullable=False),
    Column("frozen_account_id", Integer, ForeignKey("lendkit_accounts.id"), nullable=False),
    Column("destination_account_id", Integer, ForeignKey("lendkit_accounts.id"), nullable=False),
    Column("reference", String(200), nullable=False),
    Column("reason", String(40), nullable=False),
    Column("state", String(10), nullable=False),
    Column("posted_amount", Amount, nullable=False, default=0),
    _ts("created_at"),
    _ts("expires_at", nullable=True),
    _ts("resolved_at", nullable=True),
    Index("ix_lendkit_holds_state_expires", "state", "expires_at"),
    Index("ix_lendkit_holds_reference", "reference"),
    Index("ix_lendkit_holds_frozen_account_id", "frozen_account_id"),
)

external_movements = Table(
    "lendkit_external_movements",
    metadata,
    Column("id", ID, primary_key=True),
    Column("gateway", String(40), nullable=False),
    Column("party_id", String(64), nullable=False),
    Column("kind", String(12), nullable=False),  # deposit | withdrawal | refund
    Column("currency", String(3), nullable=False),
    Column("amount", Amount, nullable=False),
    Column("state", String(10), nullable=False),  # pending | completed | failed
    Column("external_ref", String(200), nullable=True),
    Column("hold_id", ID, nullable=True),
    _ts("created_at"),
    _ts("completed_at", nullable=True),
    Index("ix_lendkit_external_movements_completed_at", "completed_at"),
)

#: calls to the outside world (the custody gateway's bank), recorded in the command's transaction
#: and sent after commit; ``id`` is the movement id the gateway receives (deterministic per command)
outbox = Table(
    "lendkit_outbox",
    metadata,
    Column("id", ID, primary_key=True),
    Column("kind", String(20), nullable=False),  # deposit | withdrawal
    Column("state", String(10), nullable=False),  # pending | sent
    Column("attempts", Integer, nullable=False, default=0),
    _ts("created_at"),
    _ts("claimed_at", nullable=True),
    _ts("sent_at", nullable=True),
    Index("ix_lendkit_outbox_state", "state"),
)

idempotency = Table(
    "lendkit_idempotency",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("command", String(60), nullable=False),
    Column("payload_hash", String(64), nullable=False),
    Column("status", String(10), nullable=False),  # ok | failed
    Column("response", Text, nullable=True),
    Column("error_type", String(80), nullable=True),
    Column("error_message", Text, nullable=True),
    _ts("created_at"),
)

# --- parties ----------------------------------------------------------------------------------

parties = Table(
    "lendkit_parties",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("kind", String(12), nullable=False),
    Column("risk_level", Integer, nullable=True),
    Column("credit_score", Integer, nullable=True),
    Column("grade", String(4), nullable=True),
    Column("credit_line", Amount, nullable=False, default=0),
    Column("credit_used", Amount, nullable=False, default=0),
    Column("currency", String(3), nullable=False),
    _ts("created_at"),
)

verifications = Table(
    "lendkit_verifications",
    metadata,
    Column("party_id", ID, ForeignKey("lendkit_parties.id"), primary_key=True),
    Column("check", String(20), primary_key=True),  # id_card | phone | email | documents
    Column("state", String(10), nullable=False),  # pending | verified | rejected
    Column("detail", String(400), nullable=False, default=""),
    _ts("updated_at"),
)

rating_reports = Table(
    "lendkit_rating_reports",
    metadata,
    Column("id", ID, primary_key=True),
    Column("party_id", ID, ForeignKey("lendkit_parties.id"), nullable=False),
    Column("agency", String(100), nullable=False),
    Column("grade", String(4), nullable=False),
    Column("accepted", Boolean, nullable=False),
    _ts("created_at"),
)

# --- listings and bids ------------------------------------------------------------------------

listings = Table(
    "lendkit_listings",
    metadata,
    Column("id", ID, primary_key=True),
    Column("borrower_id", ID, ForeignKey("lendkit_parties.id"), nullable=False),
    Column("product", String(40), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("amount", Amount, nullable=False),
    Column("months", Integer, nullable=False),
    Column("method", String(20), nullable=False),
    Column("bidding", String(10), nullable=False),  # fixed | auction
    Column("clearing", String(10), nullable=False),  # own | uniform (auction)
    Column("annual_rate", RATE, nullable=True),
    Column("max_rate", RATE, nullable=True),
    Column("min_bid", Amount, nullable=False),
    Column("max_bid", Amount, nullable=True),
    Column("window_days", Integer, nullable=False),
    Column("state", String(12), nullable=False),
    Column("grade", String(4), nullable=True),
    Column("reason", String(400), nullable=True),
    Column("bid_total", Amount, nullable=False, default=0),
    Column("bid_count", Integer, nullable=False, default=0),
    Column("account_id", Integer, ForeignKey("lendkit_accounts.id"), nullable=True),
    _ts("created_at"),
    _ts("published_at", nullable=True),
    _ts("closes_at", nullable=True),
    _ts("funded_at", nullable=True),
    Index("ix_lendkit_listings_state_closes", "state", "closes_at"),
)

bids = Table(
    "lendkit_bids",
    metadata,
    Column("id", ID, primary_key=True),
    Column("listing_id", ID, ForeignKey("lendkit_listings.id"), nullable=False),
    Column("investor_id", ID, ForeignKey("lendkit_parties.id"), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("requested", Amount, nullable=False),
    Column("amount", Amount, nullable=False),
    Column("filled", Amount, nullable=False, default=0),
    Column("rate", RATE, nullable=True),
    Column("hold_id", ID, nullable=False),
    Column("state", String(10), nullable=False),  # open | won | lost | voided | posted
    Column("auto", Boolean, nullable=False, default=False),
    _ts("created_at"),
    Index("ix_lendkit_bids_listing_seq", "listing_id", "seq"),
)

autobid_rules = Table(
    "lendkit_autobid_rules",
    metadata,
    Column("id", ID, primary_key=True),
    Column("investor_id", ID, ForeignKey("lendkit_parties.id"), nullable=False),
    Column("min_rate", RATE, nullable=False),
    Column("max_rate", RATE, nullable=False),
    Column("min_months", Integer, nullable=False),
    Column("max_months", Integer, nullable=False),
    Column("grades", String(60), nullable=False),
    Column("amount", Amount, nullable=False),
    Column("keep_balance", Amount, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("last_used_seq", BigInteger, nullable=False, default=0),
    Column("seq", BigInteger, nullable=False),
    _ts("created_at"),
)

# --- loans --------------------------------------------------------------------------------------

loans = Table(
    "lendkit_loans",
    metadata,
    Column("id", ID, primary_key=True),
    Column("listing_id", ID, ForeignKey("lendkit_listings.id"), nullable=False, unique=True),
    Column("borrower_id", ID, ForeignKey("lendkit_parties.id"), nullable=False),
    Column("product", String(40), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("principal", Amount, nullable=False),
    Column("annual_rate", RATE, nullable=False),
    Column("months", Integer, nullable=False),
    Column("method", String(20), nullable=False),
    Column("start_date", Date, nullable=False),
    Column("state", String(12), nullable=False),
    Column("outstanding_principal", Amount, nullable=False),
    Column("account_id", Integer, ForeignKey("lendkit_accounts.id"), nullable=False),
    Column("reviewer", String(100), nullable=True),
    _ts("created_at"),
    _ts("closed_at", nullable=True),
    #: the product's day-count basis (30/360, ACT/360, ACT/365) for interest to date and penalty
    Column("day_count", String(8), nullable=False, server_default="ACT/360"),
    Index("ix_lendkit_loans_state", "state"),
)

installments = Table(
    "lendkit_installments",
    metadata,
    Column("loan_id", ID, ForeignKey("lendkit_loans.id"), primary_key=True),
    Column("period", Integer, primary_key=True),
    Column("due_date", Date, nullable=False),
    Column("principal", Amount, nullable=False),
    Column("interest", Amount, nullable=False),
    Column("paid_principal", Amount, nullable=False, default=0),
    Column("paid_interest", Amount, nullable=False, default=0),
    Column("penalty", Amount, nullable=False, default=0),
    Column("paid_penalty", Amount, nullable=False, default=0),
    Column("penalty_through", Date, nullable=True),
    #: sum over the days penalty accrued of the overdue base (minor units x days): the penalty
    #: to date is this x the daily rate, rounded once
    Column("penalty_base_days", Amount, nullable=False, default=0),
    Column("covered_principal", Amount, nullable=False, default=0),
    Column("covered_interest", Amount, nullable=False, default=0),
    Column("recovered_principal", Amount, nullable=False, default=0),
    Column("recovered_interest", Amount, nullable=False, default=0),
    Column("state", String(10), nullable=False),  # pending | paid | overdue
    _ts("paid_at", nullable=True),
    Index("ix_lendkit_installments_due", "state", "due_date"),
)

#: the accrual state of an open-ended loan (method ``open-ended``): one row per such loan
open_ended_loans = Table(
    "lendkit_open_ended_loans",
    metadata,
    Column("loan_id", ID, ForeignKey("lendkit_loans.id"), primary_key=True),
    Column("basis", String(8), nullable=False),  # 30/360 | ACT/360 | ACT/365
    Column("settle_day", Integer, nullable=True),  # monthly on this day, or
    Column("settle_every_days", Integer, nullable=True),  # every this many days
    Column("maturity_date", Date, nullable=False),
    #: interest has accrued for every day before this date
    Column("accrued_through", Date, nullable=False),
    #: sum over the days accrued of the outstanding principal (minor units) x the day count, as
    #: exact integer text (it may exceed 64 bits): the interest to date is this x rate / year
    #: days, rounded once
    Column("base_days", String(60), nullable=False),
    #: the interest put on settlement rows so far (minor units)
    Column("interest_settled", Amount, nullable=False),
    #: the last date interest settled (the start date before the first settlement)
    Column("settled_through", Date, nullable=False),
    Index("ix_lendkit_open_ended_loans_due", "accrued_through"),
)

positions = Table(
    "lendkit_positions",
    metadata,
    Column("id", ID, primary_key=True),
    Column("loan_id", ID, ForeignKey("lendkit_loans.id"), nullable=False),
    Column("investor_id", ID, ForeignKey("lendkit_parties.id"), nullable=False),
    Column("bid_id", ID, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("principal", Amount, nullable=False),
    Column("annual_rate", RATE, nullable=False),
    Column("received_principal", Amount, nullable=False, default=0),
    Column("received_interest", Amount, nullable=False, default=0),
    Column("received_penalty", Amount, nullable=False, default=0),
    Column("fees_paid", Amount, nullable=False, default=0),
    Column("holder_id", ID, nullable=False),
    #: the position's weight in the loan's interest (x rate) and, once the loan is repaid, in
    #: penalty: NULL is ``principal``; a transfer splits it between seller and buyer (0009)
    Column("weight", Amount, nullable=True),
    #: outstanding principal this position sold on the secondary market: outstanding is
    #: ``principal - received_principal - sold_principal``
    Column("sold_principal", Amount, nullable=False, default=0, server_default="0"),
    #: the transfer this position was bought in (NULL: a winning bid made it)
    Column("transfer_id", ID, nullable=True),
    #: the day the holder acquired it (NULL: the loan's start date), for the holding period
    Column("acquired_on", Date, nullable=True),
    Index("ix_lendkit_positions_loan", "loan_id", "seq"),
    Index("ix_lendkit_positions_investor", "investor_id"),
)

agreements = Table(
    "lendkit_agreements",
    metadata,
    Column("id", ID, primary_key=True),
    Column("loan_id", ID, ForeignKey("lendkit_loans.id"), nullable=False),
    Column("position_id", ID, nullable=False),
    Column("investor_id", ID, nullable=False),
    Column("borrower_id", ID, nullable=False),
    Column("terms", Text, nullable=False),
    _ts("created_at"),
    Index("ix_lendkit_agreements_loan", "loan_id"),
)

payments = Table(
    "lendkit_payments",
    metadata,
    Column("id", ID, primary_key=True),
    Column("loan_id", ID, ForeignKey("lendkit_loans.id"), nullable=False),
    Column("kind", String(12), nullable=False),  # installment | partial | prepayment | cob
    Column("amount", Amount, nullable=False),
    Column("penalty", Amount, nullable=False),
    Column("interest", Amount, nullable=False),
    Column("principal", Amount, nullable=False),
    Column("fee", Amount, nullable=False),
    Column("paid_on", Date, nullable=False),
    Column("entry_seq", BigInteger, nullable=True),
    _ts("created_at"),
    # the party whose available balance paid; NULL: not a party's account, or booked before 0006
    Column("payer_id", ID, nullable=True),
    Index("ix_lendkit_payments_loan", "loan_id"),
)

cob_runs = Table(
    "lendkit_cob_runs",
    metadata,
    Column("run_date", Date, primary_key=True),
    Column("shard", String(12), primary_key=True),
    Column("state", String(10), nullable=False),  # running | done
    Column("collected", Integer, nullable=False, default=0),
    Column("overdue", Integer, nullable=False, default=0),
    _ts("started_at"),
    _ts("finished_at", nullable=True),
)

cob_steps = Table(
    "lendkit_cob_steps",
    metadata,
    Column("run_date", Date, primary_key=True),
    Column("loan_id", ID, primary_key=True),
    Column("step", String(20), primary_key=True),
    _ts("done_at"),
)


claims = Table(
    "lendkit_claims",
    metadata,
    Column("id", ID, primary_key=True),
    Column("loan_id", ID, ForeignKey("lendkit_loans.id"), nullable=False),
    Column("period", Integer, nullable=False),
    Column("account_id", Integer, ForeignKey("lendkit_accounts.id"), nullable=False),
    Column("reason", String(40), nullable=False),
    Column("principal", Amount, nullable=False),
    Column("interest", Amount, nullable=False),
    Column("recovered_principal", Amount, nullable=False, default=0),
    Column("recovered_interest", Amount, nullable=False, default=0),
    _ts("created_at"),
    Index("ix_lendkit_claims_loan_period", "loan_id", "period"),
)


# --- secondary market (debt transfer, 债权转让) ----------------------------------------------------

#: an offer to sell outstanding principal of a loan's positions held by ``seller_id``
transfers = Table(
    "lendkit_transfers",
    metadata,
    Column("id", ID, primary_key=True),
    Column("loan_id", ID, ForeignKey("lendkit_loans.id"), nullable=False),
    Column("seller_id", ID, ForeignKey("lendkit_parties.id"), nullable=False),
    Column("currency", String(3), nullable=False),
    #: principal offered, and the price asked for all of it (minor units)
    Column("principal", Amount, nullable=False),
    Column("price", Amount, nullable=False),
    #: principal bought so far, and what buyers paid of the price for it
    Column("sold", Amount, nullable=False, default=0),
    Column("price_paid", Amount, nullable=False, default=0),
    #: the seller's positions acquired on or before this day are the ones on sale
    Column("held_since", Date, nullable=False),
    Column("state", String(10), nullable=False),  # open | filled | expired | cancelled
    _ts("created_at"),
    _ts("expires_at"),
    _ts("closed_at", nullable=True),
    Index("ix_lendkit_transfers_loan_state", "loan_id", "state"),
    Index("ix_lendkit_transfers_state_expires", "state", "expires_at"),
)

#: one settled purchase from a transfer: the transfer agreement (债权转让协议)
transfer_fills = Table(
    "lendkit_transfer_fills",
    metadata,
    Column("id", ID, primary_key=True),
    Column("transfer_id", ID, ForeignKey("lendkit_transfers.id"), nullable=False),
    Column("loan_id", ID, ForeignKey("lendkit_loans.id"), nullable=False),
    Column("seller_id", ID, nullable=False),
    Column("buyer_id", ID, nullable=False),
    Column("principal", Amount, nullable=False),
    Column("price", Amount, nullable=False),
    Column("accrued_interest", Amount, nullable=False),
    Column("fee", Amount, nullable=False),
    Column("hold_id", ID, nullable=False),
    Column("settled_on", Date, nullable=False),
    _ts("created_at"),
    Index("ix_lendkit_transfer_fills_transfer", "transfer_id"),
    Index("ix_lendkit_transfer_fills_loan", "loan_id"),
)


# --- staff and the audit trail -----------------------------------------------------------------

#: staff members and their roles (``platform.staff``); roles are comma-separated, sorted
staff = Table(
    "lendkit_staff",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("roles", String(400), nullable=False),
    Column("active", Boolean, nullable=False, default=True),
    _ts("created_at"),
    _ts("updated_at"),
)

#: the head of each audit chain (``lendkit.core.access.AUDIT_CHAINS`` rows, made at upgrade)
audit_chains = Table(
    "lendkit_audit_chains",
    metadata,
    Column("chain", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
)

#: every mutating command, refused or not, hash-chained per subject chain
audit_log = Table(
    "lendkit_audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("chain", Integer, nullable=False),
    Column("seq", BigInteger, nullable=False),
    _ts("at"),
    Column("actor", String(60), nullable=False),
    Column("action", String(80), nullable=False),
    Column("subject", String(120), nullable=False),
    Column("args_digest", String(64), nullable=False),
    Column("outcome", String(10), nullable=False),  # ok | refused | replayed
    Column("error_type", String(80), nullable=True),
    Column("idempotency_key", String(200), nullable=True),
    Column("hash", String(64), nullable=False),
    UniqueConstraint("chain", "seq"),
    Index("ix_lendkit_audit_log_subject", "subject", "id"),
    Index("ix_lendkit_audit_log_actor", "actor", "id"),
)

# --- the database's own settings -------------------------------------------------------------

#: key/value settings the database keeps about itself: ``plugins`` is the JSON list of the plugin
#: names it was created or last upgraded with (see ``lendkit.store.schema.remembered_plugins``)
meta = Table(
    "lendkit_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
    _ts("updated_at"),
)

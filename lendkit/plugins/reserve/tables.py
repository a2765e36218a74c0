"""The ``reserve`` plugin's own tables (amounts in integer minor units, rates as decimal text)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
)

metadata = MetaData()

#: loans the reserve covers and what each contributed: pending (listing) -> open (loan) -> closed
loans = Table(
    "lendkit_reserve_loans",
    metadata,
    Column("listing_id", String(40), primary_key=True),
    Column("loan_id", String(40), nullable=True, unique=True),
    Column("grade", String(4), nullable=True),
    Column("principal", BigInteger, nullable=False),
    Column("rate", String(20), nullable=False),
    Column("contribution", BigInteger, nullable=False),
    Column("source", String(10), nullable=False),  # borrower | fees
    Column("outstanding", BigInteger, nullable=False),
    Column("state", String(10), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

#: claims the reserve took on, one per installment; ``open`` ones are the queue (shortfall)
claims = Table(
    "lendkit_reserve_claims",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("loan_id", String(40), nullable=False),
    Column("period", Integer, nullable=False),
    Column("queued_on", Date, nullable=False),
    Column("principal", BigInteger, nullable=False),
    Column("interest", BigInteger, nullable=False),
    Column("paid_principal", BigInteger, nullable=False),
    Column("paid_interest", BigInteger, nullable=False),
    Column("state", String(10), nullable=False),  # open | paid | closed
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("loan_id", "period", name="uq_lendkit_reserve_claims_loan_period"),
    Index("ix_lendkit_reserve_claims_state", "state", "queued_on", "id"),
)

#: every movement of the fund the plugin booked: seed, contribution, payout
movements = Table(
    "lendkit_reserve_movements",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("loan_id", String(40), nullable=True),
    Column("period", Integer, nullable=True),
    Column("claim_id", Integer, nullable=True),
    Column("reference", String(80), nullable=False),
    Column("booked_on", Date, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_lendkit_reserve_movements_kind", "kind"),
)

#: a single row locked (PostgreSQL) while the fund pays, so two transactions never settle at once
lock = Table(
    "lendkit_reserve_lock",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
)

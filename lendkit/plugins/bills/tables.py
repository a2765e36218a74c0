"""The ``bills`` plugin's tables: bills, the platform-wide bill numbers, endorsements, recourse.

Amounts are integer minor units (BigInteger). ``lendkit_bills_numbers`` has one row per bill
number (its primary key): claiming a number for a listing inserts it, so of two listings racing
for one number exactly one wins, on SQLite and PostgreSQL alike. A paid or withdrawn bill's row
stays (``state`` ``retained``) until ``held_until``; only then may a new listing take it over, by
one guarded UPDATE.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "pk": "pk_%(table_name)s",
    }
)

bills = Table(
    "lendkit_bills_bills",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("number", String(64), nullable=False, index=True),
    Column("currency", String(3), nullable=False),
    Column("face", BigInteger, nullable=False),
    Column("drawer_id", String(40), nullable=False),
    Column("acceptor_id", String(40), nullable=False, index=True),
    Column("issue_date", Date, nullable=False),
    Column("maturity", Date, nullable=False),
    Column("penalty_rate", String(40), nullable=False),
    Column("verified_by", String(200), nullable=True),
    Column("pledged_to", String(200), nullable=True),
    Column("state", String(12), nullable=False),
    Column("listing_id", String(40), nullable=True, unique=True),
    Column("loan_id", String(40), nullable=True, unique=True),
    Column("discount_rate", String(40), nullable=True),
    Column("basis", String(8), nullable=True),
    Column("price", BigInteger, nullable=True),
    Column("priced_on", Date, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("closed_on", Date, nullable=True),
)

numbers = Table(
    "lendkit_bills_numbers",
    metadata,
    Column("number", String(64), primary_key=True),
    Column("bill_id", String(40), nullable=False),
    Column("listing_id", String(40), nullable=True),
    Column("state", String(12), nullable=False),
    Column("held_until", Date, nullable=True),
)

endorsements = Table(
    "lendkit_bills_endorsements",
    metadata,
    Column("bill_id", String(40), primary_key=True),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("endorser", String(200), nullable=False),
)

recourse = Table(
    "lendkit_bills_recourse",
    metadata,
    Column("payment_id", String(40), primary_key=True),
    Column("bill_id", String(40), nullable=False, index=True),
    Column("payer_id", String(40), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("paid_on", Date, nullable=False),
)

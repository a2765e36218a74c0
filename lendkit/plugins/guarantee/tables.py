"""The ``guarantee`` plugin's own tables (amounts in integer minor units, rates as decimal text)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
)

metadata = MetaData()

#: guarantee companies and offline-origination partners (小贷公司)
guarantors = Table(
    "lendkit_guarantee_guarantors",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("party_id", String(40), nullable=False),
    Column("kind", String(12), nullable=False),  # company | partner
    Column("currency", String(3), nullable=False),
    Column("capital", BigInteger, nullable=False),
    Column("leverage", String(20), nullable=False),
    Column("fee_rate", String(20), nullable=False),
    Column("deposit_rate", String(20), nullable=False),
    Column("liability", String(10), nullable=False),  # joint | general
    Column("after_days", Integer, nullable=False),
    Column("cover", String(24), nullable=False),  # principal_and_interest | principal
    Column("created_at", DateTime(timezone=True), nullable=False),
)

#: declared control relations: ``controller`` (a party id or ``platform``) controls ``controlled``
controls = Table(
    "lendkit_guarantee_controls",
    metadata,
    Column("controller", String(40), primary_key=True),
    Column("controlled", String(40), primary_key=True),
    Column("declared_at", DateTime(timezone=True), nullable=False),
)

#: borrowers a partner recommended (offline origination); the partner may guarantee only these
recommendations = Table(
    "lendkit_guarantee_recommendations",
    metadata,
    Column("partner_id", String(40), primary_key=True),
    Column("borrower_id", String(40), primary_key=True),
    Column("recommended_at", DateTime(timezone=True), nullable=False),
)

#: one guarantee per listing, then per loan: pending -> committed -> active -> closed (or released)
guarantees = Table(
    "lendkit_guarantee_guarantees",
    metadata,
    Column("listing_id", String(40), primary_key=True),
    Column("guarantor_id", String(40), nullable=False),
    Column("borrower_id", String(40), nullable=False),
    Column("loan_id", String(40), nullable=True, unique=True),
    Column("amount", BigInteger, nullable=False),
    Column("liability", String(10), nullable=False),
    Column("after_days", Integer, nullable=False),
    Column("cover", String(24), nullable=False),
    Column("fee_rate", String(20), nullable=False),
    Column("deposit_rate", String(20), nullable=False),
    Column("state", String(12), nullable=False),
    Column("fee", BigInteger, nullable=False),
    Column("outstanding", BigInteger, nullable=False),
    Column("frozen", BigInteger, nullable=False),
    Column("defaulted", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_lendkit_guarantee_guarantees_guarantor", "guarantor_id", "state"),
)

#: every compensation (代偿) a guarantor paid to investors
payouts = Table(
    "lendkit_guarantee_payouts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("guarantor_id", String(40), nullable=False),
    Column("loan_id", String(40), nullable=False),
    Column("period", Integer, nullable=True),
    Column("principal", BigInteger, nullable=False),
    Column("interest", BigInteger, nullable=False),
    Column("paid_on", Date, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_lendkit_guarantee_payouts_guarantor", "guarantor_id"),
)

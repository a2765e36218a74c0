"""The ``insurance`` plugin's tables: insurers, policies and the claims they paid.

Amounts are integer minor units (BigInteger). ``insurers.exposure`` is the sum insured of the
insurer's pending and in-force policies; it only grows through a guarded single-statement update
(``exposure + x <= capacity``), so concurrent policies can never push it above the capacity.
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

insurers = Table(
    "lendkit_insurance_insurers",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("party_id", String(40), nullable=True),
    Column("currency", String(3), nullable=False),
    Column("capacity", BigInteger, nullable=False),
    Column("exposure", BigInteger, nullable=False),
    Column("funded", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

policies = Table(
    "lendkit_insurance_policies",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("insurer_id", String(40), nullable=False, index=True),
    Column("kind", String(10), nullable=False),
    Column("listing_id", String(40), nullable=True, index=True),
    Column("loan_id", String(40), nullable=True, index=True),
    Column("subject", String(200), nullable=True),
    Column("sum_insured", BigInteger, nullable=False),
    Column("premium_rate", String(20), nullable=False),
    Column("premium", BigInteger, nullable=False),
    Column("premium_collected", BigInteger, nullable=False),
    Column("payer", String(12), nullable=False),
    Column("trigger_days", Integer, nullable=True),
    Column("cover_interest", Integer, nullable=False),
    Column("total_interest", BigInteger, nullable=False),
    Column("claims_paid", BigInteger, nullable=False),
    Column("state", String(10), nullable=False),
    Column("defaulted", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

claims = Table(
    "lendkit_insurance_claims",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("policy_id", String(40), nullable=False, index=True),
    Column("loan_id", String(40), nullable=True),
    Column("period", Integer, nullable=True),
    Column("reason", String(40), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("paid_on", Date, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

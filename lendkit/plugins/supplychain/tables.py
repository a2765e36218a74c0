"""The ``supplychain`` plugin's own tables (amounts in integer minor units)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    MetaData,
    String,
    Table,
)

metadata = MetaData()

#: core enterprises (核心企业): credit limit across all their suppliers' receivables; ``used`` is
#: what approved listings and open loans count against it (guarded: ``used <= credit_limit``)
core_enterprises = Table(
    "lendkit_supplychain_core_enterprises",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("party_id", String(40), nullable=False),
    Column("industry", String(60), nullable=False),
    Column("confirmation", String(12), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("credit_limit", BigInteger, nullable=False),
    Column("used", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

#: one row per industry: locked while an approval checks the industry's share
industries = Table(
    "lendkit_supplychain_industries",
    metadata,
    Column("name", String(60), primary_key=True),
    Column("used", BigInteger, nullable=False),
)

#: receivables a supplier finances, one listing each
receivables = Table(
    "lendkit_supplychain_receivables",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("listing_id", String(40), nullable=False, unique=True),
    Column("core_enterprise_id", String(40), nullable=False),
    Column("supplier_id", String(40), nullable=False),
    Column("invoice_number", String(64), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("due_date", Date, nullable=False),
    # submitted | confirmed | disputed | cancelled
    Column("state", String(12), nullable=False),
    # none | committed | active | closed | released
    Column("stage", String(12), nullable=False),
    Column("exposure", BigInteger, nullable=False),
    Column("loan_id", String(40), nullable=True),
    Column("overdue", Boolean, nullable=False),
    Column("reference", String(200), nullable=True),
    Column("dispute_reason", String(400), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("confirmed_at", DateTime(timezone=True), nullable=True),
    Index("ix_lendkit_supplychain_receivables_core", "core_enterprise_id"),
    Index("ix_lendkit_supplychain_receivables_loan", "loan_id"),
)

#: an invoice financed by a live receivable (deleted when that receivable is cancelled or its
#: listing ends unfunded): the primary key makes a duplicate impossible even under concurrency
invoices = Table(
    "lendkit_supplychain_invoices",
    metadata,
    Column("core_enterprise_id", String(40), primary_key=True),
    Column("invoice_number", String(64), primary_key=True),
    Column("receivable_id", String(40), nullable=False),
)

#: per investor and core enterprise: open bids plus outstanding principal (guarded by the cap)
investor_limits = Table(
    "lendkit_supplychain_investor_limits",
    metadata,
    Column("investor_id", String(40), primary_key=True),
    Column("core_enterprise_id", String(40), primary_key=True),
    Column("used", BigInteger, nullable=False),
)

#: per listing and investor: the open bids, then the position's outstanding principal
holdings = Table(
    "lendkit_supplychain_holdings",
    metadata,
    Column("listing_id", String(40), primary_key=True),
    Column("investor_id", String(40), primary_key=True),
    Column("core_enterprise_id", String(40), nullable=False),
    Column("amount", BigInteger, nullable=False),
)

"""The ``leasing`` plugin's own tables (amounts in integer minor units)."""

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

#: leasing companies (融资租赁公司): a registered party each
lessors = Table(
    "lendkit_leasing_lessors",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("party_id", String(40), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

#: lessees (承租人): a registered party each
lessees = Table(
    "lendkit_leasing_lessees",
    metadata,
    Column("party_id", String(40), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

#: leased assets: ``owner_id`` is the party that owns it now (the supplier or the lessee before
#: the lease, the lessor during it, the lessee after the buy-out, a buyer after a sale)
assets = Table(
    "lendkit_leasing_assets",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("kind", String(60), nullable=False),
    Column("serial", String(64), nullable=False, unique=True),
    Column("currency", String(3), nullable=False),
    Column("value", BigInteger, nullable=False),
    Column("owner_id", String(40), nullable=False),
    # available | leased | repossessed | sold
    Column("state", String(12), nullable=False),
    Column("description", String(400), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

#: a serial under a live lease (deleted when the lease ends): the primary key makes a second
#: live lease on one serial impossible, also under concurrency
live_serials = Table(
    "lendkit_leasing_live_serials",
    metadata,
    Column("serial", String(64), primary_key=True),
    Column("lease_id", String(40), nullable=False),
)

#: leases: one listing each, then its loan (the lessee is the borrower)
leases = Table(
    "lendkit_leasing_leases",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("listing_id", String(40), nullable=True, unique=True),
    Column("loan_id", String(40), nullable=True),
    Column("lessor_id", String(40), nullable=False),
    Column("lessee_id", String(40), nullable=False),
    Column("asset_id", String(40), nullable=False),
    # direct | leaseback
    Column("form", String(12), nullable=False),
    Column("supplier_id", String(40), nullable=True),
    Column("currency", String(3), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("annual_rate", String(24), nullable=False),
    # monthly | quarterly | custom
    Column("frequency", String(12), nullable=False),
    Column("rents", Integer, nullable=False),
    Column("residual", BigInteger, nullable=False),
    Column("buy_back", Boolean, nullable=False),
    # filing | listed | active | bought_out | buyback_due | bought_back | repossessed | sold
    # | written_off | withdrawn
    Column("state", String(12), nullable=False),
    Column("missed", Integer, nullable=False),
    Column("bought_out_on", Date, nullable=True),
    Column("ended_on", Date, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_lendkit_leasing_leases_loan", "loan_id"),
    Index("ix_lendkit_leasing_leases_asset", "asset_id"),
)

#: a custom rent calendar: the rent dates in order, each a level rent (``amount`` NULL) or fixed
rent_rows = Table(
    "lendkit_leasing_rent_rows",
    metadata,
    Column("lease_id", String(40), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("due_date", Date, nullable=False),
    Column("amount", BigInteger, nullable=True),
)

#: the rents close of business found unpaid past their grace days, and the last day it did
missed_rents = Table(
    "lendkit_leasing_missed_rents",
    metadata,
    Column("lease_id", String(40), primary_key=True),
    Column("period", Integer, primary_key=True),
    Column("last_seen", Date, nullable=False),
)

#: who owned an asset from when (the ownership record: purchase, sale-leaseback, buy-out, sale)
ownership = Table(
    "lendkit_leasing_ownership",
    metadata,
    Column("asset_id", String(40), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("from_id", String(40), nullable=False),
    Column("to_id", String(40), nullable=False),
    Column("lease_id", String(40), nullable=True),
    Column("reason", String(20), nullable=False),
    Column("on_date", Date, nullable=False),
)

#: repossessed assets sold, and where the price went
sales = Table(
    "lendkit_leasing_sales",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("lease_id", String(40), nullable=False, unique=True),
    Column("loan_id", String(40), nullable=False),
    Column("buyer", String(200), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("price", BigInteger, nullable=False),
    Column("penalty", BigInteger, nullable=False),
    Column("interest", BigInteger, nullable=False),
    Column("principal", BigInteger, nullable=False),
    Column("surplus", BigInteger, nullable=False),
    Column("shortfall", BigInteger, nullable=False),
    Column("sold_on", Date, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

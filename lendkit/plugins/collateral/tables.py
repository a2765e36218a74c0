"""The ``collateral`` plugin's tables: the asset registry, pledges (liens), valuations, sales.

Amounts are integer minor units (BigInteger). ``pledges.active_key`` holds a digest of the
asset's identifier (40 hex digits; pledges made before it did hold the asset id) while a pledge
is live (pledged, active or being enforced) and is NULL once released or enforced: its UNIQUE
constraint is what makes a second live pledge of one identifier (重复抵押) impossible, whatever
kind the asset is registered as, also for two transactions racing (NULLs never collide on SQLite
or PostgreSQL).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "pk": "pk_%(table_name)s",
    }
)

assets = Table(
    "lendkit_collateral_assets",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("kind", String(30), nullable=False),
    Column("identifier", String(100), nullable=False),
    Column("owner_id", String(40), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("appraised_value", BigInteger, nullable=False),
    Column("appraised_on", Date, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("kind", "identifier", name="uq_lendkit_collateral_assets_kind"),
)

pledges = Table(
    "lendkit_collateral_pledges",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("asset_id", String(40), nullable=False, index=True),
    Column("listing_id", String(40), nullable=False, index=True),
    Column("loan_id", String(40), nullable=True, index=True),
    Column("state", String(12), nullable=False),
    Column("active_key", String(40), nullable=True, unique=True),
    Column("exposure", BigInteger, nullable=False),
    Column("breach", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("closed_on", Date, nullable=True),
)

valuations = Table(
    "lendkit_collateral_valuations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("asset_id", String(40), nullable=False, index=True),
    Column("value", BigInteger, nullable=False),
    Column("valued_on", Date, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

sales = Table(
    "lendkit_collateral_sales",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("loan_id", String(40), nullable=False, index=True),
    Column("currency", String(3), nullable=False),
    Column("proceeds", BigInteger, nullable=False),
    Column("costs", BigInteger, nullable=False),
    Column("penalty", BigInteger, nullable=False),
    Column("interest", BigInteger, nullable=False),
    Column("principal", BigInteger, nullable=False),
    Column("surplus", BigInteger, nullable=False),
    Column("sold_on", Date, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

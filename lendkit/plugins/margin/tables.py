"""The ``margin`` plugin's tables: margin accounts, their positions, pushed prices, trades.

Amounts are integer minor units (BigInteger); prices and ratios are exact decimal strings.
An account's cash is not here: it is the balance of its controlled trading account in the
ledger (``margin:<account id>:trading:<CUR>``).
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

accounts = Table(
    "lendkit_margin_accounts",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("trader_id", String(40), nullable=False, index=True),
    Column("currency", String(3), nullable=False),
    Column("margin", BigInteger, nullable=False),
    Column("leverage", Integer, nullable=False),
    Column("borrowed", BigInteger, nullable=False),
    Column("annual_rate", String(40), nullable=False),
    Column("state", String(12), nullable=False),
    Column("listing_id", String(40), nullable=True, unique=True),
    Column("loan_id", String(40), nullable=True, unique=True),
    Column("ratio", String(40), nullable=True),
    Column("valued_at", DateTime(timezone=True), nullable=True),
    Column("warned_at", DateTime(timezone=True), nullable=True),
    Column("liquidated_on", Date, nullable=True),
    Column("proceeds", BigInteger, nullable=True),
    Column("investors_paid", BigInteger, nullable=True),
    Column("fee", BigInteger, nullable=True),
    Column("trader_paid", BigInteger, nullable=True),
    Column("shortfall", BigInteger, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

positions = Table(
    "lendkit_margin_positions",
    metadata,
    Column("account_id", String(40), primary_key=True),
    Column("symbol", String(32), primary_key=True),
    Column("quantity", BigInteger, nullable=False),
)

prices = Table(
    "lendkit_margin_prices",
    metadata,
    Column("symbol", String(32), primary_key=True),
    Column("price", String(40), nullable=False),
    Column("as_of", DateTime(timezone=True), nullable=False),
)

trades = Table(
    "lendkit_margin_trades",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("account_id", String(40), nullable=False, index=True),
    Column("kind", String(12), nullable=False),
    Column("symbol", String(32), nullable=False),
    Column("quantity", BigInteger, nullable=False),
    Column("price", String(40), nullable=True),
    Column("amount", BigInteger, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)

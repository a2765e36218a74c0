"""margin plugin: margin accounts, positions, pushed prices, trades

Revision ID: margin_0001
Revises: (none)
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "margin_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lendkit_margin_accounts",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("trader_id", sa.String(length=40), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("margin", sa.BigInteger(), nullable=False),
        sa.Column("leverage", sa.Integer(), nullable=False),
        sa.Column("borrowed", sa.BigInteger(), nullable=False),
        sa.Column("annual_rate", sa.String(length=40), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("listing_id", sa.String(length=40), nullable=True),
        sa.Column("loan_id", sa.String(length=40), nullable=True),
        sa.Column("ratio", sa.String(length=40), nullable=True),
        sa.Column("valued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("warned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("liquidated_on", sa.Date(), nullable=True),
        sa.Column("proceeds", sa.BigInteger(), nullable=True),
        sa.Column("investors_paid", sa.BigInteger(), nullable=True),
        sa.Column("fee", sa.BigInteger(), nullable=True),
        sa.Column("trader_paid", sa.BigInteger(), nullable=True),
        sa.Column("shortfall", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_lendkit_margin_accounts"),
        sa.UniqueConstraint("listing_id", name="uq_lendkit_margin_accounts_listing_id"),
        sa.UniqueConstraint("loan_id", name="uq_lendkit_margin_accounts_loan_id"),
    )
    op.create_index(
        "ix_lendkit_margin_accounts_trader_id", "lendkit_margin_accounts", ["trader_id"]
    )
    op.create_table(
        "lendkit_margin_positions",
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "symbol", name="pk_lendkit_margin_positions"),
    )
    op.create_table(
        "lendkit_margin_prices",
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("price", sa.String(length=40), nullable=False),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("symbol", name="pk_lendkit_margin_prices"),
    )
    op.create_table(
        "lendkit_margin_trades",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("price", sa.String(length=40), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_lendkit_margin_trades"),
    )
    op.create_index("ix_lendkit_margin_trades_account_id", "lendkit_margin_trades", ["account_id"])


def downgrade() -> None:
    op.drop_table("lendkit_margin_trades")
    op.drop_table("lendkit_margin_prices")
    op.drop_table("lendkit_margin_positions")
    op.drop_table("lendkit_margin_accounts")

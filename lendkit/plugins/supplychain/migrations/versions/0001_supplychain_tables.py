"""supplychain plugin: core enterprises, industries, receivables, invoices, investor limits,
holdings

Revision ID: supplychain_0001
Revises: (none)
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "supplychain_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lendkit_supplychain_core_enterprises",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("party_id", sa.String(length=40), nullable=False),
        sa.Column("industry", sa.String(length=60), nullable=False),
        sa.Column("confirmation", sa.String(length=12), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("credit_limit", sa.BigInteger(), nullable=False),
        sa.Column("used", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "lendkit_supplychain_industries",
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("used", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "lendkit_supplychain_receivables",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("listing_id", sa.String(length=40), nullable=False),
        sa.Column("core_enterprise_id", sa.String(length=40), nullable=False),
        sa.Column("supplier_id", sa.String(length=40), nullable=False),
        sa.Column("invoice_number", sa.String(length=64), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("stage", sa.String(length=12), nullable=False),
        sa.Column("exposure", sa.BigInteger(), nullable=False),
        sa.Column("loan_id", sa.String(length=40), nullable=True),
        sa.Column("overdue", sa.Boolean(), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=True),
        sa.Column("dispute_reason", sa.String(length=400), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("listing_id"),
    )
    op.create_index(
        "ix_lendkit_supplychain_receivables_core",
        "lendkit_supplychain_receivables",
        ["core_enterprise_id"],
    )
    op.create_index(
        "ix_lendkit_supplychain_receivables_loan", "lendkit_supplychain_receivables", ["loan_id"]
    )
    op.create_table(
        "lendkit_supplychain_invoices",
        sa.Column("core_enterprise_id", sa.String(length=40), nullable=False),
        sa.Column("invoice_number", sa.String(length=64), nullable=False),
        sa.Column("receivable_id", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("core_enterprise_id", "invoice_number"),
    )
    op.create_table(
        "lendkit_supplychain_investor_limits",
        sa.Column("investor_id", sa.String(length=40), nullable=False),
        sa.Column("core_enterprise_id", sa.String(length=40), nullable=False),
        sa.Column("used", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("investor_id", "core_enterprise_id"),
    )
    op.create_table(
        "lendkit_supplychain_holdings",
        sa.Column("listing_id", sa.String(length=40), nullable=False),
        sa.Column("investor_id", sa.String(length=40), nullable=False),
        sa.Column("core_enterprise_id", sa.String(length=40), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("listing_id", "investor_id"),
    )


def downgrade() -> None:
    op.drop_table("lendkit_supplychain_holdings")
    op.drop_table("lendkit_supplychain_investor_limits")
    op.drop_table("lendkit_supplychain_invoices")
    op.drop_index(
        "ix_lendkit_supplychain_receivables_loan", table_name="lendkit_supplychain_receivables"
    )
    op.drop_index(
        "ix_lendkit_supplychain_receivables_core", table_name="lendkit_supplychain_receivables"
    )
    op.drop_table("lendkit_supplychain_receivables")
    op.drop_table("lendkit_supplychain_industries")
    op.drop_table("lendkit_supplychain_core_enterprises")

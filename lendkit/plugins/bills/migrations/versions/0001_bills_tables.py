"""bills plugin: bills, bill numbers, endorsements, recourse payments

Revision ID: bills_0001
Revises: (none)
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "bills_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lendkit_bills_bills",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("face", sa.BigInteger(), nullable=False),
        sa.Column("drawer_id", sa.String(length=40), nullable=False),
        sa.Column("acceptor_id", sa.String(length=40), nullable=False),
        sa.Column("issue_date", sa.Date(), nullable=False),
        sa.Column("maturity", sa.Date(), nullable=False),
        sa.Column("penalty_rate", sa.String(length=40), nullable=False),
        sa.Column("verified_by", sa.String(length=200), nullable=True),
        sa.Column("pledged_to", sa.String(length=200), nullable=True),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("listing_id", sa.String(length=40), nullable=True),
        sa.Column("loan_id", sa.String(length=40), nullable=True),
        sa.Column("discount_rate", sa.String(length=40), nullable=True),
        sa.Column("basis", sa.String(length=8), nullable=True),
        sa.Column("price", sa.BigInteger(), nullable=True),
        sa.Column("priced_on", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_on", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_lendkit_bills_bills"),
        sa.UniqueConstraint("listing_id", name="uq_lendkit_bills_bills_listing_id"),
        sa.UniqueConstraint("loan_id", name="uq_lendkit_bills_bills_loan_id"),
    )
    op.create_index("ix_lendkit_bills_bills_number", "lendkit_bills_bills", ["number"])
    op.create_index("ix_lendkit_bills_bills_acceptor_id", "lendkit_bills_bills", ["acceptor_id"])
    op.create_table(
        "lendkit_bills_numbers",
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column("bill_id", sa.String(length=40), nullable=False),
        sa.Column("listing_id", sa.String(length=40), nullable=True),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("held_until", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("number", name="pk_lendkit_bills_numbers"),
    )
    op.create_table(
        "lendkit_bills_endorsements",
        sa.Column("bill_id", sa.String(length=40), nullable=False),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("endorser", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("bill_id", "seq", name="pk_lendkit_bills_endorsements"),
    )
    op.create_table(
        "lendkit_bills_recourse",
        sa.Column("payment_id", sa.String(length=40), nullable=False),
        sa.Column("bill_id", sa.String(length=40), nullable=False),
        sa.Column("payer_id", sa.String(length=40), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("paid_on", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("payment_id", name="pk_lendkit_bills_recourse"),
    )
    op.create_index("ix_lendkit_bills_recourse_bill_id", "lendkit_bills_recourse", ["bill_id"])


def downgrade() -> None:
    op.drop_table("lendkit_bills_recourse")
    op.drop_table("lendkit_bills_endorsements")
    op.drop_table("lendkit_bills_numbers")
    op.drop_table("lendkit_bills_bills")

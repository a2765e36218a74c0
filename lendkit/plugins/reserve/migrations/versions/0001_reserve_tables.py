"""reserve plugin: covered loans, claims queue, fund movements, lock row

Revision ID: reserve_0001
Revises: (none)
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "reserve_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lendkit_reserve_loans",
        sa.Column("listing_id", sa.String(length=40), nullable=False),
        sa.Column("loan_id", sa.String(length=40), nullable=True),
        sa.Column("grade", sa.String(length=4), nullable=True),
        sa.Column("principal", sa.BigInteger(), nullable=False),
        sa.Column("rate", sa.String(length=20), nullable=False),
        sa.Column("contribution", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("outstanding", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("listing_id"),
        sa.UniqueConstraint("loan_id"),
    )
    op.create_table(
        "lendkit_reserve_claims",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("loan_id", sa.String(length=40), nullable=False),
        sa.Column("period", sa.Integer(), nullable=False),
        sa.Column("queued_on", sa.Date(), nullable=False),
        sa.Column("principal", sa.BigInteger(), nullable=False),
        sa.Column("interest", sa.BigInteger(), nullable=False),
        sa.Column("paid_principal", sa.BigInteger(), nullable=False),
        sa.Column("paid_interest", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("loan_id", "period", name="uq_lendkit_reserve_claims_loan_period"),
    )
    op.create_index(
        "ix_lendkit_reserve_claims_state", "lendkit_reserve_claims", ["state", "queued_on", "id"]
    )
    op.create_table(
        "lendkit_reserve_movements",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("loan_id", sa.String(length=40), nullable=True),
        sa.Column("period", sa.Integer(), nullable=True),
        sa.Column("claim_id", sa.Integer(), nullable=True),
        sa.Column("reference", sa.String(length=80), nullable=False),
        sa.Column("booked_on", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_lendkit_reserve_movements_kind", "lendkit_reserve_movements", ["kind"])
    op.create_table(
        "lendkit_reserve_lock",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("lendkit_reserve_lock")
    op.drop_index("ix_lendkit_reserve_movements_kind", table_name="lendkit_reserve_movements")
    op.drop_table("lendkit_reserve_movements")
    op.drop_index("ix_lendkit_reserve_claims_state", table_name="lendkit_reserve_claims")
    op.drop_table("lendkit_reserve_claims")
    op.drop_table("lendkit_reserve_loans")

"""guarantee plugin: guarantors, control relations, recommendations, guarantees, payouts

Revision ID: guarantee_0001
Revises: (none)
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "guarantee_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lendkit_guarantee_guarantors",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("party_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("capital", sa.BigInteger(), nullable=False),
        sa.Column("leverage", sa.String(length=20), nullable=False),
        sa.Column("fee_rate", sa.String(length=20), nullable=False),
        sa.Column("deposit_rate", sa.String(length=20), nullable=False),
        sa.Column("liability", sa.String(length=10), nullable=False),
        sa.Column("after_days", sa.Integer(), nullable=False),
        sa.Column("cover", sa.String(length=24), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "lendkit_guarantee_controls",
        sa.Column("controller", sa.String(length=40), nullable=False),
        sa.Column("controlled", sa.String(length=40), nullable=False),
        sa.Column("declared_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("controller", "controlled"),
    )
    op.create_table(
        "lendkit_guarantee_recommendations",
        sa.Column("partner_id", sa.String(length=40), nullable=False),
        sa.Column("borrower_id", sa.String(length=40), nullable=False),
        sa.Column("recommended_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("partner_id", "borrower_id"),
    )
    op.create_table(
        "lendkit_guarantee_guarantees",
        sa.Column("listing_id", sa.String(length=40), nullable=False),
        sa.Column("guarantor_id", sa.String(length=40), nullable=False),
        sa.Column("borrower_id", sa.String(length=40), nullable=False),
        sa.Column("loan_id", sa.String(length=40), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("liability", sa.String(length=10), nullable=False),
        sa.Column("after_days", sa.Integer(), nullable=False),
        sa.Column("cover", sa.String(length=24), nullable=False),
        sa.Column("fee_rate", sa.String(length=20), nullable=False),
        sa.Column("deposit_rate", sa.String(length=20), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("fee", sa.BigInteger(), nullable=False),
        sa.Column("outstanding", sa.BigInteger(), nullable=False),
        sa.Column("frozen", sa.BigInteger(), nullable=False),
        sa.Column("defaulted", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("listing_id"),
        sa.UniqueConstraint("loan_id"),
    )
    op.create_index(
        "ix_lendkit_guarantee_guarantees_guarantor",
        "lendkit_guarantee_guarantees",
        ["guarantor_id", "state"],
    )
    op.create_table(
        "lendkit_guarantee_payouts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("guarantor_id", sa.String(length=40), nullable=False),
        sa.Column("loan_id", sa.String(length=40), nullable=False),
        sa.Column("period", sa.Integer(), nullable=True),
        sa.Column("principal", sa.BigInteger(), nullable=False),
        sa.Column("interest", sa.BigInteger(), nullable=False),
        sa.Column("paid_on", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_lendkit_guarantee_payouts_guarantor", "lendkit_guarantee_payouts", ["guarantor_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_lendkit_guarantee_payouts_guarantor", table_name="lendkit_guarantee_payouts")
    op.drop_table("lendkit_guarantee_payouts")
    op.drop_index(
        "ix_lendkit_guarantee_guarantees_guarantor", table_name="lendkit_guarantee_guarantees"
    )
    op.drop_table("lendkit_guarantee_guarantees")
    op.drop_table("lendkit_guarantee_recommendations")
    op.drop_table("lendkit_guarantee_controls")
    op.drop_table("lendkit_guarantee_guarantors")

"""insurance plugin: insurers, policies, claims

Revision ID: insurance_0001
Revises: (none)
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "insurance_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lendkit_insurance_insurers",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("party_id", sa.String(length=40), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("capacity", sa.BigInteger(), nullable=False),
        sa.Column("exposure", sa.BigInteger(), nullable=False),
        sa.Column("funded", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_lendkit_insurance_insurers"),
        sa.UniqueConstraint("name", name="uq_lendkit_insurance_insurers_name"),
    )
    op.create_table(
        "lendkit_insurance_policies",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("insurer_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("listing_id", sa.String(length=40), nullable=True),
        sa.Column("loan_id", sa.String(length=40), nullable=True),
        sa.Column("subject", sa.String(length=200), nullable=True),
        sa.Column("sum_insured", sa.BigInteger(), nullable=False),
        sa.Column("premium_rate", sa.String(length=20), nullable=False),
        sa.Column("premium", sa.BigInteger(), nullable=False),
        sa.Column("premium_collected", sa.BigInteger(), nullable=False),
        sa.Column("payer", sa.String(length=12), nullable=False),
        sa.Column("trigger_days", sa.Integer(), nullable=True),
        sa.Column("cover_interest", sa.Integer(), nullable=False),
        sa.Column("total_interest", sa.BigInteger(), nullable=False),
        sa.Column("claims_paid", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("defaulted", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_lendkit_insurance_policies"),
    )
    op.create_index(
        "ix_lendkit_insurance_policies_insurer_id", "lendkit_insurance_policies", ["insurer_id"]
    )
    op.create_index(
        "ix_lendkit_insurance_policies_listing_id", "lendkit_insurance_policies", ["listing_id"]
    )
    op.create_index(
        "ix_lendkit_insurance_policies_loan_id", "lendkit_insurance_policies", ["loan_id"]
    )
    op.create_table(
        "lendkit_insurance_claims",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("policy_id", sa.String(length=40), nullable=False),
        sa.Column("loan_id", sa.String(length=40), nullable=True),
        sa.Column("period", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("paid_on", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_lendkit_insurance_claims"),
    )
    op.create_index(
        "ix_lendkit_insurance_claims_policy_id", "lendkit_insurance_claims", ["policy_id"]
    )


def downgrade() -> None:
    op.drop_table("lendkit_insurance_claims")
    op.drop_table("lendkit_insurance_policies")
    op.drop_table("lendkit_insurance_insurers")

"""collateral plugin: asset registry, pledges, valuations, sales

Revision ID: collateral_0001
Revises: (none)
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "collateral_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lendkit_collateral_assets",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("identifier", sa.String(length=100), nullable=False),
        sa.Column("owner_id", sa.String(length=40), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("appraised_value", sa.BigInteger(), nullable=False),
        sa.Column("appraised_on", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_lendkit_collateral_assets"),
        sa.UniqueConstraint("kind", "identifier", name="uq_lendkit_collateral_assets_kind"),
    )
    op.create_table(
        "lendkit_collateral_pledges",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("asset_id", sa.String(length=40), nullable=False),
        sa.Column("listing_id", sa.String(length=40), nullable=False),
        sa.Column("loan_id", sa.String(length=40), nullable=True),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("active_key", sa.String(length=40), nullable=True),
        sa.Column("exposure", sa.BigInteger(), nullable=False),
        sa.Column("breach", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_on", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_lendkit_collateral_pledges"),
        sa.UniqueConstraint("active_key", name="uq_lendkit_collateral_pledges_active_key"),
    )
    op.create_index(
        "ix_lendkit_collateral_pledges_asset_id", "lendkit_collateral_pledges", ["asset_id"]
    )
    op.create_index(
        "ix_lendkit_collateral_pledges_listing_id", "lendkit_collateral_pledges", ["listing_id"]
    )
    op.create_index(
        "ix_lendkit_collateral_pledges_loan_id", "lendkit_collateral_pledges", ["loan_id"]
    )
    op.create_table(
        "lendkit_collateral_valuations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("asset_id", sa.String(length=40), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.Column("valued_on", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_lendkit_collateral_valuations"),
    )
    op.create_index(
        "ix_lendkit_collateral_valuations_asset_id", "lendkit_collateral_valuations", ["asset_id"]
    )
    op.create_table(
        "lendkit_collateral_sales",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("loan_id", sa.String(length=40), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("proceeds", sa.BigInteger(), nullable=False),
        sa.Column("costs", sa.BigInteger(), nullable=False),
        sa.Column("penalty", sa.BigInteger(), nullable=False),
        sa.Column("interest", sa.BigInteger(), nullable=False),
        sa.Column("principal", sa.BigInteger(), nullable=False),
        sa.Column("surplus", sa.BigInteger(), nullable=False),
        sa.Column("sold_on", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_lendkit_collateral_sales"),
    )
    op.create_index("ix_lendkit_collateral_sales_loan_id", "lendkit_collateral_sales", ["loan_id"])


def downgrade() -> None:
    op.drop_table("lendkit_collateral_sales")
    op.drop_table("lendkit_collateral_valuations")
    op.drop_table("lendkit_collateral_pledges")
    op.drop_table("lendkit_collateral_assets")

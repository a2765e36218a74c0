"""leasing plugin: lessors, lessees, assets, live serials, leases, rent rows, missed rents,
ownership, sales

Revision ID: leasing_0001
Revises: (none)
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "leasing_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lendkit_leasing_lessors",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("party_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("party_id"),
    )
    op.create_table(
        "lendkit_leasing_lessees",
        sa.Column("party_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("party_id"),
    )
    op.create_table(
        "lendkit_leasing_assets",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=60), nullable=False),
        sa.Column("serial", sa.String(length=64), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.Column("owner_id", sa.String(length=40), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("description", sa.String(length=400), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("serial"),
    )
    op.create_table(
        "lendkit_leasing_live_serials",
        sa.Column("serial", sa.String(length=64), nullable=False),
        sa.Column("lease_id", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("serial"),
    )
    op.create_table(
        "lendkit_leasing_leases",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("listing_id", sa.String(length=40), nullable=True),
        sa.Column("loan_id", sa.String(length=40), nullable=True),
        sa.Column("lessor_id", sa.String(length=40), nullable=False),
        sa.Column("lessee_id", sa.String(length=40), nullable=False),
        sa.Column("asset_id", sa.String(length=40), nullable=False),
        sa.Column("form", sa.String(length=12), nullable=False),
        sa.Column("supplier_id", sa.String(length=40), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("annual_rate", sa.String(length=24), nullable=False),
        sa.Column("frequency", sa.String(length=12), nullable=False),
        sa.Column("rents", sa.Integer(), nullable=False),
        sa.Column("residual", sa.BigInteger(), nullable=False),
        sa.Column("buy_back", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("missed", sa.Integer(), nullable=False),
        sa.Column("bought_out_on", sa.Date(), nullable=True),
        sa.Column("ended_on", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("listing_id"),
    )
    op.create_index("ix_lendkit_leasing_leases_loan", "lendkit_leasing_leases", ["loan_id"])
    op.create_index("ix_lendkit_leasing_leases_asset", "lendkit_leasing_leases", ["asset_id"])
    op.create_table(
        "lendkit_leasing_rent_rows",
        sa.Column("lease_id", sa.String(length=40), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("lease_id", "seq"),
    )
    op.create_table(
        "lendkit_leasing_missed_rents",
        sa.Column("lease_id", sa.String(length=40), nullable=False),
        sa.Column("period", sa.Integer(), nullable=False),
        sa.Column("last_seen", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("lease_id", "period"),
    )
    op.create_table(
        "lendkit_leasing_ownership",
        sa.Column("asset_id", sa.String(length=40), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("from_id", sa.String(length=40), nullable=False),
        sa.Column("to_id", sa.String(length=40), nullable=False),
        sa.Column("lease_id", sa.String(length=40), nullable=True),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("on_date", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("asset_id", "seq"),
    )
    op.create_table(
        "lendkit_leasing_sales",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("lease_id", sa.String(length=40), nullable=False),
        sa.Column("loan_id", sa.String(length=40), nullable=False),
        sa.Column("buyer", sa.String(length=200), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("penalty", sa.BigInteger(), nullable=False),
        sa.Column("interest", sa.BigInteger(), nullable=False),
        sa.Column("principal", sa.BigInteger(), nullable=False),
        sa.Column("surplus", sa.BigInteger(), nullable=False),
        sa.Column("shortfall", sa.BigInteger(), nullable=False),
        sa.Column("sold_on", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("lease_id"),
    )


def downgrade() -> None:
    op.drop_table("lendkit_leasing_sales")
    op.drop_table("lendkit_leasing_ownership")
    op.drop_table("lendkit_leasing_missed_rents")
    op.drop_table("lendkit_leasing_rent_rows")
    op.drop_index("ix_lendkit_leasing_leases_asset", table_name="lendkit_leasing_leases")
    op.drop_index("ix_lendkit_leasing_leases_loan", table_name="lendkit_leasing_leases")
    op.drop_table("lendkit_leasing_leases")
    op.drop_table("lendkit_leasing_live_serials")
    op.drop_table("lendkit_leasing_assets")
    op.drop_table("lendkit_leasing_lessees")
    op.drop_table("lendkit_leasing_lessors")

"""loan day count: lendkit_loans.day_count (the product's basis: 30/360, ACT/360, ACT/365)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

from alembic import op
import sqlalchemy as sa


revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # loans disbursed before 0008 accrued interest to date on annual/360 per actual day
    op.add_column(
        "lendkit_loans",
        sa.Column("day_count", sa.String(length=8), nullable=False, server_default="ACT/360"),
    )


def downgrade() -> None:
    op.drop_column("lendkit_loans", "day_count")

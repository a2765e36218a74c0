"""payment payer: lendkit_payments.payer_id (the party whose balance paid)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from alembic import op
import sqlalchemy as sa


revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("lendkit_payments", sa.Column("payer_id", sa.String(length=40), nullable=True))


def downgrade() -> None:
    op.drop_column("lendkit_payments", "payer_id")

"""open-ended loans: lendkit_open_ended_loans (daily accrual and settlement state)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

from alembic import op
import sqlalchemy as sa


revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lendkit_open_ended_loans",
        sa.Column("loan_id", sa.String(length=40), nullable=False),
        sa.Column("basis", sa.String(length=8), nullable=False),
        sa.Column("settle_day", sa.Integer(), nullable=True),
        sa.Column("settle_every_days", sa.Integer(), nullable=True),
        sa.Column("maturity_date", sa.Date(), nullable=False),
        sa.Column("accrued_through", sa.Date(), nullable=False),
        sa.Column("base_days", sa.String(length=60), nullable=False),
        sa.Column("interest_settled", sa.BigInteger(), nullable=False),
        sa.Column("settled_through", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(
            ["loan_id"],
            ["lendkit_loans.id"],
            name=op.f("fk_lendkit_open_ended_loans_loan_id_lendkit_loans"),
        ),
        sa.PrimaryKeyConstraint("loan_id", name=op.f("pk_lendkit_open_ended_loans")),
    )
    op.create_index(
        "ix_lendkit_open_ended_loans_due",
        "lendkit_open_ended_loans",
        ["accrued_through"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_lendkit_open_ended_loans_due", table_name="lendkit_open_ended_loans")
    op.drop_table("lendkit_open_ended_loans")

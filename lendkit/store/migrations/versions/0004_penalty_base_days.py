"""penalty base-days: penalty accrues from the overdue base and the days overdue, rounded once

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from alembic import op
import sqlalchemy as sa


revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "lendkit_installments",
        sa.Column("penalty_base_days", sa.BigInteger(), nullable=False, server_default="0"),
    )
    # installments that already accrue penalty: the base-days their penalty stands for (the
    # overdue base now x the days accrued), so the next accrual adds only the new days
    inst = sa.table(
        "lendkit_installments",
        sa.column("loan_id", sa.String()),
        sa.column("period", sa.Integer()),
        sa.column("due_date", sa.Date()),
        sa.column("penalty_through", sa.Date()),
        sa.column("principal", sa.BigInteger()),
        sa.column("interest", sa.BigInteger()),
        sa.column("paid_principal", sa.BigInteger()),
        sa.column("paid_interest", sa.BigInteger()),
        sa.column("penalty_base_days", sa.BigInteger()),
    )
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(
            inst.c.loan_id,
            inst.c.period,
            inst.c.due_date,
            inst.c.penalty_through,
            inst.c.principal,
            inst.c.interest,
            inst.c.paid_principal,
            inst.c.paid_interest,
        ).where(inst.c.penalty_through.is_not(None))
    ).all()
    updates = [
        {
            "lid": r.loan_id,
            "per": r.period,
            "bd": max(0, r.principal + r.interest - r.paid_principal - r.paid_interest)
            * max(0, (r.penalty_through - r.due_date).days),
        }
        for r in rows
    ]
    if updates:
        conn.execute(
            inst.update()
            .where(inst.c.loan_id == sa.bindparam("lid"), inst.c.period == sa.bindparam("per"))
            .values(penalty_base_days=sa.bindparam("bd")),
            updates,
        )


def downgrade() -> None:
    op.drop_column("lendkit_installments", "penalty_base_days")

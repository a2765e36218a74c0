"""staff and the audit trail: lendkit_staff, lendkit_audit_chains, lendkit_audit_log

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30
"""

from alembic import op
import sqlalchemy as sa


revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lendkit_staff",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("roles", sa.String(length=400), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lendkit_staff")),
    )
    op.create_table(
        "lendkit_audit_chains",
        sa.Column("chain", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("chain", name=op.f("pk_lendkit_audit_chains")),
    )
    op.create_table(
        "lendkit_audit_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("chain", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=60), nullable=False),
        sa.Column("action", sa.String(length=80), nullable=False),
        sa.Column("subject", sa.String(length=120), nullable=False),
        sa.Column("args_digest", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.Column("error_type", sa.String(length=80), nullable=True),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lendkit_audit_log")),
        sa.UniqueConstraint("chain", "seq", name=op.f("uq_lendkit_audit_log_chain")),
    )
    op.create_index(
        "ix_lendkit_audit_log_subject", "lendkit_audit_log", ["subject", "id"], unique=False
    )
    op.create_index(
        "ix_lendkit_audit_log_actor", "lendkit_audit_log", ["actor", "id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_lendkit_audit_log_actor", table_name="lendkit_audit_log")
    op.drop_index("ix_lendkit_audit_log_subject", table_name="lendkit_audit_log")
    op.drop_table("lendkit_audit_log")
    op.drop_table("lendkit_audit_chains")
    op.drop_table("lendkit_staff")

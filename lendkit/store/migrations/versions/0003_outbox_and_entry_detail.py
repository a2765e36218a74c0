"""outbox for gateway calls; hashed detail on journal entries (hold routing)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from alembic import op
import sqlalchemy as sa


revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lendkit_outbox",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lendkit_outbox")),
    )
    op.create_index("ix_lendkit_outbox_state", "lendkit_outbox", ["state"], unique=False)
    # existing entries keep an empty detail, so their hashes are unchanged
    op.add_column(
        "lendkit_journal_entries",
        sa.Column("detail", sa.String(length=400), nullable=False, server_default=""),
    )


def downgrade() -> None:
    op.drop_column("lendkit_journal_entries", "detail")
    op.drop_index("ix_lendkit_outbox_state", table_name="lendkit_outbox")
    op.drop_table("lendkit_outbox")

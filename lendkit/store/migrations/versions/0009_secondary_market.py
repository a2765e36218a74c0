"""secondary market: lendkit_transfers, lendkit_transfer_fills, positions split by transfers

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""

from alembic import op
import sqlalchemy as sa


revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # positions before 0009 were never transferred: weight NULL is their principal
    with op.batch_alter_table("lendkit_positions") as batch:
        batch.add_column(sa.Column("weight", sa.BigInteger(), nullable=True))
        batch.add_column(
            sa.Column("sold_principal", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("transfer_id", sa.String(length=40), nullable=True))
        batch.add_column(sa.Column("acquired_on", sa.Date(), nullable=True))
    op.create_table(
        "lendkit_transfers",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("loan_id", sa.String(length=40), nullable=False),
        sa.Column("seller_id", sa.String(length=40), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("principal", sa.BigInteger(), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("sold", sa.BigInteger(), nullable=False),
        sa.Column("price_paid", sa.BigInteger(), nullable=False),
        sa.Column("held_since", sa.Date(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["loan_id"],
            ["lendkit_loans.id"],
            name=op.f("fk_lendkit_transfers_loan_id_lendkit_loans"),
        ),
        sa.ForeignKeyConstraint(
            ["seller_id"],
            ["lendkit_parties.id"],
            name=op.f("fk_lendkit_transfers_seller_id_lendkit_parties"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lendkit_transfers")),
    )
    op.create_index(
        "ix_lendkit_transfers_loan_state", "lendkit_transfers", ["loan_id", "state"], unique=False
    )
    op.create_index(
        "ix_lendkit_transfers_state_expires",
        "lendkit_transfers",
        ["state", "expires_at"],
        unique=False,
    )
    op.create_table(
        "lendkit_transfer_fills",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("transfer_id", sa.String(length=40), nullable=False),
        sa.Column("loan_id", sa.String(length=40), nullable=False),
        sa.Column("seller_id", sa.String(length=40), nullable=False),
        sa.Column("buyer_id", sa.String(length=40), nullable=False),
        sa.Column("principal", sa.BigInteger(), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("accrued_interest", sa.BigInteger(), nullable=False),
        sa.Column("fee", sa.BigInteger(), nullable=False),
        sa.Column("hold_id", sa.String(length=40), nullable=False),
        sa.Column("settled_on", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["transfer_id"],
            ["lendkit_transfers.id"],
            name=op.f("fk_lendkit_transfer_fills_transfer_id_lendkit_transfers"),
        ),
        sa.ForeignKeyConstraint(
            ["loan_id"],
            ["lendkit_loans.id"],
            name=op.f("fk_lendkit_transfer_fills_loan_id_lendkit_loans"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lendkit_transfer_fills")),
    )
    op.create_index(
        "ix_lendkit_transfer_fills_transfer",
        "lendkit_transfer_fills",
        ["transfer_id"],
        unique=False,
    )
    op.create_index(
        "ix_lendkit_transfer_fills_loan", "lendkit_transfer_fills", ["loan_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_lendkit_transfer_fills_loan", table_name="lendkit_transfer_fills")
    op.drop_index("ix_lendkit_transfer_fills_transfer", table_name="lendkit_transfer_fills")
    op.drop_table("lendkit_transfer_fills")
    op.drop_index("ix_lendkit_transfers_state_expires", table_name="lendkit_transfers")
    op.drop_index("ix_lendkit_transfers_loan_state", table_name="lendkit_transfers")
    op.drop_table("lendkit_transfers")
    with op.batch_alter_table("lendkit_positions") as batch:
        batch.drop_column("acquired_on")
        batch.drop_column("transfer_id")
        batch.drop_column("sold_principal")
        batch.drop_column("weight")

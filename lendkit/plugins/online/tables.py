"""The ``online`` plugin's own table: collection stages reached by overdue installments."""

from __future__ import annotations

from sqlalchemy import Column, Date, Integer, MetaData, String, Table

metadata = MetaData()

collections = Table(
    "lendkit_online_collections",
    metadata,
    Column("loan_id", String(40), primary_key=True),
    Column("period", Integer, primary_key=True),
    Column("stage", String(12), primary_key=True),
    Column("days_overdue", Integer, nullable=False),
    Column("recorded_on", Date, nullable=False),
)

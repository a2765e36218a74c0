"""Pure online (纯线上, 信用标): the platform only matches and informs; investors bear losses.

The default product. No guarantee, no reserve: when a borrower does not pay, nobody pays the
investors for them. What the plugin adds is the collection record (催收): as an installment stays
overdue it reaches stages (SMS, phone, visit, legal by default, configurable by days overdue),
each recorded once per installment in ``lendkit_online_collections``; a defaulted loan is marked
``default``. Read them with :func:`collection_history`.

Configuration (``Platform.open(..., config={"plugins": {"online": {...}}})``)::

    {"stages": {"sms": 1, "phone": 8, "visit": 31, "legal": 61}}   # stage -> first day overdue

Example::

    p = lendkit.Platform.open("sqlite:///x.db", plugins=["online"])
    ...
    p.cob.run(date(2026, 3, 15), allow_future=True)
    for stage in collection_history(p, loan.id):
        print(stage.period, stage.stage, stage.days_overdue)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path

from attrs import field, frozen
from sqlalchemy import Connection, func, select
from sqlalchemy.dialects import postgresql, sqlite

import lendkit
from lendkit.core.context import HookContext
from lendkit.core.errors import InvalidValue
from lendkit.core.inputs import check_id
from lendkit.core.records import Disclosure, Installment, LoanRecord, PluginSettings, Product
from lendkit.migrations import PluginSchema
from lendkit.plugins.online.tables import collections, metadata

PRODUCT = "online"
DEFAULT_STAGES: Mapping[str, int] = {"sms": 1, "phone": 8, "visit": 31, "legal": 61}

lendkit_schema = PluginSchema("online", metadata, Path(__file__).parent / "migrations")


def _stages(raw: object) -> Mapping[str, int]:
    if (
        not isinstance(raw, Mapping)
        or not raw
        or not all(
            isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) and v >= 0
            for k, v in raw.items()
        )
    ):
        raise InvalidValue(
            f"stages {raw!r} must map stage names to the first day overdue (a whole number"
            " 0 or more), e.g. {'sms': 1, 'phone': 8}"
        )
    return dict(raw)


@frozen
class Settings:
    """``config.plugins["online"]``, structured when the Platform opens."""

    stages: Mapping[str, int] = field(default=DEFAULT_STAGES, converter=_stages)


@frozen
class CollectionStage:
    """A collection stage an installment reached, and when."""

    loan_id: str
    period: int
    stage: str
    days_overdue: int
    recorded_on: date


def stage_for(days_overdue: int, stages: Mapping[str, int] = DEFAULT_STAGES) -> str | None:
    """The latest stage whose first day is at or before ``days_overdue`` (None before the first)."""
    reached = [(start, name) for name, start in stages.items() if days_overdue >= start]
    return max(reached)[1] if reached else None


def _record(conn: Connection, loan_id: str, period: int, stage: str, days: int, on: date) -> None:
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    conn.execute(
        insert(collections)
        .values(loan_id=loan_id, period=period, stage=stage, days_overdue=days, recorded_on=on)
        .on_conflict_do_nothing()
    )


@lendkit.hookimpl
def lendkit_register_settings() -> PluginSettings:
    """``config.plugins["online"]`` is structured into :class:`Settings` at open."""
    return PluginSettings(PRODUCT, Settings)


@lendkit.hookimpl
def lendkit_register_products() -> Sequence[Product]:
    """The default credit-listing product."""
    return [Product(name=PRODUCT, description="pure online credit listing; investors bear losses")]


@lendkit.hookimpl
def lendkit_installment_overdue(
    ctx: HookContext, loan: LoanRecord, installment: Installment, days_overdue: int
) -> None:
    """Record the collection stage the installment has reached (once per stage)."""
    if loan.product != PRODUCT:
        return
    settings: Settings = ctx.settings(PRODUCT)
    stage = stage_for(days_overdue, settings.stages)
    if stage is not None:
        _record(ctx.conn, loan.id, installment.period, stage, days_overdue, ctx.today)


@lendkit.hookimpl
def lendkit_loan_defaulted(ctx: HookContext, loan: LoanRecord) -> None:
    """A defaulted online loan is a loss to its investors; mark the collection record."""
    if loan.product == PRODUCT:
        _record(ctx.conn, loan.id, 0, "default", 0, ctx.today)


@lendkit.hookimpl
def lendkit_disclosures(ctx: HookContext) -> Sequence[Disclosure]:
    """How many loans reached each collection stage (a loan counts once, however many of its
    installments did; ``default`` counts defaulted loans)."""
    rows = ctx.conn.execute(
        select(collections.c.stage, func.count(func.distinct(collections.c.loan_id)))
        .group_by(collections.c.stage)
        .order_by(collections.c.stage)
    ).all()
    return [
        Disclosure("online", f"loans reaching collection stage {stage}", str(n))
        for stage, n in rows
    ]


def collection_history(platform: lendkit.Platform, loan_id: str) -> list[CollectionStage]:
    """Every collection stage recorded for a loan, in order."""
    loan_id = check_id(loan_id, "loan id")

    def run(ctx: HookContext) -> list[CollectionStage]:
        rows = ctx.conn.execute(
            select(collections)
            .where(collections.c.loan_id == loan_id)
            .order_by(collections.c.period, collections.c.days_overdue)
        ).all()
        return [
            CollectionStage(r.loan_id, r.period, r.stage, r.days_overdue, r.recorded_on)
            for r in rows
        ]

    return platform.query("online.collection_history", run)

"""lendkit inside a host application's own transaction."""

from __future__ import annotations

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, select
from sqlalchemy.orm import Session

import lendkit
from lendkit import Money
from lendkit.core.errors import InsufficientFunds
from lendkit.store.db import normalize_url

host_meta = MetaData()
orders = Table(
    "host_orders", host_meta, Column("id", Integer, primary_key=True), Column("note", String(50))
)


def test_host_commit_and_rollback_cover_lendkit(platform: lendkit.Platform, db_url: str) -> None:
    engine = create_engine(normalize_url(db_url))
    host_meta.drop_all(engine)
    host_meta.create_all(engine)
    alice = platform.parties.register("Alice").id
    platform.parties.verify(alice)
    try:
        with Session(engine) as session, session.begin():
            session.execute(orders.insert().values(id=1, note="paid"))
            platform.using(session).custody.deposit(alice, "100", key="order-1")
        assert platform.custody.balance(alice).available == Money.of("100")

        with pytest.raises(RuntimeError), Session(engine) as session, session.begin():
            session.execute(orders.insert().values(id=2, note="rolled back"))
            platform.using(session).custody.deposit(alice, "50", key="order-2")
            raise RuntimeError("host failure after lendkit's step")
        assert platform.custody.balance(alice).available == Money.of("100")
        with engine.connect() as conn:
            assert [r.id for r in conn.execute(select(orders.c.id))] == [1]

        # a lendkit refusal undoes only lendkit's savepoint; the host decides about its own rows
        with Session(engine) as session, session.begin():
            session.execute(orders.insert().values(id=3, note="kept"))
            with pytest.raises(InsufficientFunds):
                platform.using(session).custody.withdraw(alice, "1000")
        with engine.connect() as conn:
            assert [r.id for r in conn.execute(select(orders.c.id))] == [1, 3]
        assert platform.custody.balance(alice).available == Money.of("100")
        # the key used inside the host transaction is remembered after its commit
        platform.custody.deposit(alice, "100", key="order-1")
        assert platform.custody.balance(alice).available == Money.of("100")
        assert platform.verify().ok
    finally:
        host_meta.drop_all(engine)
        engine.dispose()


def test_rollback_covers_lendkit_when_the_host_wrote_nothing_yet(
    platform: lendkit.Platform, db_url: str
) -> None:
    """Plain host engine, no host write before lendkit's step: the rollback still covers it."""
    engine = create_engine(normalize_url(db_url))
    alice = platform.parties.register("Alice").id
    platform.parties.verify(alice)
    try:
        with pytest.raises(RuntimeError), Session(engine) as session, session.begin():
            platform.using(session).custody.deposit(alice, "50", key="first-step")
            raise RuntimeError("host failure")
        assert platform.custody.balance(alice).available == Money.of("0")
        with Session(engine) as session, session.begin():
            platform.using(session).custody.deposit(alice, "50", key="first-step")
        assert platform.custody.balance(alice).available == Money.of("50")
        assert platform.verify().ok
    finally:
        engine.dispose()

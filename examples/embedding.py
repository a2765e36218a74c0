"""Embedding lendkit in a host application that has its own SQLAlchemy tables.

A shop lets customers top up a lending wallet. The shop records each top-up in its own table
(``shop_topups``) and credits the customer's lendkit custody account *in the same database
transaction*, through ``platform.using(session)``: lendkit flushes inside a SAVEPOINT and never
commits, so the host's commit or rollback covers its own row and lendkit's ledger entries
together.

1. a top-up commits: the shop's row and the deposit are both there;
2. the shop fails after lendkit's step (the payment provider declines): both roll back;
3. lendkit refuses (a withdrawal beyond the balance): only lendkit's savepoint is undone and the
   shop still commits its own record of the refusal.

Run: ``python examples/embedding.py [DB]`` (a SQLite file path or a database URL such as
``postgresql+psycopg://user:pw@host/db``; default: a file in a temporary folder).
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, String, create_engine, event, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

import lendkit


class Base(DeclarativeBase):
    """The host application's own models (lendkit's tables are all prefixed ``lendkit_``)."""


class TopUp(Base):
    __tablename__ = "shop_topups"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer: Mapped[str] = mapped_column(String(80))
    amount: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))


class PaymentDeclined(Exception):
    """The host's own failure, raised after lendkit's step in the same transaction."""


@contextmanager
def database(arg: str | None) -> Iterator[str]:
    """The URL to use: the argument (a URL or a SQLite file path), else a temporary file."""
    if arg and "://" in arg:
        yield arg
    elif arg:
        yield f"sqlite:///{Path(arg).resolve()}"
    else:
        with tempfile.TemporaryDirectory(prefix="lendkit-example-") as tmp:
            yield f"sqlite:///{Path(tmp) / 'embedding.db'}"


def host_engine(url: str) -> Engine:
    """The host's own engine on the same database.

    On SQLite the host must let SQLAlchemy begin transactions (the pysqlite recipe from
    SQLAlchemy's SQLite documentation, "Serializable isolation / Savepoints"): Python's sqlite3
    module otherwise opens no transaction before lendkit's SAVEPOINT, and releasing that savepoint
    would commit lendkit's step on its own, before the host decides. PostgreSQL needs nothing.
    """
    engine = create_engine(url)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _no_implicit_begin(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def topup_ids(engine: Engine) -> list[int]:
    with Session(engine) as session:
        return list(session.scalars(select(TopUp.id).order_by(TopUp.id)))


def run(url: str) -> None:
    platform = lendkit.Platform.open(url, plugins=["online"])
    engine = host_engine(url)
    Base.metadata.create_all(engine)
    try:
        alice = platform.parties.register("Alice").id
        platform.parties.verify(alice)
        print(f"opened {url}: host table shop_topups next to lendkit's tables; Alice is {alice}")

        # 1. the host's row and lendkit's deposit commit together
        with Session(engine) as session, session.begin():
            session.add(TopUp(id=1, customer=alice, amount="100.00", status="credited"))
            platform.using(session).custody.deposit(alice, "100.00", key="topup-1")
        balance = platform.custody.balance(alice).available
        entries = platform.verify().entries
        print(f"1. top-up 1 committed: shop rows {topup_ids(engine)}, Alice has {balance}")

        # 2. the host fails after lendkit's step: both roll back
        try:
            with Session(engine) as session, session.begin():
                session.add(TopUp(id=2, customer=alice, amount="250.00", status="credited"))
                platform.using(session).custody.deposit(alice, "250.00", key="topup-2")
                raise PaymentDeclined("the card issuer declined top-up 2")
        except PaymentDeclined as exc:
            print(f"2. host failed after lendkit's deposit ({exc}): transaction rolled back")
        after = platform.custody.balance(alice).available
        rows = topup_ids(engine)
        print(
            f"   shop rows {rows}, Alice has {after},"
            f" journal entries {platform.verify().entries} (were {entries})"
        )
        if rows != [1] or after != balance or platform.verify().entries != entries:
            raise SystemExit("the rollback did not cover both the host's row and lendkit's ledger")

        # 3. lendkit refuses inside the host's transaction: only its savepoint is undone
        with Session(engine) as session, session.begin():
            try:
                platform.using(session).custody.withdraw(alice, "1000.00", key="cashout-1")
                status = "paid out"
            except lendkit.InsufficientFunds as exc:
                status = "refused"
                print(f"3. lendkit refused the withdrawal: {exc}")
            session.add(TopUp(id=3, customer=alice, amount="-1000.00", status=status))
        print(f"   the shop committed its record anyway: shop rows {topup_ids(engine)}")

        report = platform.verify()
        print(
            f"ledger verified: {report.ok} ({report.entries} entries);"
            f" Alice has {platform.custody.balance(alice).available}"
        )
        if not report.ok:
            raise SystemExit("; ".join(report.problems))
    finally:
        engine.dispose()
        platform.close()


def main(argv: list[str]) -> int:
    with database(argv[0] if argv else None) as url:
        run(url)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

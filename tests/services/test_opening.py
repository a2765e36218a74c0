"""Opening a platform and reading statements with wrong input (issue 10.21).

A missing SQLite file opened with ``create=False`` is reported and not created; a path in a
missing directory is a ``LendkitError`` naming it; a missing psycopg names the ``postgres`` extra;
``custody.statement`` with wrong types is ``InvalidValue``.
"""

from __future__ import annotations

import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

import lendkit
from lendkit.core.errors import ConfigError, InvalidValue, SchemaOutOfDate
from lendkit.store.db import create_lendkit_engine, create_nullpool_engine


def test_create_false_on_a_missing_file_says_so_and_creates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "missing.db"
    with pytest.raises(SchemaOutOfDate) as refused:
        lendkit.Platform.open(f"sqlite:///{path}", create=False)
    assert str(refused.value) == (
        f"database file {str(path)!r} does not exist (opened with create=False): open it with"
        " create=True or run `lendkit db upgrade` to create it"
    )
    assert list(tmp_path.iterdir()) == []  # no file, no -wal, no -shm left behind
    # create=True (the default) makes it; create=False opens it afterwards
    lendkit.Platform.open(f"sqlite:///{path}").close()
    with lendkit.Platform.open(f"sqlite:///{path}", create=False) as p:
        assert p.verify().ok


@pytest.mark.parametrize("create", [True, False])
def test_a_path_in_a_missing_directory_is_a_lendkit_error_naming_it(
    tmp_path: Path, create: bool
) -> None:
    path = tmp_path / "no" / "such" / "dir" / "lendkit.db"
    with pytest.raises(ConfigError) as refused:
        lendkit.Platform.open(f"sqlite:///{path}", create=create)
    assert str(refused.value) == (
        f"database file {str(path)!r} cannot be opened: its directory"
        f" {str(path.parent)!r} does not exist"
    )
    assert list(tmp_path.iterdir()) == []
    # the tooling engine (migrations, dumps) says the same
    with pytest.raises(ConfigError, match="does not exist"):
        create_lendkit_engine(f"sqlite:///{path}")


def test_a_path_under_a_file_is_a_lendkit_error(tmp_path: Path) -> None:
    (tmp_path / "plain").write_text("not a directory")
    path = tmp_path / "plain" / "lendkit.db"
    with pytest.raises(ConfigError, match=r"its directory .*plain' is not a directory"):
        lendkit.Platform.open(f"sqlite:///{path}")


@pytest.mark.parametrize(
    "url", ["postgresql://u:secret@127.0.0.1/x", "postgresql+psycopg://u:secret@127.0.0.1/x"]
)
def test_a_missing_psycopg_names_the_postgres_extra(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    import sqlalchemy.dialects.postgresql.psycopg  # noqa: F401 - loaded before psycopg is hidden

    monkeypatch.setitem(sys.modules, "psycopg", None)  # `import psycopg` raises ImportError
    for make in (lambda: lendkit.Platform.open(url), lambda: create_nullpool_engine(url)):
        with pytest.raises(lendkit.LendkitError) as refused:
            make()
        text = str(refused.value)
        assert text.startswith("PostgreSQL needs the psycopg driver, which is not installed")
        assert text.endswith(": pip install 'lendkit[postgres]'")
        assert "secret" not in text


def test_statement_with_a_wrong_day_is_invalid_value(platform: lendkit.Platform) -> None:
    wrong: list[Any] = [
        "2027-01-05",
        None,
        20270105,
        datetime(2027, 1, 5, 10, 0),
        [date(2027, 1, 5)],
        date.max,  # its business day would end after the last representable midnight
    ]
    for day in wrong:
        with pytest.raises(InvalidValue, match="statement day"):
            platform.custody.statement(day)
        with pytest.raises(InvalidValue, match="reconciliation day"):
            platform.custody.reconcile([], day)


def test_statement_of_a_day_lists_its_movements(platform: lendkit.Platform) -> None:
    pid = platform.parties.register("someone").id
    platform.parties.verify(pid)
    moved = platform.custody.deposit(pid, "12.34")
    today = platform.clock().date()
    [line] = platform.custody.statement(today)
    assert (line.external_ref, line.party_id, line.kind, line.amount) == (
        moved.external_ref,
        pid,
        "deposit",
        lendkit.Money.of("12.34", "CNY"),
    )
    assert platform.custody.statement(date.min) == []

"""Calls to the bank go through an outbox: exactly one request per command, whatever happens.

A counting gateway counts the requests it receives per movement id. Retryable errors injected
into the units of work, a SIGKILL after commit and before the request is sent, a SIGKILL after
the bank received it and before its answer was booked: each command reaches the bank once (a
resend after a crash carries the same id, so the bank deduplicates it) and its money moves once.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import textwrap
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import pytest
from click.testing import CliRunner

import lendkit
from lendkit import Money
from lendkit.cli import main
from lendkit.core.errors import InvalidState
from lendkit.services.custody import movement_id_for
from tests.conftest import FixedClock, dump
from tests.conftest import party as _party
from tests.reliability.test_injected_errors import inject


def cny(v: str | int) -> Money:
    return Money.of(v, "CNY")


class CountingBank:
    """An outside gateway that counts the requests it receives per movement id."""

    name = "bank"
    #: requests seen by every instance (the CLI builds its own instance)
    shared: ClassVar[Counter[str]] = Counter()

    def __init__(self, answer: str = "completed") -> None:
        self.requests: Counter[str] = Counter()
        self.answer = answer
        self._lock = threading.Lock()

    def _count(self, movement_id: str) -> tuple[str, str | None]:
        with self._lock:
            self.requests[movement_id] += 1
            CountingBank.shared[movement_id] += 1
        return self.answer, "bank-" + movement_id

    def deposit(self, party_id: str, amount: Money, movement_id: str) -> tuple[str, str | None]:
        return self._count(movement_id)

    def withdraw(self, party_id: str, amount: Money, movement_id: str) -> tuple[str, str | None]:
        return self._count(movement_id)


@pytest.mark.parametrize("seed", [1, 2])
def test_one_bank_request_per_command_under_injected_errors(
    make_platform: Callable[..., lendkit.Platform], seed: int
) -> None:
    bank = CountingBank()
    p = make_platform(gateway=bank)
    a, b = _party(p, "a"), _party(p, "b")
    injected = inject(p, random.Random(seed), per_statement=0.25)
    movements = []
    for n in range(6):
        movements.append(p.custody.deposit(a, "100", key=f"dep-a-{n}"))
        movements.append(p.custody.deposit(b, "50"))  # no key: a fresh id, still sent once
        movements.append(p.custody.withdraw(a, "30", key=f"wd-a-{n}"))
        movements.append(p.custody.withdraw(b, "20"))
    assert injected[0] >= 5, "the injection must actually fire"
    assert {m.state for m in movements} == {"completed"}
    assert bank.requests == Counter({m.id: 1 for m in movements})
    assert movements[0].id == movement_id_for("custody.deposit", "dep-a-0")
    assert movements[2].id == movement_id_for("custody.withdraw", "wd-a-0")
    # a client retrying with its key gets the same movement; the bank is not asked again
    assert p.custody.withdraw(a, "30", key="wd-a-0") == movements[2]
    assert sum(bank.requests.values()) == len(movements)
    assert p.custody.balance(a).available == cny(6 * 70)
    assert p.custody.balance(b).available == cny(6 * 30)
    assert p.custody.flush().sent == 0
    assert p.verify().ok


KILLED = textwrap.dedent(
    """
    import os, signal, sys
    from datetime import datetime, timezone
    import lendkit

    url, command, party, record = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]

    class DyingBank:
        name = "bank"

        def _die(self, movement_id):
            if record == "received":  # the bank got it; the answer is never booked
                with open(sys.argv[5], "a") as f:
                    f.write(movement_id + "\\n")
            os.kill(os.getpid(), signal.SIGKILL)

        def deposit(self, party_id, amount, movement_id):
            self._die(movement_id)

        def withdraw(self, party_id, amount, movement_id):
            self._die(movement_id)

    p = lendkit.Platform.open(url, plugins=["online"], create=False, gateway=DyingBank(),
                              clock=lambda: datetime(2026, 1, 1, 9, tzinfo=timezone.utc))
    if command == "withdraw":
        p.custody.withdraw(party, "30", key="wd-1")
    else:
        p.custody.deposit(party, "40", key="dep-1")
    print("finished without being killed")
    """
)


def _killed(db_url: str, command: str, party: str, record: str, log: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", KILLED, db_url, command, party, record, str(log)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == -signal.SIGKILL, result.stdout + result.stderr[-2000:]


@pytest.mark.parametrize(
    ("command", "resend_by"),
    [("withdraw", "flush"), ("deposit", "flush"), ("withdraw", "open"), ("deposit", "cli")],
)
def test_sigkill_between_commit_and_send_then_sent_once(
    make_platform: Callable[..., lendkit.Platform],
    clock: FixedClock,
    db_url: str,
    tmp_path: Path,
    command: str,
    resend_by: str,
) -> None:
    bank = CountingBank()
    p = make_platform(gateway=bank)
    a = _party(p, "a")
    p.custody.deposit(a, "100", key="seed")
    _killed(db_url, command, a, "never", tmp_path / "bank.log")
    key = "wd-1" if command == "withdraw" else "dep-1"
    expected_id = movement_id_for(f"custody.{command}", key)
    # committed: the withdrawal's hold is taken (a deposit is not credited yet); nothing was sent
    held = cny(30) if command == "withdraw" else cny(0)
    assert p.custody.balance(a).frozen == held
    assert bank.requests[expected_id] == 0
    # the killed process claimed the request: nobody else sends it within the lease
    assert p.custody.flush().sent == 0
    clock.advance(minutes=2)
    CountingBank.shared.clear()
    bank.requests.clear()
    if resend_by == "flush":
        assert p.custody.flush().sent == 1
        seen = bank.requests
    elif resend_by == "open":
        again = make_platform(gateway=(other := CountingBank()))
        assert again.custody.recovered is not None and again.custody.recovered.sent == 1
        seen = other.requests
    else:
        spec = f"{__name__}:CountingBank"
        result = CliRunner().invoke(main, ["--db", db_url, "custody", "flush", "--gateway", spec])
        assert result.exit_code == 0, result.output
        assert result.stdout == "custody flush (bank): 1 request(s) sent\n"
        seen = CountingBank.shared
    assert seen == Counter({expected_id: 1})
    after = cny(70) if command == "withdraw" else cny(140)
    assert p.custody.balance(a).available == after
    assert p.custody.balance(a).frozen == cny(0)
    # nothing is left to send, and the client's retry with its key returns the completed movement
    assert p.custody.flush().sent == 0
    retry = getattr(p.custody, command)(a, "30" if command == "withdraw" else "40", key=key)
    assert retry.id == expected_id and retry.state == "completed"
    assert CountingBank.shared == Counter({expected_id: 1})  # the bank was not asked again
    assert p.custody.balance(a).available == after
    assert p.verify().ok


def test_sigkill_after_the_bank_received_it_resends_the_same_id(
    make_platform: Callable[..., lendkit.Platform],
    clock: FixedClock,
    db_url: str,
    tmp_path: Path,
) -> None:
    bank = CountingBank()
    p = make_platform(gateway=bank)
    a = _party(p, "a")
    p.custody.deposit(a, "100")
    log = tmp_path / "bank.log"
    _killed(db_url, "withdraw", a, "received", log)
    first = log.read_text().split()
    clock.advance(minutes=2)
    assert p.custody.flush().sent == 1
    # the bank saw the same id twice and can tell it is one withdrawal; the books paid once
    assert first == [movement_id_for("custody.withdraw", "wd-1")]
    assert bank.requests[first[0]] == 1
    bal = p.custody.balance(a)
    assert (bal.available, bal.frozen) == (cny(70), cny(0))
    assert p.verify().ok


def test_inside_a_host_transaction_the_request_waits_for_commit(
    make_platform: Callable[..., lendkit.Platform], db_url: str
) -> None:
    bank = CountingBank()
    p = make_platform(gateway=bank)
    a = _party(p, "a")
    p.custody.deposit(a, "100")
    before = dump(db_url)
    with p.engine.connect() as conn, conn.begin() as trans:
        p.using(conn).custody.withdraw(a, "30", key="host-rolled-back")
        trans.rollback()
    assert dump(db_url) == before  # rolled back: nothing queued, nothing sent
    with p.engine.begin() as conn:
        moved = p.using(conn).custody.withdraw(a, "30", key="host")
        assert moved.state == "pending"
        with pytest.raises(InvalidState):  # the flush sends requests only after commit
            p.using(conn).custody.flush()
    assert bank.requests[moved.id] == 0
    with pytest.raises(InvalidState, match="has not reached the gateway"):
        p.custody.complete_withdrawal(moved.id)  # its outcome is the bank's answer
    assert p.custody.flush().sent == 1
    assert bank.requests[moved.id] == 1
    assert p.custody.balance(a).available == cny(70)
    assert p.verify().ok


def test_a_pending_answer_keeps_the_hold_until_the_bank_settles(
    make_platform: Callable[..., lendkit.Platform],
) -> None:
    bank = CountingBank(answer="pending")
    p = make_platform(gateway=bank)
    a = _party(p, "a")
    bank.answer = "completed"
    p.custody.deposit(a, "100")
    bank.answer = "pending"
    moved = p.custody.withdraw(a, "30")
    assert (moved.state, moved.external_ref) == ("pending", "bank-" + moved.id)
    assert p.custody.balance(a).frozen == cny(30)
    assert p.custody.flush().sent == 0  # answered: not sent again
    p.custody.complete_withdrawal(moved.id)
    assert bank.requests[moved.id] == 1
    assert p.custody.balance(a).available == cny(70)
    assert p.verify().ok


def test_a_gateway_that_raises_leaves_the_request_queued(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock
) -> None:
    class FlakyBank(CountingBank):
        down = True

        def withdraw(self, party_id: str, amount: Money, movement_id: str) -> Any:
            if self.down:
                raise ConnectionError("bank unreachable")
            return super().withdraw(party_id, amount, movement_id)

    bank = FlakyBank()
    p = make_platform(gateway=bank)
    a = _party(p, "a")
    p.custody.deposit(a, "100")
    moved = p.custody.withdraw(a, "30", key="wd")  # committed; the send failed after commit
    assert moved.state == "pending"
    assert p.custody.balance(a).frozen == cny(30)
    bank.down = False
    clock.advance(minutes=2)
    assert p.custody.flush().sent == 1
    assert bank.requests[moved.id] == 1
    assert p.custody.withdraw(a, "30", key="wd").state == "completed"
    assert p.custody.balance(a).available == cny(70)
    assert p.verify().ok


def test_a_failed_answer_returns_the_money_and_a_garbled_one_stays_queued(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock
) -> None:
    bank = CountingBank()
    p = make_platform(gateway=bank)
    a = _party(p, "a")
    p.custody.deposit(a, "100")
    bank.answer = "failed"
    refused = p.custody.withdraw(a, "30")
    assert refused.state == "failed"
    assert p.custody.deposit(a, "5").state == "failed"
    bal = p.custody.balance(a)
    assert (bal.available, bal.frozen) == (cny(100), cny(0))
    bank.answer = "maybe"  # not an answer lendkit knows: booked nothing, asked again later
    garbled = p.custody.withdraw(a, "20")
    assert garbled.state == "pending"
    assert p.custody.balance(a).frozen == cny(20)
    bank.answer = "completed"
    clock.advance(minutes=2)
    assert p.custody.flush().sent == 1
    assert bank.requests[garbled.id] == 2  # the same id both times
    assert p.custody.balance(a).available == cny(80)
    assert p.verify().ok

"""The one repayment algorithm (``lendkit.core.payments``): a payment over installments in the
allocation order, oldest first; the investors' part over positions by largest remainder, with
the management fee; recoveries to the third parties that covered installments."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from itertools import permutations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lendkit.core.errors import InvalidAmount, InvalidValue
from lendkit.core.payments import (
    PAYMENT_PARTS,
    Allocation,
    ClaimStake,
    Owed,
    Stake,
    allocate_cover,
    allocate_payment,
    management_fee,
    split_payment,
    split_recovery,
)

ORDERS = [tuple(o) for o in permutations(PAYMENT_PARTS)]


@st.composite
def owed_rows(draw: st.DrawFn) -> list[Owed]:
    """Unpaid installments, some with third parties' claims on their principal and interest."""
    rows = []
    for period in range(1, draw(st.integers(1, 5)) + 1):
        penalty, interest, principal = (draw(st.integers(0, 50_000)) for _ in range(3))
        rows.append(
            Owed(
                period,
                penalty,
                interest,
                principal,
                claimed_interest=draw(st.integers(0, interest)),
                claimed_principal=draw(st.integers(0, principal)),
            )
        )
    return rows


@st.composite
def payments(draw: st.DrawFn) -> tuple[list[Owed], int, tuple[str, ...]]:
    rows = draw(owed_rows())
    amount = draw(st.integers(0, sum(o.total for o in rows)))
    return rows, amount, draw(st.sampled_from(ORDERS))


def parts(a: object) -> tuple[int, int, int]:
    return a.penalty, a.interest, a.principal  # type: ignore[attr-defined]


@settings(max_examples=150)
@given(payments())
def test_the_parts_sum_to_the_amount_and_never_exceed_what_is_owed(
    case: tuple[list[Owed], int, tuple[str, ...]],
) -> None:
    rows, amount, order = case
    paid = allocate_payment(amount, rows, order)
    assert sum(sum(parts(a)) for a in paid.installments) == amount
    investors = paid.penalty + paid.interest + paid.principal
    assert investors + paid.recovered_interest + paid.recovered_principal == amount
    for a, o in zip(paid.installments, rows, strict=False):
        assert a.period == o.period
        assert 0 <= a.penalty <= o.penalty
        assert 0 <= a.interest <= o.interest
        assert 0 <= a.principal <= o.principal
        assert a.settled == (parts(a) == parts(o))
        # the investors' unpaid part is paid before a claim is recovered, never beyond it
        assert a.recovered_interest == max(0, a.interest - o.investors_interest)
        assert a.recovered_principal == max(0, a.principal - o.investors_principal)
        assert 0 <= a.recovered_interest <= o.claimed_interest
        assert 0 <= a.recovered_principal <= o.claimed_principal
    assert paid.recoveries == tuple(
        a for a in paid.installments if a.recovered_interest or a.recovered_principal
    )


@settings(max_examples=150)
@given(payments())
def test_oldest_first_and_each_installment_in_the_allocation_order(
    case: tuple[list[Owed], int, tuple[str, ...]],
) -> None:
    rows, amount, order = case
    paid = allocate_payment(amount, rows, order)
    applied = list(paid.installments)
    # every installment before the last one reached is settled; nothing after it is touched
    assert all(a.settled for a in applied[:-1])
    assert len(applied) <= len(rows)
    if not applied[-1:] or not applied[-1].settled:  # stopped short: the amount is used up
        assert sum(sum(parts(a)) for a in applied) == amount
    for a, o in zip(applied, rows, strict=False):
        took = dict(zip(PAYMENT_PARTS, parts(a), strict=True))
        due = dict(zip(PAYMENT_PARTS, parts(o), strict=True))
        # a part is paid only once every part before it in the order is paid in full
        for k, part in enumerate(order):
            if took[part]:
                assert all(took[earlier] == due[earlier] for earlier in order[:k])


def test_a_payment_in_the_default_order() -> None:
    rows = [Owed(1, 100, 1000, 10_000), Owed(2, 0, 900, 10_100)]
    paid = allocate_payment(11_500, rows)
    assert paid == Allocation(
        11_500,
        (
            allocate_payment(11_100, rows[:1]).installments[0],
            allocate_payment(400, rows[1:]).installments[0],
        ),
        penalty=100,
        interest=1400,
        principal=10_000,
        recovered_interest=0,
        recovered_principal=0,
    )
    first, second = paid.installments
    assert (first.settled, parts(first)) == (True, (100, 1000, 10_000))
    assert (second.settled, parts(second)) == (False, (0, 400, 0))
    principal_first = allocate_payment(11_500, rows, ("principal", "interest", "penalty"))
    assert [parts(a) for a in principal_first.installments] == [(100, 1000, 10_000), (0, 0, 400)]
    assert [parts(a) for a in allocate_payment(500, rows, ORDERS[-1]).installments] == [(0, 0, 500)]


def test_a_borrower_pays_the_investors_first_then_the_payer_who_covered() -> None:
    # a guarantor paid the investors 60.00 of principal and 5.00 of interest
    rows = [Owed(1, 0, 1000, 10_000, claimed_interest=500, claimed_principal=6000)]
    paid = allocate_payment(7000, rows)
    assert (paid.interest, paid.principal) == (500, 4000)  # what investors were still owed
    assert (paid.recovered_interest, paid.recovered_principal) == (500, 2000)
    [a] = paid.recoveries
    assert (a.period, a.recovered_principal, a.recovered_interest) == (1, 2000, 500)


def test_refusals_name_the_value() -> None:
    rows = [Owed(1, 0, 10, 100)]
    with pytest.raises(InvalidAmount, match=r"payment 111 .* exceeds everything owed \(110\)"):
        allocate_payment(111, rows)
    with pytest.raises(InvalidAmount, match="must not be negative"):
        allocate_payment(-1, rows)
    with pytest.raises(InvalidValue, match=r"\['interest', 'principal'\] must name each of"):
        allocate_payment(10, rows, ("interest", "principal"))
    with pytest.raises(InvalidValue, match="exactly once"):
        allocate_payment(10, rows, ("interest", "interest", "principal"))
    with pytest.raises(InvalidAmount, match="must not be negative"):
        allocate_cover(-1, 0, rows)
    assert allocate_payment(0, rows).installments == ()


@settings(max_examples=100)
@given(owed_rows(), st.integers(0, 200_000), st.integers(0, 200_000))
def test_cover_pays_what_investors_are_owed_oldest_first(
    rows: list[Owed], principal: int, interest: int
) -> None:
    covered = allocate_cover(principal, interest, rows)
    by_period = {o.period: o for o in rows}
    owed_p = sum(o.investors_principal for o in rows)
    owed_i = sum(o.investors_interest for o in rows)
    assert sum(c.principal for c in covered) == min(principal, owed_p)
    assert sum(c.interest for c in covered) == min(interest, owed_i)
    for c in covered:
        assert (c.principal or c.interest) and c.period in by_period
        assert 0 <= c.principal <= by_period[c.period].investors_principal
        assert 0 <= c.interest <= by_period[c.period].investors_interest
    # oldest first: a later installment gets principal only once the earlier ones have all
    got = {c.period: c for c in covered}
    for k, o in enumerate(rows):
        if got.get(o.period) and got[o.period].principal:
            assert all(
                (got[e.period].principal if e.period in got else 0) == e.investors_principal
                for e in rows[:k]
            )


stakes = st.lists(
    st.builds(
        lambda principal, received, rate: Stake(principal, min(received, principal), rate),
        st.integers(1, 10**9),
        st.integers(0, 10**9),
        st.decimals(Decimal("0.01"), Decimal("0.36"), places=4),
    ),
    min_size=1,
    max_size=12,
)
amounts = st.integers(0, 10**10)


@settings(max_examples=150)
@given(stakes, amounts, amounts, amounts, st.decimals(Decimal(0), Decimal("0.5"), places=3))
def test_position_shares_sum_to_the_cent_and_follow_their_quotas(
    positions: list[Stake], penalty: int, interest: int, principal: int, fee_rate: Decimal
) -> None:
    split = split_payment(positions, penalty, interest, principal, fee_rate)
    shares = split.shares
    assert len(shares) == len(positions)
    assert sum(s.penalty for s in shares) == penalty
    assert sum(s.interest for s in shares) == interest
    assert sum(s.principal for s in shares) == principal
    assert split.fee == management_fee(interest, fee_rate)
    assert sum(s.fee for s in shares) == split.fee
    assert sum(s.net for s in shares) == penalty + interest + principal - split.fee
    outstanding = [p.principal - p.received_principal for p in positions]
    weights = outstanding if any(outstanding) else [p.principal for p in positions]
    rated = [Fraction(p.principal) * Fraction(p.annual_rate) for p in positions]
    for s, w, r in zip(shares, weights, rated, strict=True):
        # each share is the floor or the ceiling of its exact quota
        assert abs(s.principal - Fraction(principal * w, sum(weights))) < 1
        assert abs(s.penalty - Fraction(penalty * w, sum(weights))) < 1
        assert abs(s.interest - interest * r / sum(rated)) < 1
        assert 0 <= s.fee <= s.interest


def test_the_fee_is_half_up_and_split_over_gross_interest() -> None:
    assert management_fee(105, Decimal("0.10")) == 11  # 10.5 rounds up
    assert management_fee(104, Decimal("0.10")) == 10
    split = split_payment(
        [Stake(60_000, 0, Decimal("0.12")), Stake(40_000, 0, Decimal("0.12"))],
        0,
        1001,
        10_001,
        Decimal("0.10"),
    )
    assert split.fee == 100
    assert [(s.principal, s.interest, s.fee, s.net) for s in split.shares] == [
        (6001, 601, 60, 6542),
        (4000, 400, 40, 4360),
    ]
    # every position repaid: principal and penalty by principal
    repaid = split_payment(
        [Stake(300, 300, Decimal("0.1")), Stake(100, 100, Decimal("0.1"))], 8, 0, 0, Decimal(0)
    )
    assert [s.penalty for s in repaid.shares] == [6, 2]


@settings(max_examples=100)
@given(
    st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 10**6)), min_size=1, max_size=6),
    st.data(),
)
def test_recoveries_split_over_the_claims_by_what_each_still_claims(
    claims: list[tuple[int, int]], data: st.DataObject
) -> None:
    total_p, total_i = sum(c[0] for c in claims), sum(c[1] for c in claims)
    principal = data.draw(st.integers(0, total_p))
    interest = data.draw(st.integers(0, total_i))
    shares = split_recovery(principal, interest, [ClaimStake(p, i) for p, i in claims])
    assert sum(s[0] for s in shares) == principal
    assert sum(s[1] for s in shares) == interest
    for (p, i), (sp, si) in zip(claims, shares, strict=True):
        assert 0 <= sp <= p and 0 <= si <= i

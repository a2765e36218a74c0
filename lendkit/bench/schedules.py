"""Workload 1: exact schedules per second against ``amortization`` and ``numpy-financial``.

Both peers compute the level-payment (equal-installment) schedule only, in binary floating
point; lendkit is timed on the same terms (and, for the record, on its other three methods).
"Matches to the cent" compares every row's payment, principal and interest after rounding the
peer's floats to cents.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from lendkit.bench.common import Result, Sizes, rate, ratio, rounded
from lendkit.core.schedule import METHODS, build_schedule

PRINCIPAL = "100000.00"
ANNUAL = "0.12"
TERMS = (12, 360)
START = date(2026, 1, 15)

Rows = list[tuple[int, int, int]]  # (payment, principal, interest) in cents


def _cents(x: float) -> int:
    return int(Decimal(repr(x)).quantize(Decimal("0.01"), ROUND_HALF_EVEN) * 100)


def lendkit_rows(months: int) -> Rows:
    s = build_schedule(PRINCIPAL, ANNUAL, months, "equal-installment", start_date=START)
    return [(i.payment.minor, i.principal.minor, i.interest.minor) for i in s.installments]


def _measure(fn: Callable[[int], object], seconds: float) -> float:
    """Schedules per second, alternating the 12- and 360-month terms."""
    done = 0
    start = time.perf_counter()
    while True:
        for months in TERMS:
            fn(months)
            done += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return rate(done, elapsed)


def _compare(mine: Rows, theirs: Rows) -> dict[str, Any]:
    bad = [k for k, (a, b) in enumerate(zip(mine, theirs, strict=True), 1) if a != b]
    out: dict[str, Any] = {"rows": len(mine), "rows_differing": len(bad)}
    if bad:
        k = bad[0]
        out["first_difference"] = {
            "period": k,
            "lendkit": [x / 100 for x in mine[k - 1]],
            "peer": [x / 100 for x in theirs[k - 1]],
        }
    return out


def run(sizes: Sizes, database: str) -> Result:
    seconds = sizes.schedule_seconds

    def lk(months: int) -> object:
        return build_schedule(PRINCIPAL, ANNUAL, months, "equal-installment", start_date=START)

    lendkit_rate = _measure(lk, seconds)
    per_method = {
        m: round(
            _measure(
                lambda months, m=m: build_schedule(  # type: ignore[misc]
                    PRINCIPAL, ANNUAL, months, m, start_date=START
                ),
                seconds / 4,
            )
        )
        for m in METHODS
    }
    cond: dict[str, Any] = {
        "terms": f"{PRINCIPAL} CNY at 12% a year, 12 and 360 months alternating",
        "method": "equal-installment (the only method both peers compute)",
        "lendkit_all_methods_per_s": per_method,
        "database": "none (in-process computation)",
    }
    amort_rate: float | None = None
    try:
        from amortization.schedule import amortization_schedule

        def am(months: int) -> object:
            return list(amortization_schedule(100000.0, 0.12, months))

        amort_rate = _measure(am, seconds)
        cond["amortization_exact_to_cent"] = {}
        for months in TERMS:
            theirs = [
                (_cents(r.amount), _cents(r.principal), _cents(r.interest))
                for r in amortization_schedule(100000.0, 0.12, months)
            ]
            cmp = _compare(lendkit_rows(months), theirs)
            cond["amortization_exact_to_cent"][f"{months}m"] = (
                True if cmp["rows_differing"] == 0 else cmp
            )
    except ImportError as exc:
        cond["amortization"] = f"unavailable: {exc} (pip install 'lendkit[bench]')"
    try:
        import numpy as np
        import numpy_financial as npf

        def nf(months: int) -> list[tuple[float, float, float]]:
            r = 0.12 / 12
            per = np.arange(1, months + 1)
            pmt = npf.pmt(r, months, -100000.0)
            ipmt = npf.ipmt(r, per, months, -100000.0)
            ppmt = npf.ppmt(r, per, months, -100000.0)
            return [(float(pmt), float(p), float(i)) for p, i in zip(ppmt, ipmt, strict=True)]

        nf_rate = _measure(nf, seconds)
        cond["numpy_financial_per_s"] = round(nf_rate, 1)
        cond["lendkit_vs_numpy_financial"] = ratio(lendkit_rate, nf_rate)
        cond["numpy_financial_exact_to_cent"] = {}
        for months in TERMS:
            theirs = [(_cents(a), _cents(p), _cents(i)) for a, p, i in nf(months)]
            cmp = _compare(lendkit_rows(months), theirs)
            cond["numpy_financial_exact_to_cent"][f"{months}m"] = (
                True if cmp["rows_differing"] == 0 else cmp
            )
    except ImportError as exc:
        cond["numpy_financial"] = f"unavailable: {exc} (pip install 'lendkit[bench]')"
    if amort_rate is None:
        cond["unavailable"] = "the amortization package is not installed"
    return Result(
        "schedules-vs-amortization",
        database,
        rounded(lendkit_rate),
        "schedules/s",
        "amortization" if amort_rate is not None else None,
        rounded(amort_rate),
        ratio(lendkit_rate, amort_rate),
        1.5,
        "higher",
        cond,
    )

"""The ``supplychain`` plugin's rules as pure functions (no database, no context)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

from lendkit.core.money import Money
from lendkit.core.schedule import DayCount, Schedule, custom_rows

#: how a core enterprise confirms receivables: ``online`` (it confirms on the platform) or
#: ``written`` (staff record its written confirmation; a document reference is required)
CONFIRMATIONS = ("online", "written")
#: the plugin's repayment method: one payment of principal and interest on the due date
METHOD = "receivable"


def financing_limit(confirmed_minor: int, ratio: Decimal) -> int:
    """The most a listing may finance on a confirmed receivable: ``ratio`` of it, rounded down
    to the minor unit (never more than the ratio allows)."""
    return int((Decimal(confirmed_minor) * ratio).to_integral_value(rounding=ROUND_DOWN))


def receivable_problems(
    *,
    listing_id: str,
    borrower_id: str,
    amount: Money,
    receivable_id: str,
    supplier_id: str,
    state: str,
    receivable_amount: Money,
    due_date: date,
    today: date,
    ratio: Decimal,
    min_days: int,
) -> list[str]:
    """Why a listing may not be approved (or published) on its receivable; empty if it may."""
    who = f"listing {listing_id}: receivable {receivable_id}"
    found = []
    if state == "submitted":
        found.append(f"{who} is not confirmed by the core enterprise: confirm_receivable() first")
    elif state == "disputed":
        found.append(f"{who} is disputed by the core enterprise: it cannot be financed")
    elif state == "cancelled":
        found.append(f"{who} was cancelled: submit a new receivable")
    if supplier_id != borrower_id:
        found.append(f"{who} belongs to supplier {supplier_id}, not to the borrower {borrower_id}")
    most = Money.from_minor(financing_limit(receivable_amount.minor, ratio), amount.currency)
    if amount > most:
        found.append(
            f"{who}: the listing's {amount} is more than {percent(ratio)} of the receivable's"
            f" {receivable_amount}: at most {most} may be financed"
        )
    if due_date < today + timedelta(days=min_days):
        found.append(
            f"{who} is due {due_date}: at least {min_days} day(s) after today ({today}) are"
            " needed to finance it"
        )
    return found


def credit_problem(name: str, used: int, amount: int, limit: int, currency: str) -> str | None:
    """Why ``amount`` more does not fit in a core enterprise's credit limit (``None`` if it does)."""
    if used + amount <= limit:
        return None

    def m(units: int) -> Money:
        return Money.from_minor(units, currency)

    return (
        f"core enterprise {name} would back {m(used + amount)}: {m(used)} used + this listing"
        f" {m(amount)} exceeds its credit limit {m(limit)}; at most {m(max(0, limit - used))}"
        " more"
    )


def industry_problem(
    industry: str, used: int, amount: int, base: int, share: Decimal, currency: str
) -> str | None:
    """Why ``amount`` more would take ``industry`` over ``share`` of ``base`` (the platform's
    outstanding including approved supply-chain listings and this one); ``None`` if it fits."""
    if share >= 1 or Decimal(used + amount) <= share * Decimal(base):
        return None

    def m(units: int) -> Money:
        return Money.from_minor(units, currency)

    return (
        f"industry {industry!r} would have {m(used + amount)} of the platform's {m(base)}"
        f" outstanding: more than its cap of {percent(share)}"
    )


def investor_problem(
    investor_id: str, core_name: str, used: int, amount: int, cap: int, currency: str
) -> str | None:
    """Why a bid of ``amount`` would take the investor over its cap on one core enterprise."""
    if used + amount <= cap:
        return None

    def m(units: int) -> Money:
        return Money.from_minor(units, currency)

    return (
        f"investor {investor_id} would have {m(used + amount)} on core enterprise {core_name}"
        f" (open bids and outstanding principal {m(used)} + this bid {m(amount)}): more than"
        f" the cap of {m(cap)} per investor and core enterprise; at most"
        f" {m(max(0, cap - used))} more"
    )


def collection_sources(
    core_party: str, supplier: str, due: date, today: date, grace_days: int
) -> list[str]:
    """Who pays a due receivable loan: the core enterprise, and after ``grace_days`` past the
    due date the supplier as recourse payer too."""
    if today > due + timedelta(days=grace_days) and supplier != core_party:
        return [core_party, supplier]
    return [core_party]


def receivable_schedule(
    principal: Money, annual_rate: Decimal, start: date, due: date, basis: str
) -> Schedule:
    """One payment on the receivable's due date: principal plus interest for the days since
    ``start`` on ``basis`` (HALF_UP to the minor unit)."""
    return custom_rows(principal, [due], annual_rate, DayCount(basis), start=start, method=METHOD)


def top_share(amounts: Iterable[int], n: int = 10) -> Decimal:
    """The share of the total held by the ``n`` largest amounts (0 when the total is 0)."""
    values = sorted((a for a in amounts if a > 0), reverse=True)
    total = sum(values)
    if total == 0:
        return Decimal(0)
    return Decimal(sum(values[:n])) / Decimal(total)


def percent(fraction: Decimal) -> str:
    """``fraction`` as a percentage with two decimals (HALF_UP)."""
    return f"{(fraction * 100).quantize(Decimal('0.01'), rounding=ROUND_HALF_UP)}%"


def largest_first(pairs: Sequence[tuple[str, int]]) -> list[tuple[str, int]]:
    """Amounts by key, largest first, then by key (a stable, documented order)."""
    return sorted(pairs, key=lambda kv: (-kv[1], kv[0]))

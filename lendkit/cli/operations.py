"""The operations CLI: read parties, listings and loans, and move money.

``lendkit party list|show``, ``lendkit listing list|show|approve|publish``, ``lendkit loan
list|show|payoff``, ``lendkit deposit``, ``lendkit withdraw``, ``lendkit disburse``, ``lendkit
custody history`` and ``lendkit portfolio``. Each takes ``--db`` (before or after the command,
as every command does), ``--plugins`` and ``--json`` (one JSON object on one line: amounts as
decimal strings with a ``currency`` next to them, dates ISO). Commands that change something
take ``--key``, an idempotency key: repeating the command with the same key returns the first
outcome and changes nothing. Lists print one page (``--limit``, default 20) and the ``--after``
cursor of the next one. Tables fit an 80-column terminal; amounts are right-aligned with their
currency.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

import attrs
import click

from lendkit.cli.base import database_option, db_url, main
from lendkit.cli.cob import open_platform, parse_cob_date
from lendkit.cli.custody import custody_group
from lendkit.cli.db import plugins_option
from lendkit.cli.report import render_table, text_width
from lendkit.core.errors import InvalidValue
from lendkit.core.money import Money
from lendkit.core.servicing import BUCKETS, Page
from lendkit.platform import Platform

__all__ = ["as_json", "fit", "money_text"]

WIDTH = 80  # the terminal the tables are made for


# -- shared helpers ------------------------------------------------------------------------------


def _value(value: Any) -> Any:
    if isinstance(value, Money):
        return value.format()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if attrs.has(type(value)):
        return {f.name: _value(getattr(value, f.name)) for f in attrs.fields(type(value))}
    if isinstance(value, dict):
        return {str(k): _value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_value(v) for v in value]
    return value


def as_json(value: Any, currency: str) -> str:
    """``value`` (a record, a page, a list) as one line of JSON: attrs records become objects,
    Money a decimal string (the object carries ``currency``), dates ISO text."""
    body = _value(value)
    if isinstance(value, Page):
        body = {"items": body["items"], "next": value.next}
    if isinstance(body, dict):
        body = {"currency": currency, **body}
    else:
        body = {"currency": currency, "items": body}
    return json.dumps(body, ensure_ascii=False)


def money_text(value: Money | None) -> str:
    """``1000.00 CNY`` (``-`` for none): the amount cell of a table, right-aligned by it."""
    return "-" if value is None else f"{value.format()} {value.currency}"


def pct(rate: Decimal | None) -> str:
    """A rate as a percentage with two decimals (``12.00%``)."""
    if rate is None:
        return "-"
    return f"{(rate * 100).quantize(Decimal('0.01'))}%"


def fit(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    right: Sequence[bool],
    squeeze: int,
    width: int = WIDTH,
) -> list[str]:
    """:func:`render_table` within ``width`` columns: column ``squeeze`` (a name) is cut with
    ``…`` as much as needed."""
    lines = render_table(headers, rows, right)
    over = max(text_width(line) for line in lines) - width
    if over <= 0:
        return lines
    longest = max(text_width(r[squeeze]) for r in (headers, *rows))
    keep = max(4, longest - over)

    def cut(text: str) -> str:
        if text_width(text) <= keep:
            return text
        out = ""
        for ch in text:
            if text_width(out + ch) > keep - 1:
                break
            out += ch
        return out + "…"

    cut_rows = [[cut(c) if i == squeeze else c for i, c in enumerate(r)] for r in rows]
    return render_table(headers, cut_rows, right)


def echo_lines(lines: Sequence[str]) -> None:
    for line in lines:
        click.echo(line)


def echo_page(
    page: Page[Any],
    cur: str,
    as_json_flag: bool,
    *,
    empty: str,
    headers: Sequence[str],
    right: Sequence[bool],
    squeeze: int,
    row: Callable[[Any], Sequence[str]],
    command: str,
    title: Sequence[str] = (),
) -> None:
    """One page of a list command: ``--json``, ``(no ...)`` when empty, else ``title``, the
    table fitted to the terminal (column ``squeeze`` cut) and the next-page hint."""
    if as_json_flag:
        click.echo(as_json(page, cur))
        return
    if not page.items:
        click.echo(f"(no {empty})")
        return
    rows = [row(x) for x in page]
    echo_lines([*title, *fit(headers, rows, right, squeeze), *page_footer(page, command)])


def page_footer(page: Page[Any], command: str) -> list[str]:
    if page.next is None:
        return []
    return ["", f"more: {command} --after {page.next}"]


def json_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--json", "as_json_flag", is_flag=True, help="Print one JSON object instead of text."
    )(fn)


def key_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--key",
        default=None,
        help="Idempotency key: the same command with the same key again returns the first"
        " outcome and changes nothing.",
    )(fn)


def page_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option(
        "--after", default=None, metavar="CURSOR", help="Start after this cursor (a page's next)."
    )(fn)
    return click.option(
        "--limit",
        default=20,
        show_default=True,
        type=click.IntRange(1, 500),
        help="Rows per page.",
    )(fn)


def common(help_plugins: str = "Comma-separated plugins to enable.") -> Callable[..., Any]:
    """``--db``, ``--plugins`` and ``--json`` on a command."""

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        return database_option(plugins_option(help_plugins)(json_option(fn)))

    return wrap


@contextmanager
def platform_of(ctx: click.Context, plugins: list[str] | None) -> Iterator[Platform]:
    with open_platform(db_url(ctx), plugins) as platform:
        yield platform


def parse_day(text: str | None, what: str) -> date | None:
    """``YYYY-MM-DD`` given to option ``what`` (``None``: not given); ``InvalidValue`` otherwise."""
    if text is None:
        return None
    try:
        return parse_cob_date(text)
    except InvalidValue:
        raise InvalidValue(f"{what} {text!r} is not a valid date: use YYYY-MM-DD") from None


# -- parties ---------------------------------------------------------------------------------------


@main.group("party")
def party_group() -> None:
    """Parties (borrowers and investors): list and show."""


@party_group.command("list")
@common()
@click.option("--kind", type=click.Choice(["person", "enterprise"]), default=None)
@click.option(
    "--verified/--unverified",
    default=None,
    help="Only parties that passed (or did not pass) the required checks.",
)
@page_options
@click.pass_context
def party_list(
    ctx: click.Context,
    plugins: list[str] | None,
    as_json_flag: bool,
    kind: str | None,
    verified: bool | None,
    limit: int,
    after: str | None,
) -> None:
    """Parties, oldest first, one page at a time."""
    with platform_of(ctx, plugins) as p:
        page = p.parties.list(kind=kind, verified=verified, after=after, limit=limit)
        cur = p.config.currency
    echo_page(
        page,
        cur,
        as_json_flag,
        empty="parties",
        headers=("id", "kind", "verified", "grade", "name"),
        right=(False,) * 5,
        squeeze=4,
        row=lambda x: (x.id, x.kind, "yes" if x.verified else "no", x.grade or "-", x.name),
        command="lendkit party list",
    )


@party_group.command("show")
@click.argument("party_id")
@common()
@click.pass_context
def party_show(
    ctx: click.Context, party_id: str, plugins: list[str] | None, as_json_flag: bool
) -> None:
    """One party: identity, verification, credit, and custody balance."""
    with platform_of(ctx, plugins) as p:
        party = p.parties.get(party_id)
        balance = p.custody.balance(party_id)
        cur = p.config.currency
    if as_json_flag:
        body = {**_value(party), "available": balance.available.format()}
        body["frozen"] = balance.frozen.format()
        click.echo(json.dumps({"currency": cur, **body}, ensure_ascii=False))
        return
    figures = [
        ("id", party.id),
        ("name", party.name),
        ("kind", party.kind),
        ("verified", "yes" if party.verified else "no"),
        ("grade", party.grade or "-"),
        ("credit score", "-" if party.credit_score is None else str(party.credit_score)),
        ("credit line", money_text(party.credit_line)),
        ("risk level", "-" if party.risk_level is None else str(party.risk_level)),
        ("available", money_text(balance.available)),
        ("frozen", money_text(balance.frozen)),
    ]
    echo_lines(fit(("field", "value"), figures, (False, True), squeeze=1))


# -- listings --------------------------------------------------------------------------------------


@main.group("listing")
def listing_group() -> None:
    """Listings (标的): list, show, approve, publish."""


@listing_group.command("list")
@common()
@click.option("--state", default=None, help="Only listings in this state.")
@click.option("--product", default=None, help="Only listings of this product.")
@click.option("--borrower", "borrower_id", default=None, help="Only this borrower's listings.")
@page_options
@click.pass_context
def listing_list(
    ctx: click.Context,
    plugins: list[str] | None,
    as_json_flag: bool,
    state: str | None,
    product: str | None,
    borrower_id: str | None,
    limit: int,
    after: str | None,
) -> None:
    """Listings, oldest first, one page at a time, with the nominal rate and the APR."""
    with platform_of(ctx, plugins) as p:
        page = p.listings.list(
            state=state, product=product, borrower_id=borrower_id, after=after, limit=limit
        )
        cur = p.config.currency
    echo_page(
        page,
        cur,
        as_json_flag,
        empty="listings",
        headers=("id", "state", "amount", "rate", "APR"),
        right=(False, False, True, True, True),
        squeeze=1,
        row=lambda x: (
            x.id,
            x.state,
            money_text(x.amount),
            pct(x.annual_rate or x.max_rate),
            pct(x.apr),
        ),
        command="lendkit listing list",
    )


def listing_lines(p: Platform, listing_id: str) -> tuple[list[str], dict[str, Any]]:
    record = p.listings.get(listing_id)
    cost = p.listings.cost(listing_id)
    figures = [
        ("id", record.id),
        ("borrower", record.borrower_id),
        ("product", record.product),
        ("state", record.state),
        ("amount", money_text(record.amount)),
        ("term", f"{record.months} months, {record.method}"),
        ("bidding", record.bidding),
        ("nominal rate", pct(record.annual_rate or record.max_rate)),
        ("APR (all fees)", pct(record.apr)),
        ("fees", money_text(None if cost is None else cost.fees)),
        ("net proceeds", money_text(None if cost is None else cost.net_proceeds)),
        ("grade", record.grade or "-"),
        ("bids", f"{record.bid_count}, {money_text(record.bid_total)}"),
    ]
    body = {**_value(record), "cost": None if cost is None else _value(cost)}
    return fit(("field", "value"), figures, (False, True), squeeze=1), body


@listing_group.command("show")
@click.argument("listing_id")
@common()
@click.pass_context
def listing_show(
    ctx: click.Context, listing_id: str, plugins: list[str] | None, as_json_flag: bool
) -> None:
    """One listing with the borrower's all-in cost (fees, net proceeds, APR)."""
    with platform_of(ctx, plugins) as p:
        lines, body = listing_lines(p, listing_id)
        cur = p.config.currency
    if as_json_flag:
        click.echo(json.dumps({"currency": cur, **body}, ensure_ascii=False))
    else:
        echo_lines(lines)


@listing_group.command("approve")
@click.argument("listing_id")
@common()
@click.option("--grade", default="A", show_default=True, help="Credit grade (AA..HR).")
@click.option("--rate", "annual_rate", default=None, help="Set the annual rate, e.g. 12%.")
@click.option("--reviewer", default=None, help="Who reviewed it.")
@key_option
@click.pass_context
def listing_approve(
    ctx: click.Context,
    listing_id: str,
    plugins: list[str] | None,
    as_json_flag: bool,
    grade: str,
    annual_rate: str | None,
    reviewer: str | None,
    key: str | None,
) -> None:
    """Approve an applied listing (审核): its grade, optionally its rate."""
    with platform_of(ctx, plugins) as p:
        p.listings.approve(
            listing_id, grade=grade, annual_rate=annual_rate, reviewer=reviewer, key=key
        )
        lines, body = listing_lines(p, listing_id)
        cur = p.config.currency
    if as_json_flag:
        click.echo(json.dumps({"currency": cur, **body}, ensure_ascii=False))
    else:
        echo_lines([f"listing {listing_id} approved", *lines])


@listing_group.command("publish")
@click.argument("listing_id")
@common()
@key_option
@click.pass_context
def listing_publish(
    ctx: click.Context,
    listing_id: str,
    plugins: list[str] | None,
    as_json_flag: bool,
    key: str | None,
) -> None:
    """Publish an approved listing: open for bids until its window closes."""
    with platform_of(ctx, plugins) as p:
        p.listings.publish(listing_id, key=key)
        lines, body = listing_lines(p, listing_id)
        cur = p.config.currency
    if as_json_flag:
        click.echo(json.dumps({"currency": cur, **body}, ensure_ascii=False))
    else:
        echo_lines([f"listing {listing_id} published", *lines])


# -- loans -----------------------------------------------------------------------------------------


@main.group("loan")
def loan_group() -> None:
    """Loans: list, show (status), payoff."""


@loan_group.command("list")
@common()
@click.option("--borrower", "borrower_id", default=None, help="Only this borrower's loans.")
@click.option("--state", default=None, help="Only loans in this state.")
@click.option("--bucket", type=click.Choice(BUCKETS), default=None, help="Aging bucket.")
@page_options
@click.pass_context
def loan_list(
    ctx: click.Context,
    plugins: list[str] | None,
    as_json_flag: bool,
    borrower_id: str | None,
    state: str | None,
    bucket: str | None,
    limit: int,
    after: str | None,
) -> None:
    """Loans, oldest first, one page at a time, with days past due and aging bucket."""
    with platform_of(ctx, plugins) as p:
        page = p.loans.list(
            borrower_id=borrower_id, state=state, bucket=bucket, after=after, limit=limit
        )
        cur = p.config.currency
    echo_page(
        page,
        cur,
        as_json_flag,
        empty="loans",
        headers=("id", "state", "bucket", "dpd", "outstanding"),
        right=(False, False, False, True, True),
        squeeze=0,
        row=lambda x: (
            x.loan.id,
            x.loan.state,
            x.bucket,
            str(x.days_past_due),
            money_text(x.loan.outstanding_principal),
        ),
        command="lendkit loan list",
    )


@loan_group.command("show")
@click.argument("loan_id")
@common()
@click.option("--as-of", "as_of", default=None, help="Date YYYY-MM-DD (default: today, UTC).")
@click.pass_context
def loan_show(
    ctx: click.Context,
    loan_id: str,
    plugins: list[str] | None,
    as_json_flag: bool,
    as_of: str | None,
) -> None:
    """A loan's status: days past due, aging bucket, each installment, what is due."""
    day = parse_day(as_of, "--as-of")
    with platform_of(ctx, plugins) as p:
        s = p.loans.status(loan_id, as_of=day)
        cur = p.config.currency
    if as_json_flag:
        click.echo(as_json(s, cur))
        return
    head = [
        f"loan {s.loan_id}",
        f"borrower {s.borrower_id}",
        f"state {s.state}  as of {s.as_of.isoformat()}  days past due {s.days_past_due}"
        f"  bucket {s.bucket}",
        f"outstanding principal {money_text(s.outstanding_principal)}"
        f"  penalty unpaid {money_text(s.penalty_unpaid)}",
        f"due today {money_text(s.due_today)}  next due "
        + (
            "-"
            if s.next_due_date is None
            else f"{s.next_due_date.isoformat()} {money_text(s.next_due_amount)}"
        ),
        "",
    ]
    rows = [
        (
            str(i.period),
            i.due_date.isoformat(),
            i.state,
            i.due.format(),
            (i.paid_principal + i.paid_interest + i.paid_penalty).format(),
            i.penalty.format(),
            i.covered.format(),
            i.owed.format(),
        )
        for i in s.installments
    ]
    table = fit(
        ("#", "due date", "state", "due", "paid", "penalty", "covered", "owed"),
        rows,
        (True, False, False, True, True, True, True, True),
        squeeze=2,
    )
    covers = [
        f"  installment {i.period}: {c.paid_by} covered {money_text(c.covered)},"
        f" recovered {money_text(c.recovered)}"
        for i in s.installments
        for c in i.covers
    ]
    echo_lines(
        [*head, f"installments ({cur})", *table]
        + (["", "third parties", *covers] if covers else [])
    )


@loan_group.command("payoff")
@click.argument("loan_id")
@common()
@click.option("--on", "on", default=None, help="Date YYYY-MM-DD (default: today, UTC).")
@click.pass_context
def loan_payoff(
    ctx: click.Context, loan_id: str, plugins: list[str] | None, as_json_flag: bool, on: str | None
) -> None:
    """The exact amount that settles a loan on a date, itemised (repaying it settles the loan)."""
    day = parse_day(on, "--on")
    with platform_of(ctx, plugins) as p:
        q = p.loans.payoff(loan_id, on=day)
        cur = p.config.currency
    if as_json_flag:
        click.echo(as_json(q, cur))
        return
    figures = [
        (
            f"installment {r.period} due {r.due_date.isoformat()} (penalty {r.penalty.format()})",
            money_text(r.total),
        )
        for r in q.overdue
    ]
    figures += [
        ("remaining principal", money_text(q.principal)),
        ("interest to date", money_text(q.interest)),
        ("prepayment fee", money_text(q.fee)),
        ("total", money_text(q.total)),
    ]
    echo_lines(
        [
            f"payoff of loan {q.loan_id} on {q.on.isoformat()}",
            *fit(("item", "amount"), figures, (False, True), squeeze=0),
        ]
    )


# -- money -----------------------------------------------------------------------------------------


def movement_out(p: Platform, movement: Any, as_json_flag: bool, verb: str) -> None:
    if as_json_flag:
        click.echo(as_json(movement, p.config.currency))
        return
    balance = p.custody.balance(movement.party_id)
    click.echo(
        f"{verb} {money_text(movement.amount)} for {movement.party_id}: {movement.state}"
        f" (movement {movement.id}); available {money_text(balance.available)},"
        f" frozen {money_text(balance.frozen)}"
    )


@main.command("deposit")
@click.argument("party_id")
@click.argument("amount")
@common()
@key_option
@click.pass_context
def deposit_command(
    ctx: click.Context,
    party_id: str,
    amount: str,
    plugins: list[str] | None,
    as_json_flag: bool,
    key: str | None,
) -> None:
    """Deposit AMOUNT (e.g. 1000.00) into a party's custody account (充值)."""
    with platform_of(ctx, plugins) as p:
        movement = p.custody.deposit(party_id, amount, key=key)
        movement_out(p, movement, as_json_flag, "deposit")


@main.command("withdraw")
@click.argument("party_id")
@click.argument("amount")
@common()
@key_option
@click.pass_context
def withdraw_command(
    ctx: click.Context,
    party_id: str,
    amount: str,
    plugins: list[str] | None,
    as_json_flag: bool,
    key: str | None,
) -> None:
    """Withdraw AMOUNT from a party's available balance to its bank (提现)."""
    with platform_of(ctx, plugins) as p:
        movement = p.custody.withdraw(party_id, amount, key=key)
        movement_out(p, movement, as_json_flag, "withdrawal")


@main.command("disburse")
@click.argument("listing_id")
@common()
@click.option("--reviewer", default=None, help="Who confirmed the funded listing.")
@key_option
@click.pass_context
def disburse_command(
    ctx: click.Context,
    listing_id: str,
    plugins: list[str] | None,
    as_json_flag: bool,
    reviewer: str | None,
    key: str | None,
) -> None:
    """Disburse a funded listing (满标放款): the loan starts, the borrower is paid less fees."""
    with platform_of(ctx, plugins) as p:
        loan = p.loans.disburse(listing_id, reviewer=reviewer, key=key)
        cur = p.config.currency
    if as_json_flag:
        click.echo(as_json(loan, cur))
        return
    click.echo(
        f"loan {loan.id} disbursed: {money_text(loan.principal)} at {pct(loan.annual_rate)}"
        f" over {loan.months} months to {loan.borrower_id}, {len(loan.positions)} positions"
    )


# -- statements ------------------------------------------------------------------------------------


@custody_group.command("history")
@click.argument("party_id")
@common()
@click.option("--since", default=None, help="From this date YYYY-MM-DD (UTC).")
@click.option("--until", default=None, help="Through this date YYYY-MM-DD (UTC).")
@page_options
@click.pass_context
def history_command(
    ctx: click.Context,
    party_id: str,
    plugins: list[str] | None,
    as_json_flag: bool,
    since: str | None,
    until: str | None,
    limit: int,
    after: str | None,
) -> None:
    """Every movement of a party's custody accounts with its running balance."""
    start, end = parse_day(since, "--since"), parse_day(until, "--until")
    with platform_of(ctx, plugins) as p:
        page = p.custody.history(party_id, since=start, until=end, after=after, limit=limit)
        cur = p.config.currency
    echo_page(
        page,
        cur,
        as_json_flag,
        empty="movements",
        headers=("date", "movement", "amount", "frozen", "balance"),
        right=(False, False, True, True, True),
        squeeze=1,
        row=lambda line: (
            line.at.date().isoformat(),
            line.description,
            line.amount.format(),
            line.frozen_balance.format(),
            line.balance.format(),
        ),
        command=f"lendkit custody history {party_id}",
        title=(
            f"statement of {party_id} ({cur})",
            "amount: the change of available + frozen; balance: available + frozen after it",
        ),
    )


@main.command("portfolio")
@click.argument("investor_id")
@common()
@click.pass_context
def portfolio_command(
    ctx: click.Context, investor_id: str, plugins: list[str] | None, as_json_flag: bool
) -> None:
    """An investor's positions, cash, open bids and yields (XIRR, net of fees)."""
    with platform_of(ctx, plugins) as p:
        pf = p.portfolio(investor_id)
        cur = p.config.currency
    if as_json_flag:
        click.echo(as_json(pf, cur))
        return
    rows = [
        (
            x.loan_id,
            x.outstanding_principal.format(),
            x.received.format(),
            x.covered.format(),
            x.expected.format(),
        )
        for x in pf.positions
    ]
    head = [
        f"portfolio of {investor_id} on {pf.as_of.isoformat()} ({cur})",
        f"cash available {money_text(pf.available)}, frozen {money_text(pf.frozen)},"
        f" open bids {len(pf.open_bids)}",
        f"yield (XIRR, net of fees): realised {pct(pf.realised_yield)},"
        f" expected {pct(pf.expected_yield)}",
        "",
    ]
    table = (
        fit(
            ("loan", "outstanding", "received", "covered", "expected"),
            rows,
            (False, True, True, True, True),
            squeeze=0,
        )
        if rows
        else ["(no positions)"]
    )
    echo_lines(head + table)

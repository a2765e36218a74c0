"""``lendkit market offer|buy|cancel|list``: the secondary market (debt transfer, 债权转让).

Each command opens the database (``--db``, the plugins it remembers), runs one facade call
(``platform.market``) and prints the result as text or, with ``--json``, one JSON value.
Mutating commands take ``--key`` (an idempotency key: a repeat with the same key and arguments
returns the first outcome). A refusal prints one line and exits non-zero.
"""

from __future__ import annotations

import json
from typing import Any

import click

from lendkit.cli.base import database_option, db_url, main
from lendkit.cli.cob import open_platform
from lendkit.cli.db import plugins_option
from lendkit.core.records import TransferAgreement, TransferRecord

__all__ = ["agreement_dict", "market_group", "transfer_dict"]

PLUGINS_HELP = "Comma-separated plugins to enable, as the application enables them."


def transfer_dict(t: TransferRecord) -> dict[str, Any]:
    """A transfer as JSON-ready text values (amounts as decimal strings)."""
    return {
        "id": t.id,
        "loan": t.loan_id,
        "seller": t.seller_id,
        "principal": t.principal.format(),
        "price": t.price.format(),
        "sold": t.sold.format(),
        "remaining": t.remaining.format(),
        "currency": t.principal.currency,
        "state": t.state,
        "created_at": t.created_at.isoformat(),
        "expires_at": t.expires_at.isoformat(),
    }


def agreement_dict(a: TransferAgreement) -> dict[str, Any]:
    """A transfer agreement as JSON-ready text values."""
    return {
        "id": a.id,
        "transfer": a.transfer_id,
        "loan": a.loan_id,
        "seller": a.seller_id,
        "buyer": a.buyer_id,
        "principal": a.principal.format(),
        "price": a.price.format(),
        "accrued_interest": a.accrued_interest.format(),
        "fee": a.fee.format(),
        "buyer_paid": a.buyer_paid.format(),
        "seller_received": a.seller_received.format(),
        "currency": a.principal.currency,
        "settled_on": a.settled_on.isoformat(),
    }


def _emit(value: dict[str, Any] | list[dict[str, Any]], as_json: bool, lines: list[str]) -> None:
    if as_json:
        click.echo(json.dumps(value, ensure_ascii=False, sort_keys=True))
    else:
        for line in lines:
            click.echo(line)


def _transfer_line(t: TransferRecord) -> str:
    return (
        f"{t.id}  loan {t.loan_id}  seller {t.seller_id}  {t.principal} for {t.price}"
        f"  sold {t.sold}  {t.state}  expires {t.expires_at:%Y-%m-%d %H:%M}"
    )


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
key_option = click.option(
    "--key", default=None, help="Idempotency key: a repeat returns the first outcome."
)


@main.group("market")
def market_group() -> None:
    """The secondary market: offer, buy, cancel and list transfers of loans' claims."""


@market_group.command("offer")
@click.argument("loan_id")
@click.argument("seller_id")
@click.argument("principal")
@click.option("--price", default=None, help="Price for all of PRINCIPAL (default: par).")
@key_option
@json_option
@database_option
@plugins_option(PLUGINS_HELP)
@click.pass_context
def offer_command(
    ctx: click.Context,
    loan_id: str,
    seller_id: str,
    principal: str,
    price: str | None,
    key: str | None,
    as_json: bool,
    plugins: list[str] | None,
) -> None:
    """SELLER_ID offers PRINCIPAL of its outstanding principal in LOAN_ID."""
    with open_platform(db_url(ctx), plugins) as platform:
        t = platform.market.offer(loan_id, seller_id, principal, price, key=key)
    _emit(transfer_dict(t), as_json, [f"offered: {_transfer_line(t)}"])


@market_group.command("buy")
@click.argument("transfer_id")
@click.argument("buyer_id")
@click.argument("principal")
@key_option
@json_option
@database_option
@plugins_option(PLUGINS_HELP)
@click.pass_context
def buy_command(
    ctx: click.Context,
    transfer_id: str,
    buyer_id: str,
    principal: str,
    key: str | None,
    as_json: bool,
    plugins: list[str] | None,
) -> None:
    """BUYER_ID buys PRINCIPAL of TRANSFER_ID (trimmed to what remains); it settles at once."""
    with open_platform(db_url(ctx), plugins) as platform:
        a = platform.market.buy(transfer_id, buyer_id, principal, key=key)
    _emit(
        agreement_dict(a),
        as_json,
        [
            f"bought {a.principal} of loan {a.loan_id} from {a.seller_id} (agreement {a.id})",
            f"  price {a.price} + accrued interest {a.accrued_interest} = {a.buyer_paid} paid",
            f"  seller's fee {a.fee}; seller received {a.seller_received}",
        ],
    )


@market_group.command("cancel")
@click.argument("transfer_id")
@key_option
@json_option
@database_option
@plugins_option(PLUGINS_HELP)
@click.pass_context
def cancel_command(
    ctx: click.Context,
    transfer_id: str,
    key: str | None,
    as_json: bool,
    plugins: list[str] | None,
) -> None:
    """Withdraw an open transfer (what it did not sell is free again)."""
    with open_platform(db_url(ctx), plugins) as platform:
        t = platform.market.cancel(transfer_id, key=key)
    _emit(transfer_dict(t), as_json, [f"cancelled: {_transfer_line(t)}"])


@market_group.command("list")
@click.option("--loan", "loan_id", default=None, help="Only this loan's transfers.")
@click.option("--seller", "seller_id", default=None, help="Only this seller's transfers.")
@click.option(
    "--state", default=None, help="Only transfers in this state: open, filled, expired, cancelled."
)
@json_option
@database_option
@plugins_option(PLUGINS_HELP)
@click.pass_context
def list_command(
    ctx: click.Context,
    loan_id: str | None,
    seller_id: str | None,
    state: str | None,
    as_json: bool,
    plugins: list[str] | None,
) -> None:
    """Transfers, oldest first."""
    with open_platform(db_url(ctx), plugins) as platform:
        found = platform.market.transfers(loan_id=loan_id, seller_id=seller_id, state=state)
    _emit(
        [transfer_dict(t) for t in found],
        as_json,
        [_transfer_line(t) for t in found] or ["no transfers"],
    )

"""Platform configuration: fees, overdue rules, credit policy, waterfall, per-plugin settings."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from attrs import Attribute, Factory, field, frozen

from lendkit.core.access import DEFAULT_PARTY_ACTIONS, DEFAULT_ROLES
from lendkit.core.errors import ConfigError

GRADES = ("AA", "A", "B", "C", "D", "E", "HR")
PAYMENT_PARTS = ("penalty", "interest", "principal")


def _default_grade_rates() -> dict[str, Decimal]:
    return {
        "AA": Decimal("0.08"),
        "A": Decimal("0.09"),
        "B": Decimal("0.10"),
        "C": Decimal("0.12"),
        "D": Decimal("0.14"),
        "E": Decimal("0.16"),
        "HR": Decimal("0.20"),
    }


def _positive(name: str) -> Any:
    def check(_instance: object, _attribute: Attribute[Any], value: Any) -> None:
        if value <= 0:
            raise ConfigError(f"{name} {value} must be more than zero")

    return check


def _not_negative(name: str) -> Any:
    def check(_instance: object, _attribute: Attribute[Any], value: Any) -> None:
        if value < 0:
            raise ConfigError(f"{name} {value} must not be negative")

    return check


@frozen
class PlatformConfig:
    """Everything an integrator may set; ``Platform.open(..., config={...})`` structures a dict.

    Rates are decimal fractions (``"0.01"`` is 1 %). Unknown keys are refused.
    """

    currency: str = "CNY"
    #: borrower's service fee, a fraction of principal taken at disbursement (to platform revenue)
    service_fee_rate: Decimal = Decimal("0.01")
    #: platform's management fee, a fraction of the interest investors receive
    management_fee_rate: Decimal = Decimal("0.10")
    #: days after the due date before an unpaid installment is overdue and accrues penalty
    grace_days: int = 3
    #: daily penalty interest on the overdue amount (principal + interest)
    penalty_daily_rate: Decimal = Decimal("0.0005")
    #: days overdue after which a loan is defaulted
    default_after_days: int = 90
    #: order a payment is applied in
    allocation_order: tuple[str, ...] = PAYMENT_PARTS
    #: fee on prepaid principal (fraction), paid to platform revenue
    prepayment_fee_rate: Decimal = Decimal("0.01")
    #: plugin names, in the order they pay investors for an overdue/defaulted loan
    waterfall: tuple[str, ...] = ()
    #: days overdue at which the waterfall is asked to cover (plugins apply their own triggers too)
    cover_after_days: int = 1
    #: rate given to an approved listing by grade when the reviewer names none
    grade_rates: dict[str, Decimal] = Factory(_default_grade_rates)
    #: maximum credit line per grade (minor units not used: decimal amounts as strings); empty = no cap
    grade_line_caps: dict[str, Decimal] = Factory(dict)
    #: rating agencies whose reports count in credit assessment
    rating_agencies: tuple[str, ...] = ()
    #: investor risk level (1..5) -> the worst grade they may bid on
    risk_level_grades: dict[int, str] = Factory(lambda: {1: "A", 2: "B", 3: "C", 4: "D", 5: "HR"})
    #: the longest funding window (days) a listing may ask for (``listings.apply(window_days=)``)
    funding_window_days_max: int = 30
    #: SQLite durability: FULL (default, survives power loss) or NORMAL
    sqlite_synchronous: str = "FULL"
    #: configuration per plugin, by plugin name
    plugins: dict[str, dict[str, Any]] = Factory(dict)
    #: chunk size of close-of-business bulk work
    cob_chunk: int = field(default=500)
    #: PostgreSQL: how many hash chains the journal spreads concurrent writers over (each
    #: transaction holds one chain until it ends; their head rows are created when the Platform
    #: opens). 0 (default): as many as the server's ``max_connections``, so a writer always finds
    #: a free chain and never waits for one; 1..4096: that many (with more writers at once, one
    #: waits for its chain). SQLite writes chain 1.
    ledger_chains: int = field(default=0)

    @ledger_chains.validator
    def _check_chains(self, _attribute: Any, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 4096:
            raise ConfigError(
                f"ledger_chains {value!r} is invalid: use a whole number from 0 (as many as"
                " the server's max_connections) to 4096"
            )

    # -- secondary market (debt transfer, 债权转让; docs/market.md) ----------------------------------
    #: the unit a transfer's principal is offered and bought in (an amount of the currency): a
    #: position is sold in multiples of it, or all of what is left
    transfer_unit: Decimal = field(default=Decimal("1.00"), validator=_positive("transfer_unit"))
    #: the lowest price of a transfer, as a fraction of the principal sold (0.90: a 10 % discount)
    transfer_price_min: Decimal = field(
        default=Decimal("0.90"), validator=_positive("transfer_price_min")
    )
    #: the highest price of a transfer, as a fraction of the principal sold (1.05: a 5 % premium)
    transfer_price_max: Decimal = field(
        default=Decimal("1.05"), validator=_positive("transfer_price_max")
    )
    #: days a position must be held (since disbursement, or since it was bought) before sale
    transfer_min_holding_days: int = field(
        default=30, validator=_not_negative("transfer_min_holding_days")
    )
    #: no transfer is offered or bought within this many days before an installment's due date
    transfer_blackout_days: int = field(
        default=3, validator=_not_negative("transfer_blackout_days")
    )
    #: the seller's fee, a fraction of the price, paid to platform revenue at each settlement
    transfer_fee_rate: Decimal = field(
        default=Decimal("0.005"), validator=_not_negative("transfer_fee_rate")
    )
    #: days a transfer stays open for buyers (close of business expires it after)
    transfer_expiry_days: int = field(default=7, validator=_positive("transfer_expiry_days"))
    #: only loans that are current (no installment past due) may be transferred; False also
    #: admits overdue loans (never defaulted or closed ones)
    transfer_current_only: bool = True
    # -- staff, permissions, audit (docs/access.md) -------------------------------------------------
    #: roles and the actions (names or ``fnmatch`` patterns) each grants: a role named here
    #: replaces the default role of that name (``lendkit.core.access.DEFAULT_ROLES``) or adds one
    roles: dict[str, tuple[str, ...]] = Factory(dict)
    #: what a party may do for itself, on its own accounts, listings, loans and positions
    party_actions: tuple[str, ...] = DEFAULT_PARTY_ACTIONS
    #: four-eyes: a listing's approver may not disburse it; a write-off needs another staff
    #: member's request first (``loans.request_write_off``)
    four_eyes: bool = True
    #: refuse commands run without an explicit actor (``Platform.open(actor=)``, ``actor=``,
    #: ``--actor``) instead of running them as ``system``
    require_actor: bool = False

    @property
    def all_roles(self) -> dict[str, tuple[str, ...]]:
        """The default roles with this configuration's ``roles`` applied."""
        return {**DEFAULT_ROLES, **self.roles}

    def __attrs_post_init__(self) -> None:
        if self.transfer_price_min > self.transfer_price_max:
            raise ConfigError(
                f"transfer_price_min {self.transfer_price_min} is above transfer_price_max"
                f" {self.transfer_price_max}: the price bounds must not cross"
            )

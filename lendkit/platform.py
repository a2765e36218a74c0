"""``Platform``: the facade an integrator holds, one per database and plugin set.

Thread-safe and cheap to share: every public call is its own unit of work on a pooled connection
(or, through :meth:`Platform.using`, a step inside the host application's own transaction).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import attrs
import pluggy
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session

from lendkit.core.access import Actor, AuditEntry, Subject, parse_actor
from lendkit.core.config import PlatformConfig
from lendkit.core.context import HookContext
from lendkit.core.errors import ConfigError, PluginError, SchemaOutOfDate
from lendkit.core.hooks import Hooks
from lendkit.core.records import Product
from lendkit.core.serde import structure
from lendkit.core.servicing import Page, Portfolio
from lendkit.migrations import PluginSchema
from lendkit.ops.context import OPERATIONS
from lendkit.plugin_manager import make_plugin_manager
from lendkit.services.custody import CustodyGateway, CustodyService
from lendkit.services.parties import PartiesService
from lendkit.store import schema
from lendkit.store.audit import verify_audit
from lendkit.store.db import check_sqlite_directory, create_lendkit_engine, sqlite_path
from lendkit.store.ledger import AccountCache, VerifyReport, init_head, verify_ledger
from lendkit.uow import Environment, HostRunner, OwnRunner, Runner, UnitOfWork

if TYPE_CHECKING:
    from lendkit.services.bidding import BiddingService
    from lendkit.services.cob import CobService
    from lendkit.services.listings import ListingsService
    from lendkit.services.loans import LoansService
    from lendkit.services.market import MarketService
    from lendkit.services.reports import ReportsService
    from lendkit.services.staff import StaffService

DEFAULT_URL = "sqlite:///lendkit.db"

T = TypeVar("T")


def system_clock() -> datetime:
    return datetime.now(UTC)


class Platform:
    """A lending platform over one database with a chosen set of plugins.

    Services: ``parties``, ``custody``, ``listings``, ``bidding``, ``loans``, ``market``,
    ``cob``, ``reports``, ``staff``.

    Every mutating command runs for an actor (``actor=`` on the command, else the platform's
    default from ``Platform.open(actor=)`` or :meth:`as_actor`, else ``system``), is authorized
    and leaves an audit row (:meth:`audit`); see docs/access.md.
    """

    parties: PartiesService
    custody: CustodyService
    listings: ListingsService
    bidding: BiddingService
    loans: LoansService
    market: MarketService
    cob: CobService
    reports: ReportsService
    staff: StaffService

    def __init__(
        self,
        engine: Engine,
        *,
        plugins: Iterable[str | object] = ("online",),
        config: PlatformConfig | Mapping[str, Any] | None = None,
        clock: Callable[[], datetime] = system_clock,
        gateway: CustodyGateway | None = None,
        owns_engine: bool = False,
        actor: Actor | str | None = None,
    ) -> None:
        if config is None:
            config = PlatformConfig()
        elif not isinstance(config, PlatformConfig):
            config = structure(dict(config), PlatformConfig, "platform config")
        self.config: PlatformConfig = config
        self.engine = engine
        self.clock = clock
        self._owns_engine = owns_engine
        self.plugin_names = [p if isinstance(p, str) else repr(p) for p in plugins]
        self.pm: pluggy.PluginManager = make_plugin_manager(plugins)
        self.hooks = Hooks(self.pm)
        self.products: dict[str, Product] = self.hooks.products()
        #: the plugins' settings, structured once here: bad configuration is refused at open
        self.settings: dict[str, Any] = self.hooks.settings(self.config.plugins)
        for name in self.config.waterfall:
            if not self.pm.has_plugin(name):
                raise ConfigError(
                    f"waterfall names plugin {name!r}, which is not enabled"
                    f" (enabled: {', '.join(self.plugin_names) or 'none'})"
                )
        self.accounts = AccountCache()
        self.env = Environment(
            config=self.config,
            hooks=self.hooks,
            products=self.products,
            accounts=self.accounts,
            clock=clock,
            operations=OPERATIONS,
            settings=self.settings,
        )
        self.runner: Runner = OwnRunner(
            self.env, engine, None if actor is None else parse_actor(actor)
        )
        self._gateway = gateway
        self._build_services()

    def _build_services(self, view: Platform | None = None) -> None:
        """Give this platform (or ``view``, a copy of it from :meth:`using`) its services."""
        # imported here: the lifecycle services import Platform for typing only
        from lendkit.services import bidding, cob, listings, loans, market, reports, staff

        p = self if view is None else view
        p.parties = PartiesService(p)
        p.custody = CustodyService(p, self._gateway)
        p.listings = listings.ListingsService(p)
        p.bidding = bidding.BiddingService(p)
        p.loans = loans.LoansService(p)
        p.market = market.MarketService(p)
        p.cob = cob.CobService(p)
        p.reports = reports.ReportsService(p)
        p.staff = staff.StaffService(p)

    # -- opening ----------------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        url: str = DEFAULT_URL,
        plugins: Iterable[str | object] | None = None,
        *,
        config: PlatformConfig | Mapping[str, Any] | None = None,
        clock: Callable[[], datetime] = system_clock,
        gateway: CustodyGateway | None = None,
        create: bool = True,
        actor: Actor | str | None = None,
        **engine_kwargs: Any,
    ) -> Platform:
        """Open the platform on ``url`` (SQLite file or PostgreSQL).

        With ``create`` (the default) a new or behind schema is migrated to the current version;
        with ``create=False`` a schema that is behind raises ``SchemaOutOfDate``, and so does a
        SQLite file that does not exist (nothing is created). A SQLite path whose directory does
        not exist is a ``ConfigError`` naming it, whatever ``create`` says.

        A database remembers the plugins it was created or last upgraded with (their names;
        plugin objects passed directly are the host's own code and are not remembered).
        ``plugins=None`` (the default) opens it with those, or ``["online"]`` if it remembers
        none. Named plugins that differ from the remembered set raise ``PluginsMismatch``
        naming both sets, except that with ``create=True`` more plugins may be given: that adds
        them (their migrations run and the database remembers the larger set). A remembered
        plugin is never dropped by leaving it out.

        ``actor`` (an :class:`~lendkit.core.access.Actor` or ``party:ID`` / ``staff:ID`` /
        ``system``) is who commands run for when they name none; without it they run as
        ``system`` (unless the configuration sets ``require_actor``).
        """
        default_actor = None if actor is None else parse_actor(actor)
        cfg = (
            config
            if isinstance(config, PlatformConfig) or config is None
            else structure(dict(config), PlatformConfig, "platform config")
        )
        synchronous = cfg.sqlite_synchronous if cfg else "FULL"
        if not create:
            path = sqlite_path(url)
            if path is not None and not path.exists():
                check_sqlite_directory(url)
                raise SchemaOutOfDate(
                    f"database file {str(path)!r} does not exist (opened with create=False):"
                    " open it with create=True or run `lendkit db upgrade` to create it"
                )
        engine = create_lendkit_engine(url, sqlite_synchronous=synchronous, **engine_kwargs)
        try:
            with engine.connect() as conn:
                remembered = schema.remembered_plugins(conn)
            if plugins is None:
                plugins = schema.DEFAULT_PLUGINS if remembered is None else remembered
            chosen = list(plugins)
            named = [p for p in chosen if isinstance(p, str)]
            where = engine.url.render_as_string(hide_password=True)
            schema.check_plugins(remembered, named, adding=create, database=where)
            platform = cls(
                engine,
                plugins=chosen,
                config=cfg,
                clock=clock,
                gateway=gateway,
                owns_engine=True,
                actor=default_actor,
            )
            plugin_schemas = platform.plugin_schemas()
            if create:
                schema.upgrade(engine, plugin_schemas, remember=named)
            else:
                with engine.connect() as conn:
                    todo = schema.pending(conn, plugin_schemas)
                if todo:
                    raise SchemaOutOfDate(
                        f"database schema is behind ({len(todo)} migrations pending:"
                        f" {', '.join(todo[:5])}): run `lendkit db upgrade`"
                    )
            with engine.begin() as conn:  # the ledger's chains exist before any writer starts
                init_head(conn, platform.config.ledger_chains)
            # gateway requests a killed process committed but never sent go out now, once
            platform.custody.recover()
            return platform
        except BaseException:
            engine.dispose()
            raise

    def plugin_schemas(self) -> list[PluginSchema]:
        """The tables and migrations of every enabled plugin that owns tables."""
        found = []
        for _name, plugin in self.pm.list_name_plugin():
            declared = getattr(plugin, "lendkit_schema", None)
            if isinstance(declared, PluginSchema):
                found.append(declared)
        return found

    def close(self) -> None:
        """Release pooled connections (only if the Platform created the engine)."""
        if self._owns_engine:
            self.engine.dispose()

    def __enter__(self) -> Platform:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- embedding --------------------------------------------------------------------------------

    def using(self, session_or_connection: Session | Connection) -> Platform:
        """A view of this platform whose commands run inside the host's transaction.

        lendkit flushes and uses SAVEPOINTs (a refused command undoes only its own part); the
        host commits or rolls back everything together.
        """
        conn = (
            session_or_connection.connection()
            if isinstance(session_or_connection, Session)
            else session_or_connection
        )
        view = copy.copy(self)
        view.runner = HostRunner(self.env, conn, self.runner.actor)
        self._build_services(view)
        return view

    def as_actor(self, actor: Actor | str) -> Platform:
        """A view of this platform whose commands run for ``actor`` when they name none
        (``Actor.staff("alice")``, ``"party:P1"``, ``"system"``); same transactions otherwise."""
        view = copy.copy(self)
        view.runner = self.runner.with_actor(actor)
        self._build_services(view)
        return view

    # -- commands ---------------------------------------------------------------------------------

    def command(
        self,
        name: str,
        fn: Callable[[HookContext], T],
        *,
        key: str | None = None,
        payload: Any = None,
        result_type: Any = None,
        actor: Actor | str | None = None,
        subject: Subject | None = None,
    ) -> T:
        """Run ``fn(ctx)`` as one command: the way plugins define theirs (e.g. ``reserve.seed``).

        It runs like any core command: in its own transaction, retried on a serialization
        failure, deadlock or SQLITE_BUSY (so ``fn`` may run more than once: keep outside effects
        in ``ctx.after_commit``), or, on a view from :meth:`using`, inside the host's transaction
        (a SAVEPOINT; the host commits or rolls back).

        :param name: the command's name, ``"<plugin>.<function>"``; an idempotency key belongs to
            one command.
        :param fn: the work, given the unit of work's ``HookContext``; its return value is the
            command's.
        :param key: an idempotency key: a repeat returns the first outcome (or raises the first
            refusal on state again) without running ``fn``; the same key with another ``name`` or
            ``payload`` raises ``IdempotencyConflict``.
        :param payload: what identifies the request (the parsed arguments, JSON-able): compared
            on a repeat.
        :param result_type: the type of ``fn``'s result (an attrs record, ``Money``, a list of
            records...), needed with a ``key`` to return the stored outcome on a repeat.
        :param actor: who runs it (default: the platform's actor, else ``system``); it is
            authorized for the action ``name`` (``PermissionDenied`` otherwise) and the command
            leaves an audit row, refused or not.
        :param subject: what it acts on, for the audit trail and the owner check of a party
            actor (``Subject("pledge", pledge_id, owner=party_id)``); default
            ``plugin:<plugin>``, which no party owns. Reads use :meth:`query` instead.
        :raises PluginError: ``fn`` returned a value with a ``key`` but no ``result_type``.

        Example::

            def seed(platform, amount, *, key=None):
                money = parse_amount(amount, platform.config.currency, "seed amount")

                def run(ctx):
                    ...  # move money with ctx.transfer, write the plugin's tables
                    return ctx.balance(fund)

                return platform.command("reserve.seed", run, key=key,
                                        payload=[money.format()], result_type=Money)
        """
        if not isinstance(name, str) or not name.strip():
            raise PluginError(f"command name {name!r} must be a non-empty string")

        def run(uow: UnitOfWork) -> T:
            result = fn(uow)
            if key is not None and result is not None and result_type is None:
                raise PluginError(
                    f"command {name} returns a value: pass result_type= so that a repeat of"
                    " its idempotency key can return it"
                )
            return result

        if subject is None:
            subject = Subject("plugin", name.partition(".")[0])
        return self.runner.run(
            name,
            run,
            key=key,
            payload=payload,
            result_type=result_type,
            actor=actor,
            subject=subject,
        )

    def query(self, name: str, fn: Callable[[HookContext], T]) -> T:
        """Run ``fn(ctx)`` as a read (``"<plugin>.<what>"``): one unit of work, retried like a
        command, on a host's connection from :meth:`using`; not authorized, not audited. It
        must not change anything: commands go through :meth:`command`."""
        if not isinstance(name, str) or not name.strip():
            raise PluginError(f"query name {name!r} must be a non-empty string")
        return self.runner.run(name, fn)

    @contextmanager
    def transaction(self) -> Iterator[UnitOfWork]:
        """A unit of work for code that needs several steps in one transaction.

        No retry, no idempotency key, and it does not join a host transaction: plugins define
        their commands with :meth:`command` instead.
        """
        with self.engine.connect() as conn, conn.begin():
            uow = UnitOfWork(conn, self.env)
            yield uow
            uow.flush()  # a refusal of what the block booked is raised here, then rolled back
        uow.run_after_commit()

    # -- reads ------------------------------------------------------------------------------------

    def audit(
        self,
        *,
        subject: str | None = None,
        actor: Actor | str | None = None,
        action: str | None = None,
        outcome: str | None = None,
        since: datetime | date | None = None,
        until: datetime | date | None = None,
        after: str | None = None,
        limit: int = 50,
    ) -> Page[AuditEntry]:
        """The audit trail, oldest first, a page at a time: every mutating command, refused or
        not (time, actor, action, subject, digest of the arguments, outcome, error class,
        idempotency key), filtered by ``subject`` (``listing:L1``), ``actor``, ``action``,
        ``outcome`` (``ok``, ``refused``, ``replayed``) and time (``since`` <= at < ``until``)."""
        return self.reports.audit(
            subject=subject,
            actor=actor,
            action=action,
            outcome=outcome,
            since=since,
            until=until,
            after=after,
            limit=limit,
        )

    def portfolio(self, investor_id: str) -> Portfolio:
        """An investor's positions, cash, open bids and yields: :meth:`ReportsService.portfolio`."""
        return self.reports.portfolio(investor_id)

    # -- checks -----------------------------------------------------------------------------------

    def verify(self, anchor: str | None = None) -> VerifyReport:
        """Rebuild balances from the journal and check every ledger invariant (see ``lendkit verify``).

        ``anchor`` is a ``SEQ:HASH`` kept from an earlier report (``report.head``): the check
        then also fails if the journal up to SEQ was rewritten, even consistently. The audit
        trail's chains are checked too: an edited or deleted audit row is a problem.
        """
        with self.engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                # one snapshot for every query, so concurrent writers cannot cause false alarms
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                report = verify_ledger(conn, anchor)
                problems = verify_audit(conn)
        if not problems:
            return report
        return attrs.evolve(report, ok=False, problems=(*report.problems, *problems))

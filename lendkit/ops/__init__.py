"""Operations: every use case as a public function on one unit of work.

The layers, each importing only the ones below it (an import-linter contract in pyproject keeps
them)::

    cli, bench, testing          the command line, the benchmark harness, test helpers
    platform                     ``Platform``: opens the database, loads plugins, wires facades
    facades (lendkit.services)   ``p.parties``, ``p.listings``...: parse and validate arguments,
                                 then run ONE operation in a unit of work through the runner
                                 (retries, idempotency key, SAVEPOINT inside a host transaction)
    operations (lendkit.ops)     this package: public functions taking the unit of work first
                                 (``ops.bidding.place_bid(ctx, ...)``); they may call each other
                                 but never a facade or the ``Platform``
    unit of work (lendkit.uow)   ``UnitOfWork``: connection, clock, business date, after-commit
                                 callbacks and the platform's ``Environment`` (no Platform)
    store                        tables, the ledger's append-only journal, row helpers, migrations
    core                         pure domain: money, schedules, states, records, hook specs

Inside this package the modules import each other in one direction (no circle)::

    listings, reports
      autobid, auction
        bidding
          custody, reconciliation
            holds
              parties, records

A function's first parameter is the unit of work (``ctx``); its other parameters are already
parsed and validated values (``Money``, ``Decimal``, checked ids), never raw user input.
"""

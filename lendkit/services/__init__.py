"""Facades (``platform.parties``, ``custody``, ``listings``, ``bidding``, ``loans``, ``cob``,
``reports``): each method validates its arguments and runs one operation of :mod:`lendkit.ops`
in a unit of work through the platform's runner (retries, idempotency key, host transaction)."""

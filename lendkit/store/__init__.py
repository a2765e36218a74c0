"""Persistence: lendkit_* tables, ledger repository, engines and migrations."""

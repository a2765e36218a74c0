"""Pure domain code of lendkit: money, schedules, ledger rules, states and hooks."""

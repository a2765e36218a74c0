"""``lendkit simulate``: a stress test of a synthetic platform on the real engine.

:func:`run_simulation` builds borrowers by grade, investors with auto-bid rules and deposits, and
products using the enabled risk plugins (reserve, guarantee, insurance, collateral, supplychain),
then runs month after month through the platform's own commands and close of business:
repayments, prepayments, defaults drawn per grade and month, recoveries, new listings and
withdrawals, shaped by a :class:`Scenario`. Imported only when the command runs.
"""

from __future__ import annotations

from lendkit.simulate.engine import (
    ALL_PLUGINS,
    RISK_PLUGINS,
    Simulation,
    SimulationSize,
    open_simulation,
    run_simulation,
)
from lendkit.simulate.scenarios import (
    BUILTIN,
    SCENARIO_KEYS,
    Scenario,
    load_scenario,
    resolve_scenario,
    scenario_from_dict,
)

__all__ = [
    "ALL_PLUGINS",
    "BUILTIN",
    "RISK_PLUGINS",
    "SCENARIO_KEYS",
    "Scenario",
    "Simulation",
    "SimulationSize",
    "load_scenario",
    "open_simulation",
    "resolve_scenario",
    "run_simulation",
    "scenario_from_dict",
]

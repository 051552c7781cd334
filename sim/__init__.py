"""revloop: a discrete-event Monte Carlo simulator of a B2B revenue organisation.

Leads flow through marketing -> inside sales -> field sales -> customer success; leads that
fall out are recycled. The public API:

- :func:`load_scenario` reads and validates a scenario YAML file;
- :func:`simulate` runs one replication and returns its :class:`Ledger`;
- :func:`run` runs many replications (in parallel) and returns :class:`Results`.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from sim.engine.ledger import Ledger
from sim.engine.world import simulate
from sim.errors import InvariantError, Problem, RevloopError, ScenarioError
from sim.experiment.results import Results
from sim.experiment.runner import run
from sim.scenario import load_scenario
from sim.scenario.schema import Scenario

try:
    __version__ = version("revloop")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

__all__ = [
    "InvariantError",
    "Ledger",
    "Problem",
    "Results",
    "RevloopError",
    "Scenario",
    "ScenarioError",
    "__version__",
    "load_scenario",
    "run",
    "simulate",
]

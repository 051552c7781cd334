"""revloop: a discrete-event Monte Carlo simulator of a B2B revenue organisation.

Leads flow through marketing -> inside sales -> field sales -> customer success; leads that
fall out are recycled. The public API:

- :func:`load_scenario` reads and validates a scenario YAML file;
- :func:`simulate` runs one replication and returns its :class:`Ledger`;
- :func:`run` runs many replications (in parallel) and returns :class:`Results`; with
  ``replications="auto"`` as many as a :class:`StoppingRule` asks for;
- :func:`compare` runs scenarios on common random numbers and pairs their replications
  (:class:`Comparison`: bands, paired differences and their verdict in words);
- :func:`waterfall`, :func:`channel_table`, :func:`segment_table`, :func:`phase_table`,
  :func:`attainment_table`, :func:`sdr_attainment_table`, :func:`retention_table` turn one
  replication's ledger into stage reports
  (``Results.waterfall()`` and its siblings give them across replications);
- :func:`reverse_funnel` finds the leads and marketing budget a new-ARR target needs from
  the simulated conversion at each lead volume, beside the naive average-conversion answer
  (:class:`ReverseFunnel`);
- :func:`realism_check` runs a scenario and sets its operating figures beside the
  published ranges of healthy organisations (:class:`RealismReport`);
- :func:`sweep` runs a parameter sweep into a resumable store (:class:`SweepRun`;
  :func:`load_sweep` reads a sweep file);
- :func:`plan` finds the cheapest hiring plan that reaches an ARR target with given odds
  (:class:`PlanSearch`, over a :class:`PlanSpace` of :class:`RoleRange`; one
  :class:`HiringPlan`'s ARR at given odds: :func:`arr_at_confidence`);
- :func:`diagnose` finds the bottleneck team and what one more head in each is worth;
- :func:`report` writes the HTML report and :func:`export` the finance workbook, of results
  in memory or saved folders;
- :func:`calibrate` fits a scenario to CRM data (``sim.calibrate`` is also the package of
  :func:`~sim.calibrate.read_crm`) and :func:`backtest` checks the fitted forecast.

Scenario arguments take a :class:`Scenario` or the path of a scenario file (:func:`bundled`
gives the bundled ones). Result objects show a short summary in a notebook and have
``.to_frame()`` and ``.plot()``.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the names below are imported when first used (see __getattr__)
    from sim.analysis.diagnose import Diagnosis, diagnose
    from sim.analysis.motion import (
        attainment_table,
        channel_table,
        phase_table,
        retention_table,
        sdr_attainment_table,
        segment_table,
        waterfall,
    )
    from sim.api import export, report
    from sim.calibrate.backtest import backtest
    from sim.calibrate.fit import calibrate
    from sim.engine.ledger import Ledger
    from sim.engine.world import simulate
    from sim.errors import InvariantError, Problem, RevloopError, ScenarioError
    from sim.experiment.compare import Comparison, compare
    from sim.experiment.plan import (
        HiringPlan,
        PlanError,
        PlanSearch,
        PlanSpace,
        RoleRange,
        arr_at_confidence,
        month_of,
        plan,
    )
    from sim.experiment.results import Results
    from sim.experiment.reverse import ReverseFunnel, reverse_funnel
    from sim.experiment.runner import StoppingRule, run
    from sim.experiment.sweep import SweepRun, load_sweep, sweep
    from sim.scenario import bundled, load_scenario
    from sim.scenario.schema import Scenario
    from sim.validation.realism import RealismFigure, RealismReport, realism_check

_HOMES = {
    "attainment_table": "sim.analysis.motion",
    "channel_table": "sim.analysis.motion",
    "phase_table": "sim.analysis.motion",
    "retention_table": "sim.analysis.motion",
    "sdr_attainment_table": "sim.analysis.motion",
    "segment_table": "sim.analysis.motion",
    "waterfall": "sim.analysis.motion",
    "Diagnosis": "sim.analysis.diagnose",
    "diagnose": "sim.analysis.diagnose",
    "export": "sim.api",
    "report": "sim.api",
    "backtest": "sim.calibrate",
    "calibrate": "sim.calibrate",
    "Ledger": "sim.engine.ledger",
    "simulate": "sim.engine.world",
    "InvariantError": "sim.errors",
    "Problem": "sim.errors",
    "RevloopError": "sim.errors",
    "ScenarioError": "sim.errors",
    "Comparison": "sim.experiment.compare",
    "compare": "sim.experiment.compare",
    "HiringPlan": "sim.experiment.plan",
    "PlanError": "sim.experiment.plan",
    "PlanSearch": "sim.experiment.plan",
    "PlanSpace": "sim.experiment.plan",
    "RoleRange": "sim.experiment.plan",
    "arr_at_confidence": "sim.experiment.plan",
    "month_of": "sim.experiment.plan",
    "plan": "sim.experiment.plan",
    "Results": "sim.experiment.results",
    "ReverseFunnel": "sim.experiment.reverse",
    "reverse_funnel": "sim.experiment.reverse",
    "StoppingRule": "sim.experiment.runner",
    "run": "sim.experiment.runner",
    "SweepRun": "sim.experiment.sweep",
    "load_sweep": "sim.experiment.sweep",
    "sweep": "sim.experiment.sweep",
    "bundled": "sim.scenario",
    "load_scenario": "sim.scenario",
    "Scenario": "sim.scenario.schema",
    "RealismFigure": "sim.validation.realism",
    "RealismReport": "sim.validation.realism",
    "realism_check": "sim.validation.realism",
}
"""Where each public name lives; ``import sim`` imports none of them until asked, so it is
quick (scipy, pandas and the engine load with the first name used)."""


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'sim' has no attribute {name!r}")
    module = importlib.import_module(home)
    # sim.calibrate is a package that may be called (see sim/calibrate/__init__.py)
    value = module if module.__name__ == f"{__name__}.{name}" else getattr(module, name)
    globals()[name] = value  # the next lookup does not come here
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOMES))


try:
    __version__ = version("revloop")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

__all__ = [
    "Comparison",
    "Diagnosis",
    "HiringPlan",
    "InvariantError",
    "Ledger",
    "PlanError",
    "PlanSearch",
    "PlanSpace",
    "Problem",
    "RealismFigure",
    "RealismReport",
    "Results",
    "ReverseFunnel",
    "RevloopError",
    "RoleRange",
    "Scenario",
    "ScenarioError",
    "StoppingRule",
    "SweepRun",
    "__version__",
    "arr_at_confidence",
    "attainment_table",
    "backtest",
    "bundled",
    "calibrate",
    "channel_table",
    "compare",
    "diagnose",
    "export",
    "load_scenario",
    "load_sweep",
    "month_of",
    "phase_table",
    "plan",
    "realism_check",
    "report",
    "retention_table",
    "reverse_funnel",
    "run",
    "sdr_attainment_table",
    "segment_table",
    "simulate",
    "sweep",
    "waterfall",
]

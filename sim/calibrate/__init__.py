"""Calibration from CRM exports, and back-tests of the calibrated forecast.

- :func:`read_crm` reads a leads CSV and a deals CSV through a column map (or guessed
  columns), detects date formats, and checks every row: what it changes or leaves out is
  counted in a :class:`Report`; unusable input raises :class:`CrmError`.
- :func:`calibrate` fits a scenario's numbers: volumes per channel, conversion per channel and
  the time to win with censored survival methods (a mixture-cure maximum likelihood, checked
  against Kaplan-Meier), reps per team from owner ids, the open pipeline, deal sizes.
- :func:`scenario_yaml` / :func:`write_scenario` write it as commented YAML that
  :func:`sim.load_scenario` accepts.
- :func:`backtest` fits on the data before a cutoff and compares the forecast of the next
  months with what happened.
"""

from __future__ import annotations

import sys
import types
from typing import Any

from sim.calibrate.backtest import Backtest, backtest
from sim.calibrate.columns import ColumnMap, CrmData, load_column_map, read_crm
from sim.calibrate.fit import Calibration, calibrate
from sim.calibrate.report import CrmError, Report
from sim.calibrate.survival import CureFit, KaplanMeier, fit_cure_model, kaplan_meier
from sim.calibrate.writer import scenario_of, scenario_yaml, write_scenario

__all__ = [
    "Backtest",
    "Calibration",
    "ColumnMap",
    "CrmData",
    "CrmError",
    "CureFit",
    "KaplanMeier",
    "Report",
    "backtest",
    "calibrate",
    "fit_cure_model",
    "kaplan_meier",
    "load_column_map",
    "read_crm",
    "scenario_of",
    "scenario_yaml",
    "write_scenario",
]


class _Package(types.ModuleType):
    """``sim.calibrate`` is this package and, called, :func:`calibrate` (``sim.calibrate(
    data, ...)``): one name whether or not the package was imported first."""

    def __call__(self, data: CrmData, **options: Any) -> Calibration:
        return calibrate(data, **options)


sys.modules[__name__].__class__ = _Package

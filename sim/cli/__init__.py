"""The ``revloop`` command line: a thin layer mapping the library's parameters to flags.

One module per job: :mod:`~sim.cli.root` (the group and its commands),
:mod:`~sim.cli.options` (the shared options), :mod:`~sim.cli.common` (exit codes, consoles,
the bad-input guard, progress), and the commands themselves: :mod:`~sim.cli.run` (run,
validate, bench), :mod:`~sim.cli.checks` (check-model, realism), :mod:`~sim.cli.experiment`
(compare, sweep, plan, reverse-funnel), :mod:`~sim.cli.analysis` (diagnose, report, export,
chart), :mod:`~sim.cli.calibrate` (calibrate, backtest, forecast), :mod:`~sim.cli.app`.
"""

from sim.cli.root import main

__all__ = ["main"]

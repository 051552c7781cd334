"""Paired comparisons of scenarios on common random numbers.

Every scenario runs replications ``0 .. n-1`` of the same root seed, so replication ``r`` of
each scenario sees the same arrivals, lead attributes and outcome draws wherever the
scenarios do not differ (see :mod:`sim.engine.streams`). The difference between a scenario
and the first one is then taken replication by replication: its variance is what is left
after the common noise cancels, usually far less than the variance of two independent runs.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sim import display
from sim.analysis.metrics import KPIS
from sim.experiment.controls import CONTROL_RUNS, capacity, controlled_difference, paired
from sim.experiment.executors import ExecutorLike
from sim.experiment.results import PERCENTILES, Results
from sim.experiment.runner import Progress, Replications, StoppingRule, run_together
from sim.kpis import KPI_REGISTRY
from sim.scenario import as_scenario
from sim.scenario.schema import Scenario
from sim.stats import ci_half_width, paired_difference, verdict

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "BETTER",
    "HEADLINE_KPIS",
    "Comparison",
    "ci_half_width",
    "compare",
    "paired_difference",
]

BETTER: dict[str, int] = {name: kpi.direction for name, kpi in KPI_REGISTRY.items()}
"""Which way is better for each KPI: +1 higher, -1 lower, 0 neither (volumes, utilisation).

Read from :data:`sim.kpis.KPI_REGISTRY`; a name missing here counts as 0 (no P(better)).
"""

HEADLINE_KPIS = (
    "ending_arr",
    "new_arr",
    "churned_arr",
    "nrr",
    "mqls",
    "sqls",
    "wins",
    "win_rate",
    "speed_to_lead_hours",
    "is_utilisation",
)
"""KPIs the ``compare`` command shows unless told otherwise."""

CHART_KPIS = ("ending_arr", "new_arr", "wins", "total_cost")
"""KPIs :meth:`Comparison.plot` draws unless told otherwise."""


@dataclass(repr=False)
class Comparison(display.Shown):
    """Scenarios run on the same seeds, and their paired differences to the first one.

    In a notebook it shows itself as a short table (each scenario's ending ARR, each
    difference to the baseline); :meth:`to_frame` gives :meth:`summary` and :meth:`plot`
    the paired differences or the bands.

    Attributes
    ----------
    results
        One :class:`~sim.experiment.results.Results` per scenario, in the order given, each
        with replications ``0 .. n-1`` of the same root seed.
    labels
        A unique label per scenario (its name, suffixed ``#2``, ``#3`` ... if repeated).
    converged
        With ``replications="auto"``: whether the precision target was met before the cap.
    """

    results: list[Results]
    labels: list[str]
    seed: int
    target_kpi: str | None = None
    target: float | None = None
    converged: bool = True

    @property
    def replications(self) -> int:
        """Replications per scenario."""
        return len(self.results[0].replications)

    def _facts(self) -> display.Facts:
        first = self.results[0]
        rows = [
            ("replications", f"{self.replications} per scenario, paired"),
            ("seed", str(self.seed)),
            ("horizon", display.horizon(first.months)),
        ]
        base = first.kpis()["ending_arr"].to_numpy(float)
        for i, (label, res) in enumerate(zip(self.labels, self.results, strict=True)):
            arr = res.kpis()["ending_arr"].to_numpy(float)
            rows.append((f"{label}: ending ARR", display.band("ending_arr", arr)))
            if i:
                d = paired_difference(base, arr, 1)
                diff = display.interval("ending_arr", d["diff"], d["diff_low"], d["diff_high"])
                rows.append((f"{label} - {self.labels[0]}", diff))
        return f"Comparison: {', '.join(self.labels)}", rows

    def to_frame(self, kpis: Sequence[str] | None = None) -> pd.DataFrame:
        """The natural table of a comparison: :meth:`summary` (bands, paired differences to
        the first scenario and their verdicts), one row per KPI and scenario.

        Parameters
        ----------
        kpis
            KPIs to report (default: every KPI).
        """
        return self.summary(kpis)

    def differences(self, kpis: Sequence[str] = CHART_KPIS) -> pd.DataFrame:
        """Each scenario's paired differences to the first, replication by replication.

        Parameters
        ----------
        kpis
            KPIs to difference.

        Returns
        -------
        pandas.DataFrame
            One row per (scenario, kpi), as :func:`sim.analysis.plots.paired_differences`
            gives it: ``mean``, ``ci95``, ``lo``, ``hi``, ``baseline_mean``, ``pct``, ``n``,
            ``verdict``.
        """
        from sim.analysis.plots import paired_differences

        tables = [res.kpis() for res in self.results]
        others = dict(zip(self.labels[1:], tables[1:], strict=True))
        return paired_differences(tables[0], others, kpis)

    def plot(
        self, kind: str = "differences", kpis: Sequence[str] = CHART_KPIS, title: str | None = None
    ) -> Figure:
        """Draw the comparison.

        Parameters
        ----------
        kind
            ``differences``: each scenario's paired difference to the first with its 95% CI,
            one panel per KPI; ``bars``: each scenario's mean with its 95% CI.
        kpis
            KPIs to draw, one panel each.
        title
            Optional figure title.

        Returns
        -------
        matplotlib.figure.Figure

        Raises
        ------
        ValueError
            If ``kind`` is unknown.
        """
        from sim.analysis import plots

        if kind == "differences":
            return plots.paired_difference_chart(self.differences(kpis), title)
        if kind == "bars":
            tables = {
                label: res.kpis() for label, res in zip(self.labels, self.results, strict=True)
            }
            return plots.comparison_bars(tables, kpis, title)
        raise ValueError(f"unknown comparison chart {kind!r}: use differences or bars")

    def kpis(self) -> pd.DataFrame:
        """Long table: scenario, replication, seed, kpi, value."""
        frames = []
        for label, res in zip(self.labels, self.results, strict=True):
            wide = res.kpis()
            long = wide.melt(id_vars=["replication", "seed"], var_name="kpi", value_name="value")
            long.insert(0, "scenario", label)
            frames.append(long)
        return pd.concat(frames, ignore_index=True)

    def summary(self, kpis: Sequence[str] | None = None) -> pd.DataFrame:
        """Per KPI and scenario: bands, and the paired difference to the first scenario.

        Parameters
        ----------
        kpis
            KPIs to report (default: every KPI).

        Returns
        -------
        pandas.DataFrame
            One row per (kpi, scenario): ``n``, ``mean``, ``p10``, ``p50``, ``p90`` and,
            against the first scenario (NaN on its own rows), the paired ``diff`` with
            ``diff_ci95``, ``diff_low``, ``diff_high``, ``diff_sd``, ``p_better``,
            ``p_mean_better`` (see :func:`paired_difference`) and ``verdict``, the difference
            in words (:func:`sim.stats.verdict`: distinguishable from zero or not, and about
            how many pairs would settle it).
        """
        names = list(KPIS) if kpis is None else list(kpis)
        tables = [res.kpis().set_index("replication") for res in self.results]
        rows: list[dict[str, Any]] = []
        for kpi in names:
            base = tables[0][kpi].to_numpy(float)
            for i, (label, table) in enumerate(zip(self.labels, tables, strict=True)):
                x = table[kpi].to_numpy(float)
                finite = x[~np.isnan(x)]
                bands = np.percentile(finite, PERCENTILES) if len(finite) else [math.nan] * 3
                row: dict[str, Any] = {
                    "kpi": kpi,
                    "scenario": label,
                    "n": len(finite),
                    "mean": float(finite.mean()) if len(finite) else math.nan,
                    "ci95": ci_half_width(x),
                    "p10": float(bands[0]),
                    "p50": float(bands[1]),
                    "p90": float(bands[2]),
                }
                diff: dict[str, Any] = paired_difference(base, x, BETTER.get(kpi, 0))
                pairs = int(diff.pop("n"))
                if i == 0:
                    diff = dict.fromkeys(diff, math.nan) | {"verdict": ""}
                else:
                    diff["verdict"] = verdict(
                        diff["diff"], diff["diff_low"], diff["diff_high"], pairs, diff["diff_sd"]
                    )
                rows.append(row | diff)
        return pd.DataFrame(rows)

    def controlled(
        self, kpis: Sequence[str] | None = None, runs: int = CONTROL_RUNS
    ) -> pd.DataFrame:
        """The paired differences with the teams' capacities as control variates.

        A lever's worth often depends on the future's turnover (two more SDRs are worth
        more when the desk loses people), so a paired difference still varies with each
        team's capacity in the baseline run (and in the variant's, where a lever adds
        seats of its own). That capacity depends only on the seats' own random numbers,
        so it is known for every replication, and its mean from ``runs`` roster-only runs
        (:mod:`sim.experiment.controls`); the part of the difference a straight line in
        it explains is taken out (:func:`sim.stats.control_variates`).
        The estimate is of the same mean difference; its interval is narrower by the
        share ``explained``.

        Parameters
        ----------
        kpis
            KPIs to report (default: every KPI).
        runs
            Roster-only runs behind the controls' means (about 8 ms each on the base).

        Returns
        -------
        pandas.DataFrame
            One row per (kpi, scenario) other than the first: ``n`` pairs, the plain
            ``diff``, ``diff_low``, ``diff_high``, the controlled ``cv_diff``, ``cv_low``,
            ``cv_high``, ``explained`` (share of the difference's variance the capacities
            explain) and ``verdict`` (:func:`sim.stats.verdict` on the controlled interval).
            A scenario is left out where there are too few pairs for its controls (at
            least two more than the controls): empty if every one is.
        """
        names = list(KPIS) if kpis is None else list(kpis)
        first = self.results[0]
        reps = [r.replication for r in first.replications]
        own = capacity(first.scenario, self.seed, reps, runs)
        found = [
            paired(own, capacity(res.scenario, self.seed, reps, runs)) for res in self.results[1:]
        ]
        tables = [res.kpis().set_index("replication").loc[reps] for res in self.results]
        rows: list[dict[str, Any]] = []
        for kpi in names:
            base = tables[0][kpi].to_numpy(float)
            for i, (label, table) in enumerate(zip(self.labels[1:], tables[1:], strict=True)):
                x = table[kpi].to_numpy(float)
                plain = paired_difference(base, x, BETTER.get(kpi, 0))
                try:
                    fit = controlled_difference(base, x, found[i])
                except ValueError:  # fewer pairs than this pair's controls need
                    continue
                n = int(plain["n"])  # pairs with no NaN, as the controlled fit uses
                rows.append(
                    {
                        "kpi": kpi,
                        "scenario": label,
                        "n": n,
                        "diff": plain["diff"],
                        "diff_low": plain["diff_low"],
                        "diff_high": plain["diff_high"],
                        "cv_diff": fit.estimate,
                        "cv_low": fit.low,
                        "cv_high": fit.high,
                        "explained": fit.r2,
                        "verdict": verdict(
                            fit.estimate, fit.low, fit.high, n, math.sqrt(fit.variance)
                        ),
                    }
                )
        return pd.DataFrame(rows)


def compare(
    scenarios: Sequence[Scenario | str | os.PathLike[str]],
    replications: Replications = 30,
    seed: int = 0,
    executor: ExecutorLike = None,
    workers: int | None = None,
    progress: Progress | None = None,
    target_kpi: str = "ending_arr",
    target: float = 0.02,
    min_replications: int = 10,
    max_replications: int = 200,
) -> Comparison:
    """Run scenarios on common random numbers and pair their replications.

    Parameters
    ----------
    scenarios
        Two or more validated scenarios or scenario files (one is allowed: bands only); the
        first is the baseline every other one is compared with.
    replications
        Replications per scenario, or ``"auto"``: start with ``min_replications`` and add
        replications until the decision is known, or ``max_replications`` is reached (then
        ``converged`` is False). The decision is known when every scenario's paired
        difference in ``target_kpi`` to the first is distinguishable from zero (its 95% CI
        leaves out 0: :func:`sim.stats.settled`), or when the 95% CI half-width of
        ``target_kpi``'s mean is at most ``target`` times the absolute mean for every
        scenario (a difference still not told from zero is then too small to matter at
        that precision).
    seed
        Root seed; replication ``r`` of every scenario is seeded from ``(seed, r)``.
    executor, workers
        Where to run (see :func:`sim.experiment.executors.make_executor`); the numbers do
        not depend on it.
    progress
        Optional callback ``progress(done, total)``; with ``"auto"`` the total grows.
    target_kpi, target, min_replications, max_replications
        The stopping rule of ``"auto"``.

    Returns
    -------
    Comparison

    Raises
    ------
    ValueError
        On an empty scenario list, a bad replication count, seed, KPI or target.
    """
    if not scenarios:
        raise ValueError("compare needs at least one scenario")
    loaded = [as_scenario(sc) for sc in scenarios]
    rule = None
    if replications == "auto":
        rule = StoppingRule(target_kpi, target, min_replications, max_replications)
    runs = run_together(
        loaded,
        replications,
        seed,
        executor=executor,
        workers=workers,
        progress=progress,
        rule=rule,
        partial=False,  # Ctrl-C or lost workers: the caller stops too
    )
    return Comparison(
        results=runs,
        labels=_labels(loaded),
        seed=seed,
        target_kpi=target_kpi if rule else None,
        target=target if rule else None,
        converged=runs[0].converged,
    )


def _labels(scenarios: Sequence[Scenario]) -> list[str]:
    seen: dict[str, int] = {}
    labels = []
    for sc in scenarios:
        seen[sc.name] = seen.get(sc.name, 0) + 1
        labels.append(sc.name if seen[sc.name] == 1 else f"{sc.name}#{seen[sc.name]}")
    return labels

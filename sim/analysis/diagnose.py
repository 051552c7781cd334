"""Diagnosis: which team is the bottleneck, and what one more head in each team is worth.

The bottleneck is read from the monthly series of a run (utilisation, month-end queues, leads
that went cold). The marginal value of a head is measured, not modelled: the scenario runs
again with one more person on day one in each team, on the same seed, so replication ``r`` of
every variant sees the same arrivals and draws as replication ``r`` of the base (common random
numbers) and the difference is taken replication by replication.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sim.analysis.plots import paired_differences
from sim.experiment.compare import CHART_KPIS
from sim.experiment.executors import default_workers
from sim.experiment.results import Results
from sim.experiment.runner import run_together
from sim.formats import fmt
from sim.scenario import as_scenario
from sim.scenario.schema import Scenario
from sim.stats import settled

__all__ = ["TEAMS", "Diagnosis", "bottleneck", "diagnose", "marginal_heads"]

TEAMS: dict[str, tuple[str, str, str]] = {
    "inside_sales": ("is", "SDR", "inside sales"),
    "field_sales": ("fs", "AE", "field sales"),
    "customer_success": ("cs", "CSM", "customer success"),
}
"""Scenario section -> (monthly series prefix, role of one head, readable team name)."""

SATURATED = 0.95
"""Utilisation over the last quarter from which a team is reported as saturated too."""

HEAD_KPIS = CHART_KPIS
"""KPIs differenced for each extra head."""


def _slope(values: np.ndarray[Any, Any]) -> float:
    if values.size < 2:
        return 0.0
    return float(np.polyfit(np.arange(values.size), values, 1)[0])


def bottleneck(monthly: pd.DataFrame) -> pd.DataFrame:
    """Load figures per team from a run's monthly series, the bottleneck ranked first.

    Parameters
    ----------
    monthly
        Tidy monthly table (``replication, month, metric, value``) of one scenario.

    Returns
    -------
    pandas.DataFrame
        Indexed by team section (``inside_sales``, ...), columns: ``utilisation`` (mean over
        the run), ``utilisation_last_quarter`` (mean over its last three months),
        ``queue_start`` and ``queue_end`` (median month-end queue in the first and last
        month), ``queue_growth_per_month`` (slope of the median queue), ``went_cold_share``
        (inside sales only: leads that went cold / MQLs) and ``bottleneck`` (True for the
        first row). Teams are ranked by utilisation over the whole run (a chronic constraint
        outranks a team that fills up at the end), then by queue growth.
    """
    medians = monthly.groupby(["metric", "month"], sort=True)["value"].median()
    means = monthly.groupby(["metric", "month"], sort=True)["value"].mean()
    rows = {}
    for section, (prefix, _role, _name) in TEAMS.items():
        util = means.loc[f"{prefix}_utilisation"].to_numpy(float)
        queue = medians.loc[f"{prefix}_queue_length"].to_numpy(float)
        rows[section] = {
            "utilisation": float(np.nanmean(util)),
            "utilisation_last_quarter": float(np.nanmean(util[-3:])),
            "queue_start": float(queue[0]),
            "queue_end": float(queue[-1]),
            "queue_growth_per_month": _slope(queue),
            "went_cold_share": np.nan,
        }
    totals = monthly.groupby("metric")["value"].sum()
    if "went_cold" in totals and totals.get("mqls", 0) > 0:
        rows["inside_sales"]["went_cold_share"] = float(totals["went_cold"] / totals["mqls"])
    table = pd.DataFrame.from_dict(rows, orient="index")
    table = table.sort_values(["utilisation", "queue_growth_per_month"], ascending=False)
    table["bottleneck"] = [True] + [False] * (len(table) - 1)
    return table


def marginal_heads(
    scenario: Scenario | str | os.PathLike[str],
    sets: Sequence[str] = (),
    replications: int = 10,
    seed: int = 0,
    workers: int | None = None,
    progress: Callable[[str], None] | None = None,
    most: int | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Paired runs of the scenario with one more head in each team.

    Parameters
    ----------
    scenario
        A scenario, or a scenario file (YAML, or the ``scenario.json`` of a results folder).
    sets
        ``dotted.path=value`` overrides applied to the base and to every variant.
    replications
        Replications per variant (the same replication numbers for all).
    seed
        Root seed shared by all variants (common random numbers).
    workers
        Worker processes of the one pool all the runs share (default one per CPU); 1 runs
        them in this process.
    progress
        Called with a line saying how many of the simulations are done, as each finishes.
    most
        Settle the differences: while the ending-ARR difference of some extra head is not
        distinguishable from zero, double the replications, up to ``most`` (``None``: run
        ``replications`` once). Each doubling runs only the replications not run yet, the
        base and the three variants together on one pool.

    Returns
    -------
    tuple of pandas.DataFrame
        The differences (one row per team and KPI of :data:`HEAD_KPIS`: ``team``, ``role``,
        ``headcount`` before, ``mean``, ``ci95``, ``lo``, ``hi``, ``pct``, ``n``,
        ``verdict``), the base run's tidy monthly table and its KPI table.
    """
    base_sc = as_scenario(scenario, list(sets))
    scenarios = [base_sc]
    for section in TEAMS:
        heads = int(getattr(base_sc, section).headcount)
        scenarios.append(as_scenario(scenario, [*sets, f"{section}.headcount={heads + 1}"]))
    workers = default_workers() if workers is None else workers
    if workers < 1:
        raise ValueError(f"workers must be at least 1 (got {workers})")
    runs: list[Results] = []
    n = replications
    while True:
        runs = _extend(runs, scenarios, n, seed, workers, progress)
        diffs = _differences(base_sc, runs)
        if most is None or n >= most or _all_settled(diffs):
            return diffs, runs[0].monthly(), runs[0].kpis()
        n = min(2 * n, most)
        if progress:
            progress(f"not every difference is settled: {n} replications each")


def _all_settled(diffs: pd.DataFrame) -> bool:
    """Is every extra head's ending-ARR difference told from zero?"""
    arr = diffs[diffs["kpi"] == "ending_arr"]
    return all(settled(lo, hi) for lo, hi in zip(arr["lo"], arr["hi"], strict=True))


def _extend(
    runs: list[Results],
    scenarios: list[Scenario],
    n: int,
    seed: int,
    workers: int,
    progress: Callable[[str], None] | None,
) -> list[Results]:
    """``runs`` (the base and each variant) with replications up to ``n``, all on one pool.

    Only the replications not run yet are run (``first``): doubling from 10 to 40 costs 40
    replications of each scenario, not 10 + 20 + 40.
    """
    have = len(runs[0].replications) if runs else 0
    names = "the base and +1 " + ", +1 ".join(role for _, role, _ in TEAMS.values())

    def step(done: int, total: int) -> None:
        if progress:
            progress(f"{have * len(scenarios) + done}/{n * len(scenarios)} simulations ({names})")

    more = run_together(
        scenarios,
        n - have,
        seed,
        executor="serial" if workers == 1 else "processes",
        workers=min(workers, (n - have) * len(scenarios)),
        progress=step,
        first=have,
        partial=False,
    )
    if not runs:
        return more
    for res, new in zip(runs, more, strict=True):
        res.replications += new.replications
        res.requested = len(res.replications)
    return runs


def _differences(base_sc: Scenario, runs: list[Results]) -> pd.DataFrame:
    """Each extra head's paired differences to the base (one row per team and KPI)."""
    others = {section: res.kpis() for section, res in zip(TEAMS, runs[1:], strict=True)}
    diffs = paired_differences(runs[0].kpis(), others, HEAD_KPIS)
    diffs = diffs.rename(columns={"scenario": "team"})
    diffs.insert(1, "role", diffs["team"].map(lambda t: TEAMS[t][1]))
    diffs.insert(2, "headcount", diffs["team"].map(lambda t: getattr(base_sc, t).headcount))
    return diffs


@dataclass
class Diagnosis:
    """What :func:`diagnose` found."""

    scenario: str
    replications: int
    seed: int
    load: pd.DataFrame
    heads: pd.DataFrame
    most: int | None = None
    """The replication budget of a run that tried to settle every difference (or None)."""

    @property
    def bottleneck(self) -> str:
        """Scenario section of the bottleneck team."""
        return str(self.load.index[0])

    def sentences(self) -> list[str]:
        """The diagnosis in plain sentences: the bottleneck, other teams saturated by the end,
        then one per extra head, the most valuable first."""
        section = self.bottleneck
        row = self.load.loc[section]
        name = TEAMS[section][2]
        why = [f"{row['utilisation_last_quarter']:.0%} utilised over the last quarter"]
        why.append(
            f"month-end queue {row['queue_start']:,.0f} -> {row['queue_end']:,.0f} "
            f"({row['queue_growth_per_month']:+,.1f} a month)"
        )
        if np.isfinite(row["went_cold_share"]):
            why.append(f"{row['went_cold_share']:.1%} of MQLs went cold waiting")
        out = [f"Bottleneck: {name} ({'; '.join(why)})."]
        full = self.load.iloc[1:]
        full = full[full["utilisation_last_quarter"] >= SATURATED]
        for other, r in full.iterrows():
            out.append(
                f"Also saturated by the end: {TEAMS[str(other)][2]} "
                f"({r['utilisation_last_quarter']:.0%} utilised over the last quarter, "
                f"month-end queue {r['queue_start']:,.0f} -> {r['queue_end']:,.0f})."
            )
        arr = self.heads[self.heads["kpi"] == "ending_arr"]
        cost = self.heads[self.heads["kpi"] == "total_cost"].set_index("team")
        for _, h in arr.sort_values("mean", ascending=False).iterrows():
            extra_cost = cost.loc[h["team"], "mean"] if h["team"] in cost.index else np.nan
            out.append(
                f"One more {h['role']} ({h['headcount']} -> {h['headcount'] + 1}) adds "
                f"{fmt('ending_arr', h['mean'])} ending ARR "
                f"(95% CI {fmt('ending_arr', h['lo'])} to "
                f"{fmt('ending_arr', h['hi'])}, {h['n']} paired replications) "
                f"for {fmt('total_cost', extra_cost)} more total cost: "
                f"{h['verdict']}."
            )
        if self.most is not None and not _all_settled(self.heads):
            out.append(
                f"Not every extra head's difference could be told from zero within "
                f"{self.most} paired replications each: those above said not "
                "distinguishable are no finding (raise --max-reps to try further)."
            )
        return out


def diagnose(
    scenario: Scenario | str | os.PathLike[str],
    sets: Sequence[str] = (),
    replications: int = 10,
    seed: int = 0,
    workers: int | None = None,
    monthly: pd.DataFrame | None = None,
    progress: Callable[[str], None] | None = None,
    most: int | None = None,
) -> Diagnosis:
    """Find the bottleneck team and the marginal value of one more head in each team.

    Parameters
    ----------
    scenario
        A scenario, a scenario file (YAML, or the ``scenario.json`` of a results folder), or
        a results folder: its scenario, and its monthly table for the load unless
        ``monthly`` is given.
    sets
        Overrides, applied to the base and to every variant.
    replications, seed, workers
        Of the paired runs (base, +1 SDR, +1 AE, +1 CSM).
    monthly
        Monthly table to read the load from (e.g. a saved run with more replications);
        by default the paired base run's.
    progress
        Called with a line saying how many of the simulations are done, as each finishes.
    most
        Run until every extra head's ending-ARR difference is distinguishable from zero,
        doubling the replications up to ``most`` (:func:`marginal_heads`); ``None``: run
        ``replications`` once.

    Returns
    -------
    Diagnosis
        The load table (bottleneck first) and the paired differences per extra head.
    """
    if not isinstance(scenario, Scenario) and os.path.isdir(scenario):
        from sim.analysis.export import read_results

        saved = read_results(scenario)
        scenario = saved.path / "scenario.json"
        monthly = saved.monthly if monthly is None else monthly
    heads, base_monthly, _ = marginal_heads(
        scenario, sets, replications, seed, workers, progress, most
    )
    load = bottleneck(base_monthly if monthly is None else monthly)
    name = str(base_monthly["scenario"].iloc[0]) if len(base_monthly) else str(scenario)
    used = int(heads["n"].max()) if len(heads) else replications
    return Diagnosis(name, used, seed, load, heads, most)

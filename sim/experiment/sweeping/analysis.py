"""What a stored sweep says: per-point summaries and the sensitivity of a KPI to each
parameter (main effects, rank correlations, SALib indices)."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats

from sim.experiment.store import ResultStore
from sim.experiment.sweeping.definition import SweepSpec, salib_problem, unit_sample
from sim.stats import ci_half_width

if TYPE_CHECKING:
    pass


def sweep_summary(out: str | os.PathLike[str], kpis: Sequence[str] | None = None) -> pd.DataFrame:
    """Per point and KPI: mean, sd, 95% CI half-width of the mean, P10, P50, P90, n.

    Parameters
    ----------
    out
        A DuckDB results file written by :func:`sweep`.
    kpis
        KPIs to summarise (default: every KPI stored).

    Returns
    -------
    pandas.DataFrame
        Tidy: ``point_id``, one column per parameter, ``kpi``, ``n``, ``mean``, ``sd``,
        ``ci95``, ``p10``, ``p50``, ``p90``; sorted by point and KPI (in the sweep's order).
    """
    with ResultStore(out, read_only=True) as store:
        table = store.kpis()
        points = store.points()
        order = store.spec()["kpis"]
    if kpis is not None:
        _known(kpis, order)
        table = table[table["kpi"].isin(list(kpis))]
        order = [k for k in order if k in kpis]
    grouped = table.groupby(["point_id", "kpi"], sort=False)["value"]
    stats_ = grouped.agg(n="count", mean="mean", sd="std")
    bands = grouped.quantile(np.array([0.1, 0.5, 0.9])).unstack()
    bands.columns = ["p10", "p50", "p90"]
    out_ = stats_.join(bands).reset_index()
    n = out_["n"].to_numpy(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.where(n > 1, stats.t.ppf(0.975, np.maximum(n - 1, 1)), np.nan)
        out_["ci95"] = t * out_["sd"].to_numpy(float) / np.sqrt(n)
    out_ = points.drop(columns=["sweep_id"]).merge(out_, on="point_id")
    out_["kpi"] = pd.Categorical(out_["kpi"], categories=order, ordered=True)
    out_ = out_.sort_values(["point_id", "kpi"]).reset_index(drop=True)
    out_["kpi"] = out_["kpi"].astype(str)
    columns = [*points.columns.drop("sweep_id"), "kpi", "n", "mean", "sd", "ci95"]
    return out_[[*columns, "p10", "p50", "p90"]]


def sensitivity(out: str | os.PathLike[str], kpi: str = "ending_arr") -> pd.DataFrame:
    """How much each parameter moves a KPI, by the method that fits the sweep's design.

    The KPI of a point is its mean over the stored replications.

    - ``grid``: main effects. ``effect`` is the paired difference between the parameter's
      last and first level (each level's KPI averaged over the other parameters' points),
      with ``effect_ci95`` from its spread across replications (common random numbers pair
      them); ``swing`` is the largest minus the smallest level average; ``share`` is the
      share of the variance of point means that the parameter's levels explain alone.
    - ``sobol``: first-order and total Sobol indices ``S1``, ``ST`` with 95% CIs
      (``S1_ci95``, ``ST_ci95``, SALib's bootstrap).
    - ``morris``: ``mu``, ``mu_star`` (mean absolute elementary effect per full range of
      the parameter), ``mu_star_ci95`` and ``sigma``.
    - ``lhs``: Spearman rank correlation ``rho`` with a 95% CI (Fisher z).

    Parameters
    ----------
    out
        A DuckDB results file written by :func:`sweep`.
    kpi
        The KPI.

    Returns
    -------
    pandas.DataFrame
        One row per parameter, most influential first.

    Raises
    ------
    ValueError
        If the KPI was not stored, or a point has no finished replication yet.
    """
    with ResultStore(out, read_only=True) as store:
        table = store.kpis()
        points = store.points()
        spec = SweepSpec.model_validate(store.spec())
    _known([kpi], spec.kpis)
    table = table[table["kpi"] == kpi]
    y = table.pivot(index="point_id", columns="replication", values="value")
    missing = len(points) - len(y)
    if missing:
        raise ValueError(
            f"{missing} of {len(points)} points have no finished replication yet: "
            "run the sweep to completion first"
        )
    y = y.reindex(points["point_id"])
    names = list(spec.parameters)
    if spec.design == "grid":
        frame = _main_effects(points, y, names)
        frame = frame.sort_values("share", ascending=False)
    elif spec.design == "lhs":
        frame = _rank_correlation(points, y, names)
        frame = frame.sort_values("rho", key=np.abs, ascending=False)
    else:
        frame = _salib_indices(spec, y.mean(axis=1).to_numpy(float))
        frame = frame.sort_values("ST" if spec.design == "sobol" else "mu_star", ascending=False)
    frame.insert(0, "kpi", kpi)
    return frame.reset_index(drop=True)


def _known(kpis: Sequence[str], stored: Sequence[str]) -> None:
    unknown = [k for k in kpis if k not in stored]
    if unknown:
        raise ValueError(f"KPI(s) {unknown} not stored by this sweep; it keeps {list(stored)}")


def _main_effects(points: pd.DataFrame, y: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    complete = y.dropna(axis=1, how="any")  # replications every point has
    point_means = y.mean(axis=1).to_numpy(float)
    total_var = float(np.var(point_means))
    rows = []
    for name in names:
        levels = list(dict.fromkeys(points[name]))
        by_level = [complete[(points[name] == lv).to_numpy()].mean(axis=0) for lv in levels]
        means = [float(point_means[(points[name] == lv).to_numpy()].mean()) for lv in levels]
        diff = (by_level[-1] - by_level[0]).to_numpy(float)
        between = float(np.var(means))
        rows.append(
            {
                "parameter": name,
                "first": levels[0],
                "last": levels[-1],
                "effect": float(diff.mean()) if len(diff) else math.nan,
                "effect_ci95": ci_half_width(diff),
                "swing": max(means) - min(means),
                "share": between / total_var if total_var > 0 else math.nan,
            }
        )
    return pd.DataFrame(rows)


def _rank_correlation(points: pd.DataFrame, y: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    means = y.mean(axis=1).to_numpy(float)
    n = len(means)
    rows = []
    for name in names:
        values = points[name].to_numpy()
        rho = float(stats.spearmanr(values, means).statistic) if n > 2 else math.nan
        half = 1.96 * 1.03 / math.sqrt(n - 3) if n > 3 else math.nan
        z = math.atanh(max(min(rho, 0.999999), -0.999999)) if math.isfinite(rho) else math.nan
        rows.append(
            {
                "parameter": name,
                "rho": rho,
                "rho_low": math.tanh(z - half),
                "rho_high": math.tanh(z + half),
            }
        )
    return pd.DataFrame(rows)


def _salib_indices(spec: SweepSpec, y: np.ndarray[Any, Any]) -> pd.DataFrame:
    from SALib.analyze import morris, sobol

    problem = salib_problem(spec)
    if spec.design == "sobol":
        res = sobol.analyze(problem, y, calc_second_order=False, conf_level=0.95, seed=spec.seed)
        return pd.DataFrame(
            {
                "parameter": problem["names"],
                "S1": res["S1"],
                "S1_ci95": res["S1_conf"],
                "ST": res["ST"],
                "ST_ci95": res["ST_conf"],
            }
        )
    unit = unit_sample(spec)
    res = morris.analyze(
        problem, unit, y, conf_level=0.95, num_levels=spec.levels or 4, seed=spec.seed
    )
    return pd.DataFrame(
        {
            "parameter": problem["names"],
            "mu": res["mu"],
            "mu_star": res["mu_star"],
            "mu_star_ci95": res["mu_star_conf"],
            "sigma": res["sigma"],
        }
    )

"""Realism check: a scenario's operating figures beside the ranges of healthy organisations.

``revloop check-model`` asks whether the simulator computes what it claims (theory); this
asks whether a *scenario* runs like a real, reasonably managed company: inside sales busy but
not swamped, leads called within a business day, a waterfall of benchmark shape, retention in
the published bands, no burst in month 1. Each figure is the mean over replications with its
95% confidence interval, set beside a published range, with a verdict: ``inside``, ``below``
or ``above``, and ``unsettled`` when the interval crosses a bound of the range (more
replications would tell). The ranges and their sources are listed in docs/reports.md.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from sim.analysis.motion import MATURE_MONTHS
from sim.experiment.results import Results
from sim.experiment.runner import Progress, run
from sim.formats import format_value
from sim.scenario.schema import Scenario
from sim.stats import ci_half_width

__all__ = [
    "RANGES",
    "STEADY_MONTHS",
    "PublishedRange",
    "RealismFigure",
    "RealismReport",
    "realism_check",
    "realism_figures",
]

Kind = Literal["share", "number", "money"]
Verdict = Literal["inside", "below", "above", "no data"]

STEADY_MONTHS = (2, 6)
"""Months (1-based, inclusive) whose P10-P90 band month 1 must fall in."""


@dataclass(frozen=True)
class PublishedRange:
    """A published range of one figure: bounds (None: open), source, and how to print it."""

    label: str
    low: float | None
    high: float | None
    source: str
    kind: Kind = "number"
    note: str = ""


_R = PublishedRange
RANGES: dict[str, PublishedRange] = {
    "is_utilisation": _R(
        "IS utilisation", 0.70, 0.85, "queueing practice", "share",
        "IS utilisation: waits explode past ~90%",
    ),
    "speed_to_lead_median_business_hours": _R(
        "speed to lead, median (business h)", None, 8.0, "HBR 2011 [R]",
    ),
    "mqls_untouched_share": _R(
        "MQLs left untouched", None, 0.20, "MIT/InsideSales 2007 [R]", "share",
        "MQLs left untouched: ideally under 10%",
    ),
    "dials_per_sdr_day": _R("dials per SDR day", 50.0, 80.0, "SDR practice [S]"),
    "lead_to_mql": _R("lead -> MQL", 0.10, 0.25, "waterfall [rough]", "share"),
    "mql_to_sql": _R("MQL -> SQL", 0.30, 0.60, "waterfall [rough]", "share"),
    "sql_to_opportunity": _R("SQL -> opportunity", 0.50, 0.70, "waterfall [rough]", "share"),
    "opportunity_to_win": _R("opportunity -> win", 0.20, 0.30, "HubSpot [S]", "share"),
    "opportunity_to_win_median_days": _R(
        "sales cycle, median (days)", 30.0, 120.0, "Bridge Group 2017 [R]",
    ),
    "fs_utilisation": _R("FS utilisation", 0.60, 0.85, "sales practice", "share"),
    "ae_at_quota_share": _R(
        "AEs at quota", 0.50, 0.60, "sales practice [S]", "share",
        "AEs at quota: AE-years on the team the whole year (only with a quota)",
    ),
    "grr": _R("GRR", 0.90, 0.93, "SaaS Capital 2023 [R]", "share"),
    "nrr": _R("NRR", 1.00, 1.10, "SaaS Capital 2023 [R]", "share"),
    "month_1_wins": _R("month-1 wins", None, None, "steady state"),
    "month_1_new_arr": _R("month-1 new ARR", None, None, "steady state", "money"),
}  # fmt: skip
"""Every figure of the check, in the order it prints. The steady-state bounds come from the
run itself (the band of months 2-6); the waterfall and the cycle are read on the cohorts old
enough to have converted (the waterfall's ``mature`` row)."""

_WATERFALL = (
    "lead_to_mql",
    "mql_to_sql",
    "sql_to_opportunity",
    "opportunity_to_win",
    "opportunity_to_win_median_days",
)


_UNITS: dict[str, str] = {"share": "share", "number": "count", "money": "usd"}
"""The unit of :func:`sim.formats.format_value` each kind of figure is shown in."""


def _show(kind: Kind, value: float) -> str:
    return format_value(value, _UNITS[kind])


def _bound(kind: Kind, value: float) -> str:
    """A bound of a range, without trailing zeros: ``70%``, ``8``, ``$380.0k``."""
    if kind == "share":
        return f"{100 * value:.4g}%"
    if kind == "money":
        return format_value(value, "usd")
    return f"{value:,.4g}"


@dataclass(frozen=True)
class RealismFigure:
    """One figure of a scenario beside its published range.

    Parameters
    ----------
    name
        Key of :data:`RANGES` (a KPI name, a waterfall rate, or a steady-state figure).
    label, source, kind, note
        What it is, where the range comes from, how to print it, and a remark.
    low, high
        Bounds of the range, inclusive; None where it is open.
    values
        The figure in each replication (NaNs, where it could not be computed, are left out
        of the statistics).
    """

    name: str
    label: str
    low: float | None
    high: float | None
    source: str
    values: tuple[float, ...]
    kind: Kind = "number"
    note: str = ""

    @property
    def finite(self) -> np.ndarray[Any, np.dtype[np.float64]]:
        """The replications' values that could be computed."""
        x = np.asarray(self.values, dtype=float)
        finite: np.ndarray[Any, np.dtype[np.float64]] = x[np.isfinite(x)]
        return finite

    @property
    def n(self) -> int:
        """Replications with a value."""
        return int(self.finite.size)

    @property
    def mean(self) -> float:
        """Mean over replications (NaN without any value)."""
        return float(self.finite.mean()) if self.n else math.nan

    @property
    def ci95(self) -> float:
        """Half-width of the 95% CI of the mean (Student t; NaN with fewer than 2 values)."""
        return ci_half_width(self.finite)

    @property
    def p10(self) -> float:
        """10th percentile over replications."""
        return float(np.percentile(self.finite, 10)) if self.n else math.nan

    @property
    def p90(self) -> float:
        """90th percentile over replications."""
        return float(np.percentile(self.finite, 90)) if self.n else math.nan

    @property
    def verdict(self) -> Verdict:
        """Where the mean lies: ``inside`` the range, ``below``, ``above``, or ``no data``."""
        if not self.n or (self.low is None and self.high is None):
            return "no data"
        if self.low is not None and self.mean < self.low:
            return "below"
        if self.high is not None and self.mean > self.high:
            return "above"
        return "inside"

    @property
    def inside(self) -> bool:
        """The mean lies inside the range (an unsettled mean inside still counts)."""
        return self.verdict == "inside"

    @property
    def crossed(self) -> float | None:
        """The bound the 95% CI crosses, if any (the first, when it crosses both)."""
        half = self.ci95
        if not math.isfinite(half):
            return None
        lo, hi = self.mean - half, self.mean + half
        for bound in (self.low, self.high):
            if bound is not None and lo < bound < hi:
                return bound
        return None

    @property
    def settled(self) -> bool:
        """The verdict holds at 95%: there is a CI (2+ values) and it crosses no bound."""
        return self.verdict != "no data" and math.isfinite(self.ci95) and self.crossed is None

    @property
    def words(self) -> str:
        """The verdict in words, e.g. ``above, unsettled: the 95% CI crosses 85%``."""
        if self.verdict == "no data":
            return f"no data ({self.note})" if self.note else "no data"
        if self.settled:
            return self.verdict
        bound = self.crossed
        if bound is None:
            return f"{self.verdict}, unsettled: one replication gives no CI"
        return f"{self.verdict}, unsettled: the 95% CI crosses {_bound(self.kind, bound)}"

    @property
    def short(self) -> str:
        """The verdict in a word or two: ``inside``, ``above, unsettled``, ``no data``."""
        unsettled = not self.settled and self.verdict != "no data"
        return self.verdict + (", unsettled" if unsettled else "")

    @property
    def range_text(self) -> str:
        """The range as printed: ``70%-85%``, ``<= 8`` or ``>= 1``."""
        if self.low is not None and self.high is not None:
            return f"{_bound(self.kind, self.low)}-{_bound(self.kind, self.high)}"
        if self.high is not None:
            return f"<= {_bound(self.kind, self.high)}"
        if self.low is not None:
            return f">= {_bound(self.kind, self.low)}"
        return "-"

    def value_text(self, value: float) -> str:
        """``value`` printed the way this figure prints."""
        return _show(self.kind, value)

    def __repr__(self) -> str:
        ci = f" ± {self.value_text(self.ci95)}" if math.isfinite(self.ci95) else ""
        return (
            f"RealismFigure({self.name}: {self.value_text(self.mean)}{ci} vs "
            f"{self.range_text}: {self.words})"
        )


@dataclass
class RealismReport:
    """The figures of one scenario's realism check, in :data:`RANGES` order.

    Iterate over it, index it by figure name (``report["grr"].inside``), or take
    :meth:`to_frame`. ``inside`` is True when every figure is.
    """

    scenario: str
    seed: int
    replications: int
    horizon_months: int
    figures: list[RealismFigure] = field(default_factory=list)
    complete: bool = True

    @property
    def inside(self) -> bool:
        """Every figure's mean lies inside its range (a figure with no data does not)."""
        return all(f.inside for f in self.figures)

    @property
    def outside(self) -> list[RealismFigure]:
        """The figures not inside their range (below, above, or without data)."""
        return [f for f in self.figures if not f.inside]

    def __getitem__(self, name: str) -> RealismFigure:
        for figure in self.figures:
            if figure.name == name:
                return figure
        raise KeyError(f"no realism figure {name!r}; figures: {', '.join(RANGES)}")

    def __iter__(self) -> Iterator[RealismFigure]:
        return iter(self.figures)

    def __len__(self) -> int:
        return len(self.figures)

    def to_frame(self) -> pd.DataFrame:
        """One row per figure: range, mean, 95% CI, P10, P90, n, verdict, source."""
        rows = [
            {
                "figure": f.name,
                "label": f.label,
                "low": f.low,
                "high": f.high,
                "mean": f.mean,
                "ci95": f.ci95,
                "p10": f.p10,
                "p90": f.p90,
                "n": f.n,
                "verdict": f.verdict,
                "settled": f.settled,
                "words": f.words,
                "source": f.source,
                "note": f.note,
            }
            for f in self.figures
        ]
        return pd.DataFrame(rows).set_index("figure")

    def headline(self) -> str:
        """One line: how many figures are inside, of how many, over what run."""
        inside = len(self.figures) - len(self.outside)
        partial = "" if self.complete else ", interrupted"
        return (
            f"{self.scenario}: {inside} of {len(self.figures)} figures inside their range "
            f"({self.replications} replications, {self.horizon_months} months, "
            f"seed {self.seed}{partial})"
        )

    def __repr__(self) -> str:
        lines = [f"RealismReport({self.headline()})"]
        lines += [f"  {f!r}" for f in self.outside[:8]]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        table = self.to_frame()[["label", "mean", "ci95", "low", "high", "words", "source"]]
        return f"<p>{html.escape(self.headline())}</p>" + table.to_html()


def _figure(
    name: str,
    values: Sequence[float],
    bounds: tuple[float | None, float | None] | None = None,
    note: str | None = None,
) -> RealismFigure:
    """The figure ``name`` of :data:`RANGES` with these values (and bounds or note, if given)."""
    spec = RANGES[name]
    low, high = (spec.low, spec.high) if bounds is None else bounds
    return RealismFigure(
        name=name,
        label=spec.label,
        low=low,
        high=high,
        source=spec.source,
        values=tuple(float(v) for v in values),
        kind=spec.kind,
        note=spec.note if note is None else note,
    )


def realism_figures(results: Results) -> list[RealismFigure]:
    """The realism figures of a finished run, in :data:`RANGES` order.

    Parameters
    ----------
    results
        Replications of one scenario (from :func:`sim.run`); the waterfall figures need
        their stage reports (computed by every run), the steady-state figures their
        monthly ``wins`` and ``new_arr``.

    Returns
    -------
    list[RealismFigure]
        KPIs from each replication's KPIs; the waterfall rates and the median cycle from
        the waterfall's ``mature`` row (leads created at least ``MATURE_MONTHS`` months
        before the horizon ends: no data when the horizon is not longer); month 1 of wins
        and new ARR against the P10-P90 band of months 2-6 (every replication's months
        pooled; fewer months when the horizon is shorter, no data under 2 months).
    """
    reps = results.replications
    n_months = len(results.months)
    figures = []
    for name in RANGES:
        if name in _WATERFALL:
            values = [_mature(r.motion, name) for r in reps]
            note = (
                f"waterfall and cycle: leads created in months 1-{n_months - MATURE_MONTHS}, "
                f"at least {MATURE_MONTHS} months before the horizon ends"
            )
            if n_months <= MATURE_MONTHS:
                note = f"needs a horizon over {MATURE_MONTHS} months"
            figures.append(_figure(name, values, note=note))
        elif name.startswith("month_1_"):
            figures.append(_steady(name, results))
        elif (
            name == "ae_at_quota_share"
            and results.scenario.field_sales.quota_per_ae_per_year is None
        ):
            continue  # nothing to attain without a quota
        else:
            figures.append(_figure(name, [r.kpis.get(name, math.nan) for r in reps]))
    return figures


def _mature(motion: dict[str, pd.DataFrame] | None, column: str) -> float:
    """``column`` of the waterfall's ``mature`` row (NaN without stage reports)."""
    if motion is None:
        return math.nan
    return float(motion["waterfall"][column].to_dict().get("mature", math.nan))


def _steady(name: str, results: Results) -> RealismFigure:
    """Month 1 of a monthly flow against the P10-P90 band of months 2-6."""
    metric = name.removeprefix("month_1_")
    first, last = STEADY_MONTHS
    series = [r.monthly[metric] for r in results.replications]
    if len(results.months) < first or not series:
        return _figure(name, [], note=f"needs a horizon of {first}+ months")
    later = np.concatenate([s[first - 1 : last] for s in series])
    p10, p90 = (float(v) for v in np.percentile(later, [10, 90]))
    shown = min(last, len(results.months))
    return _figure(
        name,
        [float(s[0]) for s in series],
        (p10, p90),
        f"steady state: P10-P90 of months {first}-{shown}, all replications",
    )


def realism_check(
    scenario: Scenario,
    replications: int = 10,
    seed: int = 0,
    workers: int | None = None,
    progress: Progress | None = None,
) -> RealismReport:
    """Run ``scenario`` and set its operating figures beside published ranges.

    Parameters
    ----------
    scenario
        A validated scenario (see :func:`sim.load_scenario`); its horizon should be over
        ``MATURE_MONTHS`` (9) months for the waterfall figures, and 24+ months gives the
        retention figures a full year after the start.
    replications, seed, workers, progress
        As for :func:`sim.run`.

    Returns
    -------
    RealismReport
        One :class:`RealismFigure` per entry of :data:`RANGES`; ``report.inside`` is True
        when every figure is inside its range. If interrupted, the figures of the
        replications that finished, with ``complete=False``.
    """
    results = run(
        scenario, replications=replications, seed=seed, workers=workers, progress=progress
    ).whole()
    return RealismReport(
        scenario=scenario.name,
        seed=seed,
        replications=len(results.replications),
        horizon_months=scenario.horizon_months,
        figures=realism_figures(results),
        complete=results.complete,
    )

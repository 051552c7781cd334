"""The reverse funnel: what leads and marketing budget a new-ARR target needs.

"What leads and budget does $12M of new ARR booked by December 2028 need?" The naive answer
divides the target by the base's average conversion at each stage (ACV, opportunity -> win,
SQL -> opportunity, MQL -> SQL, lead -> MQL): it assumes every extra lead converts like the
average one. Teams have capacity: once inside sales or field sales is full, more leads
convert worse (they wait, buyers move on, AEs take no more deals). :func:`reverse_funnel`
answers from the *simulated* conversion at each volume instead:

1. **Lead volume scaled by multipliers** (:func:`scale_leads`). A channel bought by the lead
   (``monthly_leads``) brings ``x`` times its leads; one bought by budget (``spend:``) gets
   the spend its response curve turns into ``x`` times its leads
   (:meth:`~sim.scenario.schema.Spend.spend_for`, the curve's inverse), so diminishing
   returns are priced in. Referrals, outbound and the starting book are left as they are:
   they do not come from the marketing budget.
2. **Common random numbers.** Every multiplier runs replications ``(seed, r)``, ``r = 0 ..
   n-1`` (through :func:`sim.experiment.compare.compare`), on the scenario cut at the target
   month, so a run's KPIs are the figures of months 1..M (:mod:`sim.analysis.metrics`).
3. **The answer** is the smallest multiplier whose mean new ARR reaches the target, by
   linear interpolation between the two multipliers that bracket it; every figure of the
   funnel is interpolated with the same weight, except the budget of a channel bought by
   budget, which is the curve's exact spend at that multiplier. Its 95% CI is where the 95%
   CI band of mean new ARR reaches the target. The answer is *unsettled* when the CI of new
   ARR at either bracketing multiplier reaches across the target.

Stage conversion rates are ratios of the window's KPI counts (hand-offs, as the ``mqls``
KPI counts them, not unique leads as in the waterfall), so that the naive answer's stages
multiply back to the target exactly.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd
from pydantic import ValidationError

from sim.errors import Problem
from sim.experiment.compare import Comparison, compare
from sim.experiment.executors import ExecutorLike
from sim.experiment.plan import PlanError, cut_at, month_label, target_month
from sim.experiment.runner import Progress
from sim.scenario.schema import Scenario

__all__ = [
    "DEFAULT_MULTIPLIERS",
    "RATES",
    "SATURATED",
    "STAGES",
    "ReverseFunnel",
    "parse_multipliers",
    "reverse_funnel",
    "scale_leads",
]

DEFAULT_MULTIPLIERS = (0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0)
"""Lead-volume multipliers run unless told otherwise."""

SATURATED = 0.9
"""Utilisation at or above which a team is said to be saturated."""

STAGES = ("leads", "mqls", "sqls", "opportunities", "wins")
"""The funnel's counts, top down (KPIs of :data:`sim.analysis.metrics.KPIS`)."""

RATES: dict[str, tuple[str, str]] = {
    "lead_to_mql": ("mqls", "leads"),
    "mql_to_sql": ("sqls", "mqls"),
    "sql_to_opportunity": ("opportunities", "sqls"),
    "opportunity_to_win": ("wins", "opportunities"),
    "acv": ("new_arr", "wins"),
}
"""Each stage's conversion (and the ACV) as (numerator, denominator) of the window's KPIs."""

TEAMS = {"is_utilisation": "inside sales", "fs_utilisation": "field sales"}
"""The teams whose capacity limits what more leads book, by their utilisation KPI."""

_KPIS = [*STAGES, "new_arr", "marketing_cost", *TEAMS]

_RATE_NAMES = {
    "lead_to_mql": "lead->MQL",
    "mql_to_sql": "MQL->SQL",
    "sql_to_opportunity": "SQL->opportunity",
    "opportunity_to_win": "opportunity->win",
}

Status = Literal["settled", "unsettled", "below range", "above range"]


def _problem(message: str, where: str, value: Any) -> PlanError:
    return PlanError([Problem(message, where, value=value)])


# --------------------------------------------------------------------------- volume


def scale_leads(scenario: Scenario, multiplier: float) -> Scenario:
    """The scenario with every marketing channel bringing ``multiplier`` times its leads.

    A channel bought by the lead has its ``monthly_leads`` (each month's, for a list)
    multiplied; one bought by budget gets, each month, the spend that brings ``multiplier``
    times the leads its own spend brings (:meth:`~sim.scenario.schema.Spend.spend_for`).
    Growth, seasonality and cost per lead stay. ``multiplier == 1`` returns ``scenario`` itself.

    Raises
    ------
    PlanError
        If a saturating curve cannot bring that many leads, or the scaled scenario does not
        validate (more leads a month than the schema allows).
    """
    if multiplier == 1.0:
        return scenario
    data = scenario.model_dump(by_alias=True)
    for name, channel in scenario.marketing.channels.items():
        out = data["marketing"]["channels"][name]
        if channel.spend is None:
            volume = channel.monthly_leads
            assert volume is not None  # the schema requires leads or spend
            out["monthly_leads"] = (
                [v * multiplier for v in volume]
                if isinstance(volume, list)
                else volume * multiplier
            )
            continue
        curve = channel.spend
        monthly = curve.monthly if isinstance(curve.monthly, list) else [curve.monthly]
        try:
            spends = [curve.spend_for(multiplier * curve.leads(s)) for s in monthly]
        except ValueError as err:  # a saturating curve: its ceiling bounds the multiplier
            assert curve.max_leads is not None
            most = curve.max_leads / max(curve.leads(s) for s in monthly)
            raise _problem(
                f"{multiplier:g}x the leads of {name} is out of its curve's reach ({err}; "
                f"multipliers below {most:.3g} are)",
                "--multipliers",
                multiplier,
            ) from None
        out["spend"]["monthly"] = spends if isinstance(curve.monthly, list) else spends[0]
    try:
        return Scenario.model_validate(data)
    except ValidationError as err:
        reasons = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in err.errors())
        raise _problem(
            f"{multiplier:g}x the leads does not fit the scenario: {reasons}",
            "--multipliers",
            multiplier,
        ) from None


def parse_multipliers(text: str, where: str = "--multipliers") -> tuple[float, ...]:
    """``"0.5,1,1.5,2,3"`` (an ``x`` after a number is allowed: ``"1.5x"``)."""
    values = []
    for item in text.split(","):
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*[xX]?\s*", item)
        if not match:
            raise _problem("write positive numbers separated by commas, e.g. 0.5,1,2", where, text)
        values.append(float(match[1]))
    return tuple(values)


def _multipliers(values: Sequence[float]) -> list[float]:
    """Sorted, distinct, with 1 (the naive answer's base) added if missing."""
    bad = [x for x in values if not (math.isfinite(x) and x > 0)]
    if bad:
        raise _problem("every multiplier must be a positive number", "multipliers", bad[0])
    return sorted({float(x) for x in values} | {1.0})


# --------------------------------------------------------------------------- running


def reverse_funnel(
    scenario: Scenario,
    target_new_arr: float,
    through_month: str | int | None = None,
    multipliers: Sequence[float] = DEFAULT_MULTIPLIERS,
    replications: int = 8,
    seed: int = 0,
    executor: ExecutorLike = None,
    workers: int | None = None,
    progress: Progress | None = None,
) -> ReverseFunnel:
    """What leads and marketing budget ``target_new_arr`` of new ARR by a month needs.

    See the module docstring for the procedure.

    Parameters
    ----------
    scenario
        A validated scenario.
    target_new_arr
        New ARR (bookings from new customers, dollars) to book over months 1..M.
    through_month
        M: a label (``"2028-12"``) or a simulated month (1 = the first); default the
        horizon's last month. The scenario is cut there.
    multipliers
        Lead-volume multipliers to run; 1 (today's volume, the naive answer's base) is
        always run.
    replications, seed
        Replication ``r`` of every multiplier uses ``(seed, r)`` (common random numbers).
    executor, workers
        Where simulations run (see :func:`sim.experiment.executors.make_executor`); the
        numbers do not depend on it.
    progress
        Optional ``progress(done, total)`` callback, one call per simulation.

    Returns
    -------
    ReverseFunnel

    Raises
    ------
    PlanError
        On a bad target, month, multiplier, replication count or seed (located by the
        command-line option), or a multiplier the scenario cannot take.
    """
    month = (
        scenario.horizon_months if through_month is None else target_month(scenario, through_month)
    )
    problems = []
    if not (math.isfinite(target_new_arr) and target_new_arr > 0):
        problems.append(
            Problem("must be a positive amount", "target_new_arr", value=target_new_arr)
        )
    if replications < 2:
        problems.append(
            Problem("must be at least 2 (for a CI)", "replications", value=replications)
        )
    if seed < 0:
        problems.append(Problem("must be a non-negative integer", "seed", value=seed))
    if problems:
        raise PlanError(problems)
    xs = _multipliers(multipliers)
    cut = cut_at(scenario, month)
    if cut.horizon_months != month:
        raise _problem(
            "the scenario does not validate cut at this month, so its figures would run past it",
            "by",
            month_label(scenario, month),
        )
    runs = compare(
        [scale_leads(cut, x) for x in xs],
        replications=replications,
        seed=seed,
        executor=executor,
        workers=workers,
        progress=progress,
    )
    return ReverseFunnel(cut, target_new_arr, month, xs, runs)


Row = dict[str, float]
"""One multiplier's figures (a row of :meth:`ReverseFunnel.to_frame`), or the funnel at one
answer."""


def _rows(scenario: Scenario, multipliers: list[float], runs: Comparison) -> list[Row]:
    """One row per multiplier: the window's KPIs (mean; new ARR with CI and bands), the
    budget per channel (the channel table's cost), rates and utilisation."""
    stats = {(r["scenario"], r["kpi"]): r for r in runs.summary(_KPIS).to_dict(orient="records")}
    rows = []
    for x, label, results in zip(multipliers, runs.labels, runs.results, strict=True):
        mean = {name: float(stats[(label, name)]["mean"]) for name in _KPIS}
        arr = stats[(label, "new_arr")]
        row: Row = {"multiplier": x, "replications": float(len(results.replications))}
        row |= {name: mean[name] for name in (*STAGES, "new_arr")}
        row |= {
            "new_arr_ci95": float(arr["ci95"]),
            "new_arr_low": mean["new_arr"] - float(arr["ci95"]),
            "new_arr_high": mean["new_arr"] + float(arr["ci95"]),
            **{f"new_arr_{band}": float(arr[band]) for band in ("p10", "p50", "p90")},
            "marketing_cost": mean["marketing_cost"],
        }
        cost = results.channels()["cost"].to_dict()
        row |= {f"budget_{c}": float(cost.get(c, 0.0)) for c in scenario.marketing.channels}
        row |= _rates(row)
        row |= {name: mean[name] for name in TEAMS}
        rows.append(row)
    return rows


def _rates(figures: Row) -> Row:
    return {
        name: figures[num] / figures[den] if figures[den] > 0 else math.nan
        for name, (num, den) in RATES.items()
    }


def _first_reach(x: Sequence[float], y: Sequence[float], level: float) -> float:
    """The smallest ``x`` at which ``y``, linear between the points, reaches ``level``:
    ``-inf`` if the first point already does, ``inf`` if none does."""
    i = next((i for i, value in enumerate(y) if value >= level), None)
    if i is None:
        return math.inf
    if i == 0:
        return -math.inf
    weight = (level - y[i - 1]) / (y[i] - y[i - 1])
    return x[i - 1] + weight * (x[i] - x[i - 1])


# --------------------------------------------------------------------------- the answer


@dataclass(eq=False)
class ReverseFunnel:
    """What :func:`reverse_funnel` found: the funnel at every multiplier, and the answer.

    Attributes
    ----------
    scenario
        The scenario at today's volume, cut at the target month.
    target_new_arr, month, month_label
        The target, and the last month counted (simulated month and ``YYYY-MM``).
    multipliers
        The multipliers run, ascending (1 among them).
    comparison
        The runs (one :class:`~sim.experiment.results.Results` per multiplier, same seeds).
    rows
        Each multiplier's figures (the rows of :meth:`to_frame`).
    multiplier
        The simulated answer: the smallest multiplier whose mean new ARR reaches the target
        (NaN when the target is out of the range tried: see ``status``).
    multiplier_low, multiplier_high
        Its 95% CI: where the upper and the lower 95% CI band of mean new ARR reach the
        target (``-inf``: at or below the smallest multiplier; ``inf``: beyond the largest).
    status
        ``settled`` (the CIs of new ARR at the bracketing multipliers lie on either side of
        the target), ``unsettled`` (one reaches across it: more replications would settle
        it), ``below range`` (the smallest multiplier already books the target) or ``above
        range`` (the largest does not).
    naive_multiplier
        The average-conversion answer: target / new ARR at today's volume.
    """

    scenario: Scenario
    target_new_arr: float
    month: int
    multipliers: list[float]
    comparison: Comparison = field(repr=False)
    rows: list[Row] = field(init=False, repr=False)
    month_label: str = field(init=False)
    multiplier: float = field(init=False)
    multiplier_low: float = field(init=False)
    multiplier_high: float = field(init=False)
    status: Status = field(init=False)
    naive_multiplier: float = field(init=False)

    def __post_init__(self) -> None:
        self.month_label = month_label(self.scenario, self.month)
        self.rows = _rows(self.scenario, self.multipliers, self.comparison)
        target = self.target_new_arr
        x = self.multipliers
        self.multiplier = _first_reach(x, self._column("new_arr"), target)
        self.multiplier_low = _first_reach(x, self._column("new_arr_high"), target)
        self.multiplier_high = _first_reach(x, self._column("new_arr_low"), target)
        if self.multiplier == -math.inf:
            self.status = "below range"
        elif self.multiplier == math.inf:
            self.status = "above range"
        else:
            low, high = self._bracket
            settled = low["new_arr_high"] < target <= high["new_arr_low"]
            self.status = "settled" if settled else "unsettled"
        if not math.isfinite(self.multiplier):
            self.multiplier = math.nan
        arr = self._base["new_arr"]
        self.naive_multiplier = target / arr if arr > 0 else math.nan

    def _column(self, name: str) -> list[float]:
        return [row[name] for row in self.rows]

    @property
    def _base(self) -> Row:
        return self.rows[self.multipliers.index(1.0)]

    @property
    def _bracket(self) -> tuple[Row, Row]:
        """The rows of the multipliers either side of the answer."""
        i = next(i for i, row in enumerate(self.rows) if row["new_arr"] >= self.target_new_arr)
        return self.rows[i - 1], self.rows[i]

    @property
    def _budgets(self) -> list[str]:
        return [f"budget_{c}" for c in self.scenario.marketing.channels]

    @property
    def replications(self) -> int:
        """Replications per multiplier."""
        return self.comparison.replications

    @property
    def seed(self) -> int:
        """Root seed of the runs."""
        return self.comparison.seed

    @property
    def reached(self) -> bool:
        """The target lies within the range of multipliers tried."""
        return self.status in ("settled", "unsettled")

    def with_target(self, target_new_arr: float) -> ReverseFunnel:
        """The answer for another target from the same runs (nothing is simulated again)."""
        if not (math.isfinite(target_new_arr) and target_new_arr > 0):
            raise _problem("must be a positive amount", "target_new_arr", target_new_arr)
        return ReverseFunnel(
            self.scenario, target_new_arr, self.month, self.multipliers, self.comparison
        )

    def to_frame(self) -> pd.DataFrame:
        """One row per multiplier: ``multiplier``, ``replications``, the mean of ``leads,
        mqls, sqls, opportunities, wins, new_arr`` over months 1..M, ``new_arr_ci95`` (95%
        CI half-width of its mean), ``new_arr_low``/``new_arr_high``, ``new_arr_p10/p50/p90``,
        ``marketing_cost`` and ``budget_<channel>`` (what each channel cost), the rates of
        :data:`RATES` and ``is_utilisation``/``fs_utilisation``."""
        frame = pd.DataFrame(self.rows)
        frame["replications"] = frame["replications"].astype(int)
        return frame

    def needed(self) -> dict[str, Row]:
        """The funnel the target needs, as :meth:`funnel` gives it, keyed by column."""
        base = self._base
        k = self.naive_multiplier
        naive = {name: base[name] * k for name in self._figures}
        naive |= {name: base[name] for name in RATES}
        naive |= dict.fromkeys(TEAMS, math.nan)
        simulated = self._simulated() if self.reached else dict.fromkeys(self._figures, math.nan)
        return {"base": base, "simulated": simulated, "naive": naive}

    @property
    def _figures(self) -> list[str]:
        """The figures of the funnel that scale with the volume, naively."""
        return [*STAGES, "new_arr", *self._budgets, "marketing_cost"]

    def funnel(self) -> pd.DataFrame:
        """The funnel the target needs: one row per figure (the stages, new ARR, each
        channel's budget, ``marketing_cost``, the rates, the utilisations); columns ``base``
        (today's volume, measured), ``simulated`` (at :attr:`multiplier`; NaN out of range)
        and ``naive`` (today's figures times :attr:`naive_multiplier`: average conversion,
        average cost per lead, no utilisation)."""
        index = [*self._figures, *RATES, *TEAMS]
        columns = self.needed()
        return pd.DataFrame(
            {name: [figures.get(i, math.nan) for i in index] for name, figures in columns.items()},
            index=pd.Index(index, name="figure"),
        )

    def _simulated(self) -> Row:
        """Every figure at the answer: interpolated between the bracketing multipliers, but
        the budget of a channel bought by budget is its curve's exact spend there."""
        low, high = self._bracket
        weight = (self.multiplier - low["multiplier"]) / (high["multiplier"] - low["multiplier"])
        out = {k: (1.0 - weight) * low[k] + weight * high[k] for k in low}
        out["multiplier"] = self.multiplier
        # what the marketing channels do not account for (nothing in the bundled scenarios)
        # stays interpolated
        rest = out["marketing_cost"] - sum(out[b] for b in self._budgets)
        scaled = scale_leads(self.scenario, self.multiplier)
        for name, channel in scaled.marketing.channels.items():
            if channel.spend is not None:
                spend = channel.spend
                out[f"budget_{name}"] = sum(spend.spend_in(m) for m in range(self.month))
        out["marketing_cost"] = rest + sum(out[b] for b in self._budgets)
        return out | _rates(out)

    # ----------------------------------------------------------------- in words

    def summary(self) -> list[str]:
        """The answer in words: the target and today's bookings, the simulated answer with
        its CI, the naive one, how they differ and which team saturates."""
        base, needed = self._base, self.needed()
        first = month_label(self.scenario, 1)
        lines = [
            f"Target: {_money(self.target_new_arr)} new ARR booked {first} to "
            f"{self.month_label}. Today's lead volume (1x) books {_money(base['new_arr'])} "
            f"(95% CI {_ci(base)}); {self.replications} replications per multiplier, "
            f"seed {self.seed}."
        ]
        lines += self._answer_lines(needed["simulated"])
        lines += self._naive_lines(needed)
        lines += self._capacity_lines(needed["simulated"])
        arr = self._column("new_arr")
        falls = [j for j in range(len(arr) - 1) if arr[j + 1] < arr[j]]
        if falls:
            x, j = self.multipliers, falls[0]
            lines.append(
                f"New ARR does not rise at every step ({x[j]:g}x books {_money(arr[j])}, "
                f"{x[j + 1]:g}x {_money(arr[j + 1])}): the answer is the first crossing."
            )
        return lines

    def _answer_lines(self, simulated: Row) -> list[str]:
        first, last = self.rows[0], self.rows[-1]
        if self.status == "below range":
            return [
                f"Out of range: the smallest multiplier tried, {first['multiplier']:g}x, "
                f"already books {_money(first['new_arr'])}; try smaller multipliers."
            ]
        if self.status == "above range":
            return [
                f"Out of range: the largest multiplier tried, {last['multiplier']:g}x, books "
                f"{_money(last['new_arr'])} (95% CI {_ci(last)}); try larger multipliers, "
                "or add capacity (revloop plan)."
            ]
        ci = " to ".join(
            _times(x, self.multipliers) for x in (self.multiplier_low, self.multiplier_high)
        )
        lines = [
            f"Simulated answer: {self.multiplier:.2f}x today's leads (95% CI {ci}): "
            + _funnel_words(simulated, self._budgets)
        ]
        if self.status == "unsettled":
            low, high = self._bracket
            lines.append(
                f"Unsettled: the 95% CI of new ARR at {low['multiplier']:g}x ({_ci(low)}) or at "
                f"{high['multiplier']:g}x ({_ci(high)}) reaches across the target; more "
                "replications would settle it."
            )
        return lines

    def _naive_lines(self, needed: dict[str, Row]) -> list[str]:
        if not math.isfinite(self.naive_multiplier):
            return ["No naive answer: today's lead volume books no new ARR."]
        base, naive, simulated = needed["base"], needed["naive"], needed["simulated"]
        rates = ", ".join(f"{_RATE_NAMES[r]} {base[r]:.1%}" for r in _RATE_NAMES)
        lines = [
            f"Naive answer (today's average conversion: {rates}, ACV {_money(base['acv'])}): "
            f"{self.naive_multiplier:.2f}x: " + _funnel_words(naive, self._budgets)
        ]
        if self.reached:
            low, high = self._bracket
            extra = (high["new_arr"] - low["new_arr"]) / (high["leads"] - low["leads"])
            more_budget = simulated["marketing_cost"] - naive["marketing_cost"]
            lines.append(
                f"The simulated answer needs {simulated['leads'] / naive['leads'] - 1:+.0%} "
                f"leads and {_money(more_budget, signed=True)} budget against the naive one: "
                f"between {low['multiplier']:g}x and {high['multiplier']:g}x an extra lead "
                f"books {_money(extra)} of new ARR, where the naive answer counts "
                f"{_money(base['new_arr'] / base['leads'])} (today's average per lead)."
            )
        return lines

    def _capacity_lines(self, simulated: Row) -> list[str]:
        if self.reached:
            at, where = simulated, f"{self.multiplier:.2f}x"
        else:
            at = self.rows[0 if self.status == "below range" else -1]
            where = f"{at['multiplier']:g}x"
        base = self._base
        use = ", ".join(
            f"{team} {at[k]:.0%} utilised (1x: {base[k]:.0%})" for k, team in TEAMS.items()
        )
        full = [team for k, team in TEAMS.items() if at[k] >= SATURATED]
        if full:
            verb = "is" if len(full) == 1 else "are"
            verdict = f"{' and '.join(full)} {verb} saturated ({SATURATED:.0%} or more)"
        else:
            verdict = f"no team is saturated (none at {SATURATED:.0%} or more)"
        line = f"At {where}: {use}: {verdict}."
        drops = {r: at[r] / base[r] - 1 for r in _RATE_NAMES if base[r] > 0}
        worst = min(drops, key=lambda r: drops[r], default=None)
        if worst is not None and drops[worst] < 0:  # the stage that loses most with volume
            line += f" {_RATE_NAMES[worst]} falls to {at[worst]:.1%} (1x: {base[worst]:.1%})."
        return [line]

    # ----------------------------------------------------------------- display

    def __repr__(self) -> str:
        answer = f"{self.multiplier:.2f}x [{self.status}]" if self.reached else f"[{self.status}]"
        return (
            f"ReverseFunnel({self.scenario.name}: {_money(self.target_new_arr)} new ARR by "
            f"{self.month_label}, answer {answer}, naive {self.naive_multiplier:.2f}x, "
            f"multipliers {self.multipliers[0]:g}..{self.multipliers[-1]:g}, "
            f"{self.replications} replications)"
        )

    def _repr_html_(self) -> str:
        lines = "".join(f"<p>{html.escape(line)}</p>" for line in self.summary())
        return lines + self.funnel().to_html(float_format=lambda v: f"{v:,.3g}")


def _money(value: float, signed: bool = False) -> str:
    """``$12.35M``, ``$20.8K``, ``$289``; ``+$0.40M`` with ``signed``."""
    sign = "-" if value < 0 else "+" if signed else ""
    size = abs(value)
    if size >= 1e6:
        return f"{sign}${size / 1e6:,.2f}M"
    return f"{sign}${size / 1e3:,.1f}K" if size >= 1e3 else f"{sign}${size:,.0f}"


def _ci(row: Row) -> str:
    """The 95% CI of mean new ARR in a row: ``$11.20M to $12.90M``."""
    return f"{_money(row['new_arr_low'])} to {_money(row['new_arr_high'])}"


def _times(value: float, tried: list[float]) -> str:
    """A bound of the answer's CI: an open end says which end of the range it passed."""
    if value == -math.inf:
        return f"<= {tried[0]:g}x"
    if value == math.inf:
        return f"> {tried[-1]:g}x"
    return f"{value:.2f}x"


def _funnel_words(figures: Row, budgets: list[str]) -> str:
    names = ("leads", "MQLs", "SQLs", "opportunities", "wins")
    stages = ", ".join(f"{figures[s]:,.0f} {n}" for s, n in zip(STAGES, names, strict=True))
    channels = ", ".join(
        f"{b.removeprefix('budget_')} {_money(figures[b])}" for b in budgets if figures[b] > 0
    )
    return f"{stages}; marketing budget {_money(figures['marketing_cost'])} ({channels})."

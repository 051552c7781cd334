"""The plan search: the cheapest hiring plan that reaches an ARR target with given odds.

:func:`plan_search` answers "what is the cheapest plan whose probability of ending the target
month with at least the target ARR is at least the confidence?". It is a sequential ranking
and selection procedure built so that its claims hold:

1. **Common random numbers.** Replication ``r`` of every plan uses the seed ``(seed, r)``, so
   plans are compared on the same arrivals and draws wherever they do not differ.
2. **The plans that settle the most first, few replications to screen.** Each plan starts
   with ``first_reps`` replications; after every round it gets an exact (Clopper-Pearson)
   interval. A plan whose upper bound is below the confidence *fails*; one whose lower
   bound reaches it *meets*; the rest are *undecided* and their replications double
   (``first_reps``, 2x, 4x ... ``max_reps``). Each of a plan's looks uses the level
   ``1 - (1 - level) / looks`` (Bonferroni), so its decision holds at ``level`` whatever
   look it is taken at. Which plans run next is chosen to settle the most open plans per
   simulation (:func:`_probes`): the most generous plan first, then a greedy bisection over
   cost on the antichains of the dominance order.
3. **Dominance.** More people hired earlier never lowers the odds (an assumption, checked by
   the tests on the bundled scenarios; ``prune=False`` turns it off): a plan that fails rules
   out every plan with no more people, none earlier; one that meets makes every plan that
   costs more pointless. :func:`search_cost` says before the search how many simulations
   it can need at most, and about how many it should.
4. **Confirmation on fresh seeds.** The cheapest plan that *meets* was selected among many;
   its estimate is biased upwards by that selection. It is therefore run again on
   replications it has never seen (seeds ``(seed, 10**6 + r)``): a quarter of
   ``confirm_reps``, then half, then all (:func:`confirm_ladder`), stopping at the first
   rung whose interval is wholly above or below the confidence, each look at its share of
   ``level`` (Bonferroni). Only if the confirmation's lower bound reaches the confidence is
   it recommended. The probability and CI reported for it are the confirmation's.
5. **Close calls stop when more replications would not settle them.** After each look, a
   plan still straddling the confidence is given its chance of being settled by
   ``max_reps`` replications (:func:`~sim.experiment.planning.odds.chance_to_settle`); under
   ``futility`` (5%) it stops there as *undecided* instead of spending the replications
   left. An undecided plan is never a claim, so this costs no guarantee; it only leaves
   undecided some plans that a lucky run of replications would have settled.

A plan whose interval straddles the confidence when its replications run out is reported as
*undecided*, never as meeting the target.

:func:`arr_at_confidence` answers the inverse question: with this plan, what ARR do we reach
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats

from sim import display
from sim.errors import Problem
from sim.experiment.executors import ExecutorLike, make_executor
from sim.experiment.planning.odds import Estimate, chance_to_settle, estimate
from sim.experiment.planning.running import _Simulator, cut_at
from sim.experiment.planning.space import (
    ROLES,
    HiringPlan,
    PlanError,
    PlanSpace,
    _label,
    _problem,
    _team,
    month_label,
    target_month,
)
from sim.experiment.planning.store import _digest, _Store
from sim.experiment.runner import Progress
from sim.scenario import as_scenario
from sim.scenario.schema import Scenario

if TYPE_CHECKING:
    from matplotlib.figure import Figure


CONFIRM_OFFSET = 1_000_000
"""Confirmation replications are ``CONFIRM_OFFSET + r``: never used by the search itself."""


# --------------------------------------------------------------------------- the search


@dataclass
class Candidate:
    """One plan in a search, what it costs, and what the search learnt about it.

    ``status`` is one of ``meets`` (CI above the confidence), ``fails`` (CI below),
    ``undecided`` (CI straddles it when replications ran out), ``ruled out`` (a plan with at
    least as many people, none later, fails), ``costlier`` (a cheaper plan that meets was
    found first), ``unconfirmed`` (it met the target in the search but not on fresh
    replications), ``over budget``, ``interrupted`` (its CI was still open when the search
    was stopped), or ``not run`` (the search stopped first).
    """

    plan: HiringPlan
    cost: float
    label: str
    status: str = "not run"
    search: Estimate = field(default_factory=lambda: estimate(0, 0))
    confirm: Estimate | None = None
    arr: np.ndarray[Any, Any] = field(default_factory=lambda: np.zeros(0))
    confirm_arr: np.ndarray[Any, Any] | None = None
    confirm_ok: bool = False
    curtailed: bool = False
    """Undecided before ``max_reps``: more replications would very likely not settle it."""


@dataclass(repr=False)
class PlanSearch(display.Shown):
    """What :func:`plan_search` found.

    In a notebook it shows itself as a short table (target, best plan, its ARR at the target
    month); :meth:`to_frame` gives :meth:`table` and :meth:`plot` each plan's odds by cost.

    ``best`` is the recommended plan (``None`` if no plan was proven to meet the target);
    ``runners_up()`` the next plans worth a look; ``table()`` every plan with its status.
    ``search_cost`` is what the search was expected to cost before it ran (:class:`SearchCost`);
    ``simulations`` what it ran, ``stored`` what it found in the store. The search's
    intervals are at ``look_level`` (each of a plan's ``looks`` at its evidence spends a
    share of ``1 - level``), the confirmation's at ``level``.
    """

    scenario: Scenario
    target_arr: float
    month: int
    month_label: str
    confidence: float
    level: float
    seed: int
    candidates: list[Candidate]
    best: Candidate | None
    simulations: int
    stored: int
    complete: bool = True
    stopped: str | None = None
    looks: int = 1
    search_cost: SearchCost | None = None

    @property
    def look_level(self) -> float:
        """Level of the search's intervals (Bonferroni over the ``looks``)."""
        return _look_level(self.level, self.looks)

    @property
    def confirmations(self) -> int:
        """Plans run on fresh replications (one, unless a winner was not confirmed)."""
        return sum(c.confirm is not None for c in self.candidates)

    def _facts(self) -> display.Facts:
        sc = self.scenario
        target = display.value("arr", self.target_arr)
        rows = [
            ("target", f"{target} ARR by {self.month_label}, {self.confidence:.0%} odds"),
            ("best plan", "none proven" if self.best is None else self.best.label),
        ]
        if self.best is not None:
            b = self.best
            rows.append(("cost", display.value("cost", b.cost)))
            arr = b.confirm_arr if b.confirm_arr is not None else b.arr
            rows.append((f"ARR at {self.month_label}", display.band("arr", arr)))
        rows += [
            ("plans", f"{len(self.candidates)}; {self.simulations} simulations run"),
            ("seed", str(self.seed)),
            ("horizon", f"{sc.horizon_months} months from {sc.start_date:%Y-%m}"),
        ]
        if not self.complete:
            rows.append(("stopped", str(self.stopped)))
        return f"Plan search: {sc.name}", rows

    def to_frame(self) -> pd.DataFrame:
        """The natural table of a search: :meth:`table`, one row per plan, cheapest first."""
        return self.table()

    def plot(self, title: str | None = None) -> Figure:
        """Each plan's odds of reaching the target against its cost, with 95% CIs.

        Parameters
        ----------
        title
            Optional figure title.

        Returns
        -------
        matplotlib.figure.Figure
            See :func:`sim.analysis.plots.plan_odds_chart`.
        """
        from sim.analysis.plots import plan_odds_chart

        return plan_odds_chart(self.table(), self.confidence, title)

    def table(self) -> pd.DataFrame:
        """One row per plan, cheapest first: cost, status, estimates and CIs."""
        rows = []
        teams = sorted({h.role for c in self.candidates for h in c.plan.hires} - set(ROLES))
        roles = [*ROLES, *teams]  # every role, then the AE teams hired into
        for c in self.candidates:
            row: dict[str, Any] = {
                "plan": c.label,
                "key": c.plan.key,
                "heads": c.plan.heads,
                "cost": c.cost,
                "status": c.status,
                "replications": c.search.n,
                "p": c.search.p,
                "p_low": c.search.low,
                "p_high": c.search.high,
                "stopped_early": c.curtailed,
                "confirm_replications": c.confirm.n if c.confirm else 0,
                "confirm_p": c.confirm.p if c.confirm else math.nan,
                "confirm_low": c.confirm.low if c.confirm else math.nan,
                "confirm_high": c.confirm.high if c.confirm else math.nan,
                "recommended": c is self.best,
            }
            for role in roles:
                hire = next((h for h in c.plan.hires if h.role == role), None)
                row[f"{role}_hires"] = hire.count if hire else 0
                row[f"{role}_start"] = _label(self.scenario, hire.month) if hire else ""
            for b in c.plan.budgets:
                row[f"spend_{b.channel}"] = b.monthly
            rows.append(row)
        return pd.DataFrame(rows)

    def runners_up(self, k: int = 5) -> list[Candidate]:
        """Plans to know about beside the best: cheaper ones still undecided (they may meet
        the target with more replications), then the next cheapest ones that met it."""
        cheaper = [
            c
            for c in self.candidates
            if c.status == "undecided" and (self.best is None or c.cost < self.best.cost)
        ]
        met = [
            c
            for c in self.candidates
            if c is not self.best and c.status == "meets" and c.search.n > 0
        ]
        return (cheaper + met)[:k]

    def sentences(self) -> list[str]:
        """The answer in words."""
        target = f"${self.target_arr / 1e6:,.2f}M ARR by {self.month_label}"
        out = []
        if self.best is not None:
            b = self.best
            assert b.confirm is not None
            out.append(
                f"Cheapest plan proven to reach {target} with at least "
                f"{self.confidence:.0%} probability: {b.label}, costing "
                f"${b.cost / 1e6:,.2f}M up to {self.month_label}. Probability "
                f"{b.confirm.p:.1%} ({b.confirm.level:.1%} CI {b.confirm.low:.1%} to "
                f"{b.confirm.high:.1%}, "
                f"{b.confirm.n} fresh replications)."
            )
        else:
            out.append(
                f"No plan in the space was proven to reach {target} with at least "
                f"{self.confidence:.0%} probability."
            )
        undecided = [c for c in self.runners_up(len(self.candidates)) if c.status == "undecided"]
        if undecided:
            which = "cheaper plan(s) may also" if self.best is not None else "plan(s) may"
            early = sum(c.curtailed for c in undecided)
            out.append(
                f"{len(undecided)} {which} meet it, but their CIs straddle "
                f"{self.confidence:.0%}: more replications (a higher max_reps) would settle them"
                + (
                    f" ({early} stopped before max_reps: their odds are so close to "
                    f"{self.confidence:.0%} that max_reps would very likely not have)."
                    if early
                    else "."
                )
            )
        out.append(
            f"{self.simulations} simulations run"
            + (f" ({self.stored} more reused from the store)" if self.stored else "")
            + f"; {len(self.candidates)} plans in the space"
            + (
                "."
                if self.search_cost is None
                else f"; at most {self.search_cost.most:,} foreseen before it started."
            )
        )
        if not self.complete:
            out.append(f"The search stopped early: {self.stopped}.")
        return out


@dataclass(frozen=True)
class SearchCost:
    """How many simulations a search needs, known before it runs one.

    ``most`` is a hard bound: every plan within the budget run to ``max_reps`` replications,
    plus ``confirm_reps`` to confirm one winner (each further confirmation, needed only when a
    winner is not confirmed on its fresh replications, adds ``confirm_reps``). Simulations
    found in the store count towards it too.

    ``expected`` is a rough figure: the mean cost of dry runs of the same search over
    made-up spaces in which every plan's odds are clear-cut (all replications reach the
    target or none does), from nothing reachable to everything reachable. Plans whose odds
    are close to the confidence need more replications (up to ``max_reps`` each), so a
    search of a target near the line costs more than this.
    """

    plans: int
    max_reps: int
    confirm_reps: int
    looks: int
    look_level: float
    most: int
    expected: int

    def sentence(self) -> str:
        """The cost in words."""
        return (
            f"At most {self.most:,} simulations ({self.plans} plans x {self.max_reps} "
            f"replications + {self.confirm_reps} to confirm a winner; each further "
            f"confirmation adds {self.confirm_reps}); about {self.expected:,} expected "
            "if the plans' odds are clear-cut, more for close calls."
        )


def search_cost(
    scenario: Scenario,
    by: str | int,
    confidence: float = 0.8,
    space: PlanSpace | None = None,
    first_reps: int = 4,
    max_reps: int = 64,
    confirm_reps: int = 100,
    level: float = 0.95,
    prune: bool = True,
) -> SearchCost:
    """What :func:`plan_search` with these arguments will cost, before it runs anything.

    No simulation is run: see :class:`SearchCost` for what the figures mean.

    Raises
    ------
    PlanError
        On a bad month, confidence, space or replication counts.
    """
    _check_numbers(1.0, confidence, first_reps, max_reps, confirm_reps, level, 0)
    month = target_month(scenario, by)
    candidates = _candidates(scenario, month, space)
    ladder = _ladder(first_reps, max_reps)
    return _search_cost(candidates, confidence, ladder, confirm_reps, level, prune)


def plan_search(
    scenario: Scenario | str | os.PathLike[str],
    target_arr: float,
    by: str | int,
    confidence: float = 0.8,
    space: PlanSpace | None = None,
    seed: int = 0,
    first_reps: int = 4,
    max_reps: int = 64,
    confirm_reps: int = 100,
    level: float = 0.95,
    prune: bool = True,
    futility: float = 0.05,
    max_simulations: int | None = None,
    executor: ExecutorLike = None,
    workers: int | None = None,
    store: str | os.PathLike[str] | None = None,
    progress: Progress | None = None,
) -> PlanSearch:
    """Find the cheapest hiring plan that reaches ``target_arr`` by ``by`` with odds
    ``confidence`` (see the module docstring for the procedure).

    Parameters
    ----------
    scenario
        The validated scenario the hires are added to, or its file.
    target_arr
        ARR to reach (dollars) at the end of the month ``by``.
    by
        The target month: a label (``"2028-12"``) or a simulated month (1 = the first).
    confidence
        Required probability of reaching the target (0.8 = 80% odds).
    space
        The plans to consider; default :meth:`PlanSpace.default`.
    seed
        Root seed: replication ``r`` of every plan uses ``(seed, r)``.
    first_reps, max_reps
        Replications a plan starts with, and the most it gets during the search (doubling).
    confirm_reps
        Fresh replications run to confirm the selected plan.
    level
        Confidence level of the decisions (0.95): a plan's search decision holds at this
        level over all its looks (each look's interval is at ``1 - (1 - level) / looks``),
        and the confirmation's interval is at this level.
    prune
        Use dominance (more people earlier never lowers the odds) to choose which plans to
        run and to rule out the plans a failed one dominates.
    futility
        Stop racing a plan, as undecided, when its chance of being settled by ``max_reps``
        replications falls under this (0 = never stop early).
    max_simulations
        Stop after this many new simulations (the answer then says so).
    executor, workers
        Where simulations run (see :func:`sim.experiment.executors.make_executor`).
    store
        A DuckDB file keeping every simulated ARR: resume an interrupted search, or reuse
        simulations for another target or confidence.
    progress
        Optional ``progress(done, planned)`` callback; ``planned`` is the simulations done
        plus a bound on those still to run, which shrinks as plans are settled.

    Raises
    ------
    PlanError
        On a bad target, month, confidence, space or budget, located by the parameter's
        name.
    """
    scenario = as_scenario(scenario)
    month = target_month(scenario, by)
    _check_numbers(
        target_arr, confidence, first_reps, max_reps, confirm_reps, level, seed, futility
    )
    candidates = _candidates(scenario, month, space)
    ladder = _ladder(first_reps, max_reps)
    cut = cut_at(scenario, month)
    db = _Store(store, _digest(cut, month, seed))
    search = PlanSearch(
        scenario=scenario,
        target_arr=target_arr,
        month=month,
        month_label=month_label(scenario, month),
        confidence=confidence,
        level=level,
        seed=seed,
        candidates=candidates,
        best=None,
        simulations=0,
        stored=0,
        looks=len(ladder),
        search_cost=_search_cost(candidates, confidence, ladder, confirm_reps, level, prune),
    )
    try:
        with make_executor(executor, workers) as pool:
            sim = _Simulator(cut, month, seed, pool, db, progress)
            try:
                _race(search, sim, ladder, confirm_reps, prune, max_simulations, futility)
            except KeyboardInterrupt:
                search.complete, search.stopped = False, "interrupted"
                for c in candidates:
                    if c.status == "racing":
                        c.status = "interrupted"
            search.simulations, search.stored = sim.simulations, len(sim.reused)
    finally:
        db.close()
    return search


plan = plan_search
"""The public name of :func:`plan_search`: ``sim.plan(scenario, target_arr, by, ...)``."""


FLAGS = {
    "target_arr": "--target-arr",
    "by": "--by",
    "confidence": "--confidence",
    "first_reps": "--first-reps",
    "max_reps": "--max-reps",
    "futility": "--futility",
    "confirm_reps": "--confirm-reps",
    "level": "--level",
    "seed": "--seed",
    "replications": "--reps",
    "space.roles": "--hire",
    "space.months": "--quarters",
    "store": "--out",
}
"""The ``revloop plan`` option of each parameter a :class:`PlanError` of the library names
(the command shows the option; see :func:`sim.cli.common.guard`)."""


def _candidates(scenario: Scenario, month: int, space: PlanSpace | None) -> list[Candidate]:
    """Every plan of the space, cheapest first, those over the budget marked so."""
    space = space or PlanSpace.default(scenario, month)
    for rng in space.roles:
        _team(scenario, rng.role, "space.roles")
    if max(space.months) > month:
        raise _problem(
            f"hiring months must not be after the target month ({_label(scenario, month)})",
            "space.months",
            _label(scenario, max(space.months)),
        )
    plans = space.plans()
    candidates = [Candidate(p, p.cost(scenario, month), p.describe(scenario)) for p in plans]
    candidates.sort(key=lambda c: (c.cost, c.plan.heads, c.plan.key))
    for c in candidates:
        if space.budget is not None and c.cost > space.budget + 1e-6:
            c.status = "over budget"
    return candidates


def _check_numbers(
    target: float,
    confidence: float,
    first: int,
    most: int,
    confirm: int,
    level: float,
    seed: int,
    futility: float = 0.0,
) -> None:
    problems = []
    if not (math.isfinite(target) and target > 0):
        problems.append(Problem("must be a positive amount", "target_arr", value=target))
    if not 0 < confidence < 1:
        problems.append(
            Problem("must be between 0 and 1 (0.8 = 80%)", "confidence", value=confidence)
        )
    if first < 1:
        problems.append(Problem("must be at least 1", "first_reps", value=first))
    if most < first:
        problems.append(Problem("must be at least first_reps", "max_reps", value=most))
    if confirm < 1:
        problems.append(Problem("must be at least 1", "confirm_reps", value=confirm))
    if not 0.5 < level < 1:
        problems.append(Problem("must be between 0.5 and 1", "level", value=level))
    if seed < 0:
        problems.append(Problem("must be a non-negative integer", "seed", value=seed))
    if not 0 <= futility < 1:
        problems.append(Problem("must be at least 0 and under 1", "futility", value=futility))
    if problems:
        raise PlanError(problems)


def _ladder(first: int, most: int) -> list[int]:
    steps = [first]
    while steps[-1] < most:
        steps.append(min(most, steps[-1] * 2))
    return steps


def confirm_ladder(confirm_reps: int) -> list[int]:
    """The rungs of fresh replications a winner is confirmed on: a quarter of
    ``confirm_reps``, doubling up to all of them (``[25, 50, 100]`` for 100)."""
    return _ladder(max(1, confirm_reps // 4), confirm_reps)


def _look_level(level: float, looks: int) -> float:
    """Bonferroni over the ladder's rungs: the level of each look's interval such that a
    plan's decision, taken at whichever look, is wrong with probability at most
    ``1 - level`` (half of it each way)."""
    return 1.0 - (1.0 - level) / looks


def _classify(c: Candidate, confidence: float, final: bool) -> None:
    if c.search.high < confidence:
        c.status = "fails"
    elif c.search.low >= confidence:
        c.status = "meets"
    else:
        c.status = "undecided" if final else "racing"


def _dominance(candidates: list[Candidate]) -> np.ndarray[Any, Any]:
    """``below[i, j]``: plan ``j`` has no more people of any role than plan ``i``, none
    hired earlier (``i`` dominates ``j``; every plan dominates itself)."""
    channels = sorted({b.channel for c in candidates for b in c.plan.budgets})
    roles = sorted({h.role for c in candidates for h in c.plan.hires})
    counts = np.zeros((len(candidates), len(roles) + len(channels)))
    starts = np.full((len(candidates), len(roles)), np.inf)  # inf: the role is not hired
    for i, c in enumerate(candidates):
        for hire in c.plan.hires:
            j = roles.index(hire.role)
            counts[i, j], starts[i, j] = hire.count, hire.month
        for budget in c.plan.budgets:  # a space sets every channel's budget in every plan
            counts[i, len(roles) + channels.index(budget.channel)] = budget.monthly
    fewer = np.all(counts[None, :, :] <= counts[:, None, :], axis=2)
    later = np.all(starts[None, :, :] >= starts[:, None, :], axis=2)
    return np.asarray(fewer & later)


OPEN = ("not run", "racing")
"""Statuses of the plans a search has not settled yet."""


class _DrySimulator:
    """Stands in for :class:`_Simulator` in the dry runs of :func:`_search_cost`: nothing is
    simulated; every replication of a plan in ``reach`` gets ``target * 2``, of the others 0."""

    def __init__(self, reach: set[str], target: float, slots: int) -> None:
        self.reach, self.target, self.slots = reach, target, slots
        self.done: set[tuple[str, int]] = set()
        self.simulations = self.planned = 0

    def missing(self, plan: HiringPlan, replications: Iterable[int]) -> int:
        key = plan.key
        return sum((key, r) not in self.done for r in replications)

    def ensure(self, wanted: list[tuple[HiringPlan, range]]) -> None:
        for plan, reps in wanted:
            self.simulations += self.missing(plan, reps)
            self.done.update((plan.key, r) for r in reps)

    def arr(self, plan: HiringPlan, replications: Iterable[int]) -> np.ndarray[Any, Any]:
        value = 2.0 * self.target if plan.key in self.reach else 0.0
        return np.full(len(list(replications)), value)


def _search_cost(
    candidates: list[Candidate],
    confidence: float,
    ladder: list[int],
    confirm_reps: int,
    level: float,
    prune: bool,
) -> SearchCost:
    """The bound and the dry-run estimate of :class:`SearchCost`.

    The dry runs put the line between reachable and not at no plan, and at every tenth of
    the plans by cost (reachable: the plans costing at least that much, which dominance
    keeps consistent since a dominating plan never costs less). They run one plan at a
    time, as a search on one or two workers does; with many workers a search runs several
    plans side by side and may spend a little more.
    """
    live = [c for c in candidates if c.status != "over budget"]
    most = len(live) * ladder[-1] + confirm_reps
    costs = sorted(c.cost for c in live)
    lines = [math.inf] + [costs[int(len(costs) * f / 10)] for f in range(10)] if costs else []
    spent = []
    for line in lines:
        reach = {c.plan.key for c in live if c.cost >= line}
        spent.append(
            _dry_run(candidates, reach, confidence, ladder, confirm_reps, level, prune).simulations
        )
    looks = len(ladder)
    return SearchCost(
        plans=len(live),
        max_reps=ladder[-1],
        confirm_reps=confirm_reps,
        looks=looks,
        look_level=_look_level(level, looks),
        most=most,
        expected=round(sum(spent) / len(spent)) if spent else 0,
    )


def _dry_run(
    candidates: list[Candidate],
    reach: set[str],
    confidence: float,
    ladder: list[int],
    confirm_reps: int,
    level: float,
    prune: bool,
) -> PlanSearch:
    """The search over copies of ``candidates`` when exactly the plans keyed in ``reach``
    reach the target, in every replication (:class:`_DrySimulator`): what it decides, and
    in ``simulations`` how many it would run."""
    copies = [Candidate(c.plan, c.cost, c.label, status=c.status) for c in candidates]
    dry = PlanSearch(
        scenario=None,  # type: ignore[arg-type]  # never read by the race
        target_arr=1.0,
        month=0,
        month_label="",
        confidence=confidence,
        level=level,
        seed=0,
        candidates=copies,
        best=None,
        simulations=0,
        stored=0,
        looks=len(ladder),
    )
    sim = _DrySimulator(reach, dry.target_arr, slots=1)
    _race(dry, sim, ladder, confirm_reps, prune, None)
    dry.simulations = sim.simulations
    return dry


def _reach_odds(
    candidates: list[Candidate], below: np.ndarray[Any, Any], confidence: float
) -> np.ndarray[Any, Any]:
    """A rough chance, per plan, that it meets the target: used to choose probes only.

    A plan that has run gets the posterior probability (Jeffreys prior) that its odds are at
    least ``confidence``. One that has not gets that of the plans run so far, interpolated
    on cost (1/2 before any has run), moved into the range that dominance allows: at least
    that of any plan it dominates, at most that of any plan dominating it.
    """
    n = np.array([c.search.n for c in candidates], dtype=float)
    k = np.array([c.search.successes for c in candidates], dtype=float)
    costs = np.array([c.cost for c in candidates])
    run = n > 0
    q = np.full(len(candidates), 0.5)
    if not run.any():
        return q
    q[run] = stats.beta.sf(confidence, k[run] + 0.5, n[run] - k[run] + 0.5)
    order = np.argsort(costs[run], kind="stable")
    guess = np.interp(costs, costs[run][order], q[run][order])
    lo = np.max(np.where(below & run[None, :], q[None, :], 0.0), axis=1)
    hi = np.min(np.where(below.T & run[None, :], q[None, :], 1.0), axis=1)
    return np.where(run, q, np.minimum(np.maximum(guess, lo), hi))


def _probes(
    candidates: list[Candidate],
    relevant: np.ndarray[Any, Any],
    below: np.ndarray[Any, Any],
    ladder: list[int],
    confidence: float,
    look: float,
    sim: _Simulator | _DrySimulator,
    batch: int,
) -> list[tuple[int, int]]:
    """The next plans to run and the replications each is to have: those expected to settle
    the most open plans per simulation.

    A plan ``x`` that fails settles every open plan it dominates (they are ruled out); one
    that meets settles every open plan costing at least as much (they are pointless). With
    ``q`` the chance that it meets (:func:`_reach_odds`), its worth is
    ``(1 - q) * dominated + q * costlier``; its price is ``(1 - q)`` times the replications
    of its next rung (a plan can fail early) plus ``q`` times those of the first rung at
    which it could meet, counting only those not stored yet (stored ones are free and go
    first). This is a greedy bisection over cost on the antichains of the dominance order:
    the most generous plan first (if it fails, nothing can meet), then plans cheaper or in
    between as the evidence says.
    """
    rel = np.flatnonzero(relevant)
    odds = _reach_odds(candidates, below, confidence)[rel]
    costs = np.array([candidates[i].cost for i in rel])
    dominated = below[np.ix_(rel, rel)].sum(axis=1)
    costlier = len(rel) - np.searchsorted(np.sort(costs), costs, side="left")
    worth = (1.0 - odds) * dominated + odds * costlier
    can_meet = next((n for n in ladder if estimate(n, n, look).low >= confidence), ladder[-1])
    rungs, new, price = [], [], []
    for m, i in enumerate(rel):
        have = candidates[i].search.n
        rung = next(n for n in ladder if n > have)
        rungs.append(rung)
        new.append(sim.missing(candidates[i].plan, range(have, rung)))
        to_meet = sim.missing(candidates[i].plan, range(have, max(rung, can_meet)))
        price.append((1.0 - odds[m]) * new[-1] + odds[m] * to_meet)
    score = np.where(np.array(new) > 0, worth / np.maximum(price, 1.0), np.inf)
    order = sorted(range(len(rel)), key=lambda m: (-score[m], -dominated[m], -costs[m], m))
    chosen: list[tuple[int, int]] = []
    tasks = 0
    for m in order:
        plan = int(rel[m])
        if any(below[plan, j] or below[j, plan] for j, _ in chosen):
            continue  # its worth depends on the outcome of a plan already chosen
        chosen.append((plan, rungs[m]))
        tasks += new[m]
        if tasks >= batch:
            break
    return chosen


def _left(candidates: list[Candidate], ladder: list[int], confirm_reps: int) -> int:
    """A bound on the simulations still to run: every open plan to the last rung, plus one
    confirmation (stored simulations count as if they were not)."""
    return confirm_reps + sum(ladder[-1] - c.search.n for c in candidates if c.status in OPEN)


def _race(
    search: PlanSearch,
    sim: _Simulator | _DrySimulator,
    ladder: list[int],
    confirm_reps: int,
    prune: bool,
    max_simulations: int | None,
    futility: float = 0.0,
) -> None:
    """The search loop: run the plans that settle the most others (:func:`_probes`), double
    the replications of undecided ones (unless more would very likely not settle them),
    rule out by dominance, confirm the cheapest plan that meets on fresh seeds."""
    target, conf = search.target_arr, search.confidence
    look = _look_level(search.level, len(ladder))
    cands = search.candidates
    below = _dominance(cands) if prune else np.eye(len(cands), dtype=bool)
    costs = np.array([c.cost for c in cands])
    batch = 2 * sim.slots

    def record(i: int, n: int) -> None:
        c = cands[i]
        values = sim.arr(c.plan, range(n))
        c.arr = values
        c.search = estimate(int(np.sum(values >= target)), n, look)
        _classify(c, conf, final=n >= ladder[-1])
        if (
            c.status == "racing"
            and futility > 0
            and chance_to_settle(c.search.successes, n, ladder[-1], conf, look) < futility
        ):
            c.status, c.curtailed = "undecided", True
        if c.status == "fails":  # no more people, none earlier: fail too
            for j in np.flatnonzero(below[i]):
                if cands[j].status in OPEN:
                    cands[j].status = "ruled out"

    while True:
        if max_simulations is not None and sim.simulations >= max_simulations:
            search.complete, search.stopped = False, f"the limit of {max_simulations} simulations"
            break
        met = [c for c in cands if c.status == "meets" and c.confirm is None]
        cheapest_met = min((c.cost for c in met), default=math.inf)
        relevant = np.array([c.status in OPEN for c in cands]) & (costs <= cheapest_met)
        sim.planned = sim.simulations + _left(cands, ladder, confirm_reps)
        if relevant.any():
            chosen = _probes(cands, relevant, below, ladder, conf, look, sim, batch)
            sim.ensure([(cands[i].plan, range(n)) for i, n in chosen])
            for i, n in chosen:
                record(i, n)
            continue
        if not met:
            break
        best = min(met, key=lambda c: (c.cost, c.plan.heads))
        # fresh replications in rungs (a quarter, a half, all of confirm_reps), each look
        # at its share of the level: a clear winner is confirmed on the first rung
        rungs = confirm_ladder(confirm_reps)
        level = _look_level(search.level, len(rungs))
        for n in rungs:
            fresh = range(CONFIRM_OFFSET, CONFIRM_OFFSET + n)
            sim.ensure([(best.plan, fresh)])
            values = sim.arr(best.plan, fresh)
            best.confirm_arr = values
            best.confirm = estimate(int(np.sum(values >= target)), n, level)
            if best.confirm.low >= conf or best.confirm.high < conf:
                break
        assert best.confirm is not None
        best.confirm_ok = best.confirm.low >= conf
        if best.confirm_ok:
            search.best = best
            for c in cands:
                if c.status in OPEN and c.cost >= best.cost:
                    c.status = "costlier"
            break
        best.status = "unconfirmed"
    for c in cands:
        if c.status == "racing":
            c.status = "undecided"

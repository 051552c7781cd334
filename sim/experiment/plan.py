"""The headcount planner: the cheapest hiring plan that reaches an ARR target with given odds.

A *hiring plan* adds people to the teams of a scenario: for each role (SDRs, AEs, CSMs, BDRs)
a number of hires who start on the first day of one quarter. A *plan space* is the set of
plans within the bounds a user gives (0..6 SDRs, hired in 2027Q1..2027Q4, ...) and a budget.

:func:`plan_search` answers "what is the cheapest plan whose probability of ending the target
month with at least the target ARR is at least the confidence?" with a sequential ranking and
selection procedure (common random numbers, exact intervals with Bonferroni looks, dominance
pruning, confirmation on fresh seeds; see :mod:`sim.experiment.planning.search`). A plan
whose interval straddles the confidence when its replications run out is reported as
*undecided*, never as meeting the target.

:func:`arr_at_confidence` answers the inverse question: with this plan, what ARR do we reach
by the target month with the given odds? It is the ``1 - confidence`` quantile of ARR, with a
distribution-free confidence interval from order statistics.

Every simulated (plan, replication) can be kept in a DuckDB file (``store=``): an interrupted
search loses nothing, and a new search of the same scenario, month and seed (any target,
confidence or bounds) reuses what is stored -- unless other code stored it (an upgrade, a
local edit of the sources in :data:`ARR_SOURCES`): then it is simulated again.

This module is the planner's public face; the work is split by job in
:mod:`sim.experiment.planning`: ``space`` (plans, plan spaces, months, parsing, costs),
``store`` (the plan store), ``running`` (simulating plans), ``odds`` (intervals and
:func:`arr_at_confidence`) and ``search`` (:func:`plan_search`).
"""

from __future__ import annotations

from sim.experiment.planning.odds import (
    ArrAtConfidence,
    Estimate,
    arr_at_confidence,
    chance_to_settle,
    estimate,
    quantile_ci,
)
from sim.experiment.planning.running import cut_at
from sim.experiment.planning.search import (
    CONFIRM_OFFSET,
    FLAGS,
    Candidate,
    PlanSearch,
    SearchCost,
    _candidates,
    _dominance,
    _dry_run,
    _ladder,
    confirm_ladder,
    plan,
    plan_search,
    search_cost,
)
from sim.experiment.planning.space import (
    ROLE_NAMES,
    ROLES,
    Budget,
    Hire,
    HiringPlan,
    PlanError,
    PlanSpace,
    RoleRange,
    SpendRange,
    month_label,
    month_of,
    parse_money,
    parse_months,
    target_month,
)
from sim.experiment.planning.store import ARR_SOURCES

__all__ = [
    "ARR_SOURCES",
    "CONFIRM_OFFSET",
    "FLAGS",
    "ROLES",
    "ROLE_NAMES",
    "ArrAtConfidence",
    "Budget",
    "Candidate",
    "Estimate",
    "Hire",
    "HiringPlan",
    "PlanError",
    "PlanSearch",
    "PlanSpace",
    "RoleRange",
    "SearchCost",
    "SpendRange",
    "_candidates",
    "_dominance",
    "_dry_run",
    "_ladder",
    "arr_at_confidence",
    "chance_to_settle",
    "confirm_ladder",
    "cut_at",
    "estimate",
    "month_label",
    "month_of",
    "parse_money",
    "parse_months",
    "plan",
    "plan_search",
    "quantile_ci",
    "search_cost",
    "target_month",
]

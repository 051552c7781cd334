"""The headcount planner: the cheapest hiring plan that reaches an ARR target with given odds.

A *hiring plan* adds people to the teams of a scenario: for each role (SDRs, AEs, CSMs, BDRs)
a number of hires who start on the first day of one quarter. A *plan space* is the set of
plans within the bounds a user gives (0..6 SDRs, hired in 2027Q1..2027Q4, ...) and a budget.

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
   replications it has never seen (``confirm_reps`` of them, seeds ``(seed, 10**6 + r)``);
   only if the confirmation's lower bound still reaches the confidence is it recommended.
   The probability and CI reported for it are the confirmation's.

A plan whose interval straddles the confidence when its replications run out is reported as
*undecided*, never as meeting the target.

:func:`arr_at_confidence` answers the inverse question: with this plan, what ARR do we reach
by the target month with the given odds? It is the ``1 - confidence`` quantile of ARR, with a
distribution-free confidence interval from order statistics.

Every simulated (plan, replication) can be kept in a DuckDB file (``store=``): an interrupted
search loses nothing, and a new search of the same scenario, month and seed (any target,
confidence or bounds) reuses what is stored -- unless other code stored it (an upgrade, a
local edit of the sources in :data:`ARR_SOURCES`): then it is simulated again.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import itertools
import json
import math
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pandas as pd
from scipy import stats

from sim import display
from sim.engine.streams import replication_seed
from sim.engine.world import simulate
from sim.errors import InputError, Problem
from sim.experiment.executors import ExecutorLike, make_executor
from sim.experiment.runner import Progress
from sim.experiment.store import code_fingerprint
from sim.scenario import as_scenario
from sim.scenario.schema import GENERALISTS, Scenario, add_months

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "CONFIRM_OFFSET",
    "ROLES",
    "ArrAtConfidence",
    "Candidate",
    "Estimate",
    "Hire",
    "HiringPlan",
    "PlanError",
    "PlanSearch",
    "PlanSpace",
    "RoleRange",
    "SearchCost",
    "arr_at_confidence",
    "cut_at",
    "estimate",
    "month_label",
    "month_of",
    "parse_money",
    "parse_months",
    "plan_search",
    "quantile_ci",
    "search_cost",
    "target_month",
]

ROLES: dict[str, str] = {
    "sdr": "inside_sales",
    "ae": "field_sales",
    "csm": "customer_success",
    "bdr": "outbound",
}
"""Role names a plan uses, and the scenario team each one joins. AEs of a team of their own
(``field_sales.teams``) are role ``ae.TEAM``: ``ae.enterprise`` joins the enterprise AEs."""

_ROLE = r"[a-zA-Z]+(?:\.[A-Za-z0-9_\-]+)?"
"""How a role is written: ``sdr``, ``ae`` or ``ae.enterprise``."""


def _known_role(role: str) -> bool:
    base, dot, team = role.partition(".")
    return base in ROLES and (not dot or (base == "ae" and bool(team)))


def _unknown_role(role: str) -> str:
    return f"unknown role {role!r}; roles are {', '.join(ROLES)}, or ae.TEAM for an AE team"


ROLE_NAMES = {"sdr": "SDR", "ae": "AE", "csm": "CSM", "bdr": "BDR"}

CONFIRM_OFFSET = 1_000_000
"""Confirmation replications are ``CONFIRM_OFFSET + r``: never used by the search itself."""


class PlanError(InputError):
    """A plan, a plan space or a target that cannot be used."""


def _problem(message: str, where: str, value: Any = None) -> PlanError:
    return PlanError([Problem(message, where, value=value)])


# --------------------------------------------------------------------------- months


def month_of(scenario: Scenario, text: str, where: str = "month") -> int:
    """The simulated month (1 = the first) that a label such as ``2027-04`` or ``2027Q2`` names.

    A quarter names its first month. Raises :class:`PlanError` for a label that is not a
    month or a quarter, or one outside the scenario's horizon.
    """
    label = text.strip().upper()
    quarter = re.fullmatch(r"(\d{4})-?Q([1-4])", label)
    month = re.fullmatch(r"(\d{4})-(\d{1,2})", label)
    if quarter:
        year, number = int(quarter[1]), (int(quarter[2]) - 1) * 3 + 1
    elif month and 1 <= int(month[2]) <= 12:
        year, number = int(month[1]), int(month[2])
    else:
        raise _problem("not a month or quarter; write 2027-04 or 2027Q2", where, text)
    start = scenario.start_date
    index = (year - start.year) * 12 + number - start.month + 1
    if not 1 <= index <= scenario.horizon_months:
        last = add_months(start, scenario.horizon_months - 1)
        raise _problem(
            f"outside the scenario's horizon ({start:%Y-%m} to {last:%Y-%m})", where, text
        )
    return index


def _label(scenario: Scenario, month: int) -> str:
    day = add_months(scenario.start_date, month - 1)
    if day.month % 3 == 1:
        return f"{day.year}Q{(day.month - 1) // 3 + 1}"
    return f"{day:%Y-%m}"


def month_label(scenario: Scenario, month: int) -> str:
    """``YYYY-MM`` of simulated month ``month`` (1 = the first)."""
    return add_months(scenario.start_date, month - 1).strftime("%Y-%m")


def parse_money(text: str, where: str = "--target-arr") -> float:
    """``"20M"``, ``"1.5m"``, ``"800k"``, ``"$2,000,000"`` in dollars."""
    match = re.fullmatch(r"\$?\s*([0-9][0-9,]*(?:\.[0-9]+)?)\s*([kKmMbB]?)", text.strip())
    if not match:
        raise _problem("not an amount; write 20M, 1.5m, 800k or 2000000", where, text)
    scale = {"": 1.0, "k": 1e3, "m": 1e6, "b": 1e9}[match[2].lower()]
    return float(match[1].replace(",", "")) * scale


# --------------------------------------------------------------------------- plans


@dataclass(frozen=True, order=True)
class Hire:
    """``count`` people of ``role`` who start on the first day of simulated ``month``."""

    role: str
    count: int
    month: int


@dataclass(frozen=True, order=True)
class Budget:
    """Channel ``channel`` (bought by budget: ``spend:``) spends ``monthly`` a month from
    the first month on, instead of the scenario's own spend."""

    channel: str
    monthly: float


@dataclass(frozen=True)
class HiringPlan:
    """Hires on top of the scenario's own staffing (at most one wave per role), and the
    monthly budget of channels bought by budget (at most one level per channel)."""

    hires: tuple[Hire, ...] = ()
    budgets: tuple[Budget, ...] = ()

    def __post_init__(self) -> None:
        roles = [h.role for h in self.hires]
        if len(set(roles)) != len(roles):
            raise ValueError("a plan hires each role at most once")
        channels = [b.channel for b in self.budgets]
        if len(set(channels)) != len(channels):
            raise ValueError("a plan sets each channel's budget at most once")
        if any(b.monthly < 0 for b in self.budgets):
            raise ValueError("a budget cannot be negative")
        object.__setattr__(self, "budgets", tuple(sorted(self.budgets)))
        for hire in self.hires:
            if not _known_role(hire.role):
                raise ValueError(_unknown_role(hire.role))
            if hire.count < 1 or hire.month < 1:
                raise ValueError(f"a hire needs a positive count and month (got {hire})")
        object.__setattr__(self, "hires", tuple(sorted(self.hires, key=_role_order)))

    @functools.cached_property
    def key(self) -> str:
        """A stable text key: ``"sdr:4@1,ae:2@4"``, then ``"spend:paid_search=120000"`` for
        each budget (``"none"`` for no hires and no budget)."""
        parts = [f"{h.role}:{h.count}@{h.month}" for h in self.hires]
        parts += [f"spend:{b.channel}={b.monthly:.0f}" for b in self.budgets]
        return ",".join(parts) or "none"

    @property
    def heads(self) -> int:
        """People hired in all."""
        return sum(h.count for h in self.hires)

    def count(self, role: str) -> int:
        """People of ``role`` this plan hires."""
        return next((h.count for h in self.hires if h.role == role), 0)

    def describe(self, scenario: Scenario) -> str:
        """``"4 SDRs in 2027Q1 + 2 AEs in 2027Q2 + paid_search at $120K/mo"``."""
        parts = []
        for h in self.hires:
            base, _, team = h.role.partition(".")
            name = ROLE_NAMES[base] + ("s" if h.count > 1 else "")
            who = f"{team} {name}" if team else name
            parts.append(f"{h.count} {who} in {_label(scenario, h.month)}")
        for b in self.budgets:
            current = _channel_spend(scenario, b.channel)
            if set(current) == {b.monthly}:
                continue  # the scenario's own budget: nothing to say
            parts.append(f"{b.channel} at {_money_short(b.monthly)}/mo")
        return " + ".join(parts) or "no new hires"

    def dominated_by(self, other: HiringPlan) -> bool:
        """True if ``other`` has at least as many people of every role at every month, and
        at least this plan's budget for every channel whose budget this plan sets."""
        for hire in self.hires:
            mine = next((h for h in other.hires if h.role == hire.role), None)
            if mine is None or mine.count < hire.count or mine.month > hire.month:
                return False
        for budget in self.budgets:
            theirs = next((b for b in other.budgets if b.channel == budget.channel), None)
            if theirs is None or theirs.monthly < budget.monthly:
                return False
        return True

    def cost(self, scenario: Scenario, through: int) -> float:
        """What the plan costs from the first month to the end of month ``through``.

        Fully loaded cost per head plus tools per head, for the months each hire is on the
        books (attrition and backfills are the scenario's own and not counted here), plus
        each budget's spend over the scenario's own (negative: a saving).
        """
        tools = scenario.finance.tools_per_head_per_month
        total = 0.0
        for hire in self.hires:
            team = _team(scenario, hire.role)
            months = max(0, through - hire.month + 1)
            total += hire.count * months * (team.cost_per_head_per_year / 12.0 + tools)
        for budget in self.budgets:  # spend over (or under: a saving) the scenario's own
            current = _channel_spend(scenario, budget.channel)
            total += sum(budget.monthly - current[m] for m in range(through))
        return total

    def apply(self, scenario: Scenario) -> Scenario:
        """The scenario with these hires added to its teams' plans (or headcount targets)."""
        if not self.hires and not self.budgets:
            return scenario
        data = scenario.model_dump(by_alias=True)
        for budget in self.budgets:
            _channel_spend(scenario, budget.channel)  # a clear error for a channel without
            data["marketing"]["channels"][budget.channel]["spend"]["monthly"] = budget.monthly
        for hire in self.hires:
            _team(scenario, hire.role)  # a clear error for a team the scenario lacks
            base, _, name = hire.role.partition(".")
            team = data[ROLES[base]]["teams"][name] if name else data[ROLES[base]]
            if team["targets"]:
                _raise_targets(team, hire)
            else:
                _add_to_plan(team, hire)
        try:
            return Scenario.model_validate(data)
        except ValueError as err:
            raise _problem(f"the plan does not fit the scenario: {err}", "plan", self.key) from None

    @classmethod
    def parse(cls, text: str, scenario: Scenario, where: str = "--plan") -> HiringPlan:
        """Read ``"sdr=4@2027Q1, ae=2@2027-04, spend:paid_search=120k"`` (``""`` or
        ``"none"`` for no hires)."""
        if text.strip().lower() in ("", "none"):
            return cls()
        hires = []
        budgets = []
        for item in re.split(r"[,\s]+", text.strip()):
            spend = re.fullmatch(r"spend:([A-Za-z0-9_\-]+)=(\S+)", item)
            if spend:
                _channel_spend(scenario, spend[1], where)
                budgets.append(Budget(spend[1], parse_money(spend[2], where)))
                continue
            match = re.fullmatch(rf"({_ROLE})[=:](\d+)@(\S+)", item)
            if not match:
                raise _problem(
                    "write each hire as ROLE=COUNT@QUARTER, e.g. sdr=4@2027Q1", where, item
                )
            role = _role_name(match[1])
            if not _known_role(role):
                raise _problem(_unknown_role(role), where, match[1])
            hires.append(Hire(role, int(match[2]), month_of(scenario, match[3], where)))
        try:
            plan = cls(tuple(h for h in hires if h.count > 0), tuple(budgets))
        except ValueError as err:
            raise _problem(str(err), where, text) from None
        for hire in plan.hires:
            _team(scenario, hire.role, where)
        return plan


def _role_order(hire: Hire) -> tuple[int, str]:
    return list(ROLES).index(hire.role.partition(".")[0]), hire.role


def _role_name(text: str) -> str:
    """A role as written (``SDR``, ``ae.enterprise``): the role lower case, a team's name
    as the scenario spells it."""
    base, dot, team = text.partition(".")
    return base.lower() + dot + team


def _channel_spend(scenario: Scenario, channel: str, where: str = "--spend") -> list[float]:
    """The scenario's own spend of ``channel``, month by month."""
    ch = scenario.marketing.channels.get(channel)
    if ch is None:
        known = ", ".join(scenario.marketing.channels)
        raise _problem(f"unknown channel; channels are {known}", where, channel)
    if ch.spend is None:
        raise _problem(
            "this channel is bought by the lead, not by budget: give it spend: (monthly, "
            "curve, reference_spend, reference_leads, ...) in the scenario first",
            where,
            channel,
        )
    return [ch.spend.spend_in(m) for m in range(scenario.horizon_months)]


def _money_short(value: float) -> str:
    """``$120K``, ``$1.2M``."""
    if abs(value) >= 1e6:
        return f"${value / 1e6:.3g}M"
    return f"${value / 1e3:.3g}K" if abs(value) >= 1e3 else f"${value:,.0f}"


def _team(scenario: Scenario, role: str, where: str = "plan") -> Any:
    """The staffing that ``role``'s hires join (an AE team's with field sales' values filled
    in); a :class:`PlanError` where the scenario has no such team."""
    base, _, name = role.partition(".")
    team = getattr(scenario, ROLES[base], None)
    if team is None:
        raise _problem(f"the scenario has no {ROLES[base]} team to hire {role}s into", where, role)
    fs = scenario.field_sales
    if name:
        if name not in fs.teams:
            known = ", ".join(f"ae.{t}" for t in fs.teams) or "none"
            raise _problem(f"unknown AE team; the scenario's AE teams are {known}", where, role)
        return fs.team(name)
    if base == "ae" and fs.teams and GENERALISTS not in _working_teams(scenario):
        teams = ", ".join(f"ae.{t}" for t in fs.teams)
        raise _problem(
            f"field sales' own AEs work no segment in this scenario: hire into its AE teams "
            f"({teams})",
            where,
            role,
        )
    return team


def _working_teams(scenario: Scenario) -> set[str]:
    """The AE teams that work some segment's deals (inside sales' own segments left out)."""
    segments = [s for s in scenario.segments if not scenario.inside_sales.for_segment(s).closes]
    return set(scenario.field_sales.team_of(segments))


def _add_to_plan(team: dict[str, Any], hire: Hire) -> None:
    for change in team["plan"]:
        if change["month"] == hire.month:
            net = change["hire"] - change["leave"] + hire.count
            change["hire"], change["leave"] = max(net, 0), max(-net, 0)
            if net == 0:
                team["plan"].remove(change)
            return
    team["plan"].append({"month": hire.month, "hire": hire.count, "leave": 0})


def _raise_targets(team: dict[str, Any], hire: Hire) -> None:
    targets = sorted(team["targets"], key=lambda t: t["month"])
    before = [t for t in targets if t["month"] <= hire.month]
    level = before[-1]["headcount"] if before else team["headcount"]
    if not any(t["month"] == hire.month for t in targets):
        targets.append({"month": hire.month, "headcount": level})
    for target in targets:
        if target["month"] >= hire.month:
            target["headcount"] += hire.count
    team["targets"] = sorted(targets, key=lambda t: t["month"])


# --------------------------------------------------------------------------- the space


@dataclass(frozen=True)
class RoleRange:
    """How many people of ``role`` a plan may hire: ``low``..``high`` in steps of ``step``.

    ``low = 0`` includes not hiring the role at all.
    """

    role: str
    high: int
    low: int = 0
    step: int = 1

    def __post_init__(self) -> None:
        if not _known_role(self.role):
            raise ValueError(_unknown_role(self.role))
        if not 0 <= self.low <= self.high or self.step < 1:
            raise ValueError(f"need 0 <= low <= high and step >= 1 (got {self})")

    @property
    def counts(self) -> list[int]:
        """The head counts allowed."""
        return list(range(self.low, self.high + 1, self.step))

    @classmethod
    def parse(cls, text: str, where: str = "--hire") -> RoleRange:
        """Read ``sdr=0..6``, ``ae=2..4``, ``csm=0..4:2`` (step 2) or ``sdr=3`` (0..3)."""
        match = re.fullmatch(rf"\s*({_ROLE})\s*=\s*(?:(\d+)\.\.)?(\d+)(?::(\d+))?\s*", text)
        if not match:
            raise _problem("write ROLE=LOW..HIGH[:STEP], e.g. sdr=0..6 or ae=0..4:2", where, text)
        role = _role_name(match[1])
        if not _known_role(role):
            raise _problem(_unknown_role(role), where, match[1])
        low, high, step = int(match[2] or 0), int(match[3]), int(match[4] or 1)
        try:
            return cls(role, high, low, step)
        except ValueError as err:
            raise _problem(str(err), where, text) from None


@dataclass(frozen=True)
class SpendRange:
    """The monthly budgets a plan may give ``channel``: ``low``..``high`` in steps of ``step``
    (the channel must be bought by budget in the scenario)."""

    channel: str
    low: float
    high: float
    step: float

    def __post_init__(self) -> None:
        if not 0 <= self.low <= self.high or self.step <= 0:
            raise ValueError(f"need 0 <= low <= high and a positive step (got {self})")
        if (self.high - self.low) / self.step > 100:
            raise ValueError(f"at most 100 budget steps per channel (got {self})")

    @property
    def levels(self) -> list[float]:
        """The monthly budgets allowed."""
        n = math.floor((self.high - self.low) / self.step + 1e-9)
        return [self.low + k * self.step for k in range(n + 1)]

    @classmethod
    def parse(cls, text: str, where: str = "--spend") -> SpendRange:
        """Read ``paid_search=40k..160k:40k`` or ``paid_search=120k`` (that budget only)."""
        name, sep, rest = text.partition("=")
        if not sep or not name.strip() or not rest.strip():
            raise _problem(
                "write CHANNEL=LOW..HIGH[:STEP] in money, e.g. paid_search=40k..160k:40k",
                where,
                text,
            )
        body, colon, step_text = rest.partition(":")
        low_text, dots, high_text = body.partition("..")
        low = parse_money(low_text, where)
        high = parse_money(high_text, where) if dots else low
        step = parse_money(step_text, where) if colon else (high - low if high > low else 1.0)
        try:
            return cls(name.strip(), low, high, step)
        except ValueError as err:
            raise _problem(str(err), where, text) from None


@dataclass(frozen=True)
class PlanSpace:
    """The plans a search may choose from.

    Parameters
    ----------
    roles
        One :class:`RoleRange` per role that may be hired.
    months
        Simulated months (1 = the first) in which a wave of hires may start; see
        :func:`month_of` to turn ``"2027Q2"`` into a month.
    budget
        Most the plan may cost up to the target month (``None``: no limit).
    spends
        One :class:`SpendRange` per channel bought by budget whose budget the search may set
        (from the first month on); its cost is the spend over the scenario's own.
    """

    roles: tuple[RoleRange, ...]
    months: tuple[int, ...]
    budget: float | None = None
    spends: tuple[SpendRange, ...] = ()

    def __post_init__(self) -> None:
        if not self.roles and not self.spends:
            raise ValueError("a plan space needs at least one role or channel budget")
        if len({r.role for r in self.roles}) != len(self.roles):
            raise ValueError("each role may appear once in a plan space")
        if len({r.channel for r in self.spends}) != len(self.spends):
            raise ValueError("each channel may appear once in a plan space")
        if not self.months or min(self.months) < 1:
            raise ValueError("a plan space needs hiring months (1 = the first)")
        if self.budget is not None and self.budget < 0:
            raise ValueError(f"the budget cannot be negative (got {self.budget})")

    def plans(self) -> list[HiringPlan]:
        """Every plan in the space (before the budget)."""
        options: list[list[Hire | None]] = []
        for rng in self.roles:
            role_options: list[Hire | None] = []
            for count in rng.counts:
                if count == 0:
                    role_options.append(None)
                else:
                    role_options.extend(Hire(rng.role, count, m) for m in sorted(set(self.months)))
            options.append(role_options)
        levels = [[Budget(r.channel, x) for x in r.levels] for r in self.spends]
        return [
            HiringPlan(tuple(h for h in combo if h is not None), tuple(spend))
            for combo in itertools.product(*options)
            for spend in itertools.product(*levels)
        ]

    @classmethod
    def default(cls, scenario: Scenario, through: int, budget: float | None = None) -> PlanSpace:
        """0, 2, 4 or 6 SDRs, 0, 2 or 4 AEs and 0 or 2 CSMs (of the teams the scenario has),
        each wave starting in the first quarter or two quarters later: 105 plans.

        Hires in the last six months before the target month rarely pay off by then, so
        waves start at least six months before it where the horizon allows.
        """
        starts = [m for m in _quarter_starts(scenario) if m <= through - 6]
        months = tuple(starts[:3:2]) or (1,)
        roles = [RoleRange("sdr", 6, step=2)]
        working = _working_teams(scenario)
        if not scenario.field_sales.teams:
            roles.append(RoleRange("ae", 4, step=2))
        else:  # AE teams of their own: 0 or 2 more AEs in each team that works deals
            roles += [
                RoleRange("ae" if team == GENERALISTS else f"ae.{team}", 2, step=2)
                for team in (GENERALISTS, *scenario.field_sales.teams)
                if team in working
            ]
        roles.append(RoleRange("csm", 2, step=2))
        return cls(tuple(roles), months, budget)

    @classmethod
    def parse(
        cls,
        scenario: Scenario,
        by: str,
        hires: Sequence[str] = (),
        quarters: str | None = None,
        budget: str | None = None,
        spends: Sequence[str] = (),
    ) -> PlanSpace:
        """The space ``revloop plan`` reads from ``--hire``, ``--quarters``, ``--budget`` and
        ``--spend`` (each left out: :meth:`default`'s, no budgets); raises
        :class:`PlanError` for bad text."""
        through = month_of(scenario, by, "--by")
        default = cls.default(scenario, through)
        roles = tuple(RoleRange.parse(h) for h in hires) or default.roles
        months = default.months if quarters is None else parse_months(scenario, quarters)
        money = None if budget is None else parse_money(budget, "--budget")
        ranges = tuple(SpendRange.parse(x) for x in spends)
        for rng in ranges:
            _channel_spend(scenario, rng.channel)
        try:
            return cls(roles, months, money, ranges)
        except ValueError as error:
            raise PlanError([Problem(str(error), "--hire")]) from None


def _quarter_starts(scenario: Scenario) -> list[int]:
    first = (3 - (scenario.start_date.month - 1) % 3) % 3 + 1
    return list(range(first, scenario.horizon_months + 1, 3))


# --------------------------------------------------------------------------- estimates


@dataclass(frozen=True)
class Estimate:
    """A probability estimated from ``successes`` of ``n`` replications, with its exact
    (Clopper-Pearson) confidence interval at ``level``."""

    successes: int
    n: int
    low: float
    high: float
    level: float

    @property
    def p(self) -> float:
        """The share of replications that reached the target."""
        return self.successes / self.n if self.n else math.nan


def estimate(successes: int, n: int, level: float = 0.95) -> Estimate:
    """Clopper-Pearson interval for a binomial proportion (``[0, 1]`` when ``n == 0``)."""
    if n == 0:
        return Estimate(0, 0, 0.0, 1.0, level)
    alpha = 1.0 - level
    k = successes
    low = 0.0 if k == 0 else float(stats.beta.ppf(alpha / 2, k, n - k + 1))
    high = (
        1.0
        if successes == n
        else float(stats.beta.ppf(1 - alpha / 2, successes + 1, n - successes))
    )
    return Estimate(successes, n, low, high, level)


def quantile_ci(
    values: Sequence[float] | np.ndarray[Any, Any], q: float, level: float = 0.95
) -> tuple[float, float, float]:
    """The ``q`` quantile of a sample and a distribution-free CI from order statistics.

    Returns ``(estimate, low, high)``; a bound the sample is too small to give is
    ``-inf``/``inf``.
    """
    x = np.sort(np.asarray(values, dtype=float))
    n = len(x)
    if n == 0:
        return math.nan, -math.inf, math.inf
    point = float(np.quantile(x, q, method="inverted_cdf"))
    alpha = 1.0 - level
    # P(X(l) <= x_q <= X(u)) >= level with l, u 1-based ranks from Binomial(n, q)
    lo_rank = int(stats.binom.ppf(alpha / 2, n, q))
    hi_rank = int(stats.binom.ppf(1 - alpha / 2, n, q)) + 1
    low = float(x[lo_rank - 1]) if lo_rank >= 1 else -math.inf
    high = float(x[hi_rank - 1]) if hi_rank <= n else math.inf
    return point, low, high


# --------------------------------------------------------------------------- running


def _arr_at(scenario: Scenario, seed: int, replication: int, month: int) -> float:
    """ARR at the end of simulated ``month`` in replication ``replication`` (a task)."""
    ledger = simulate(scenario, replication_seed(seed, replication))
    return float(ledger.stocks["arr"][month - 1])


def cut_at(scenario: Scenario, month: int) -> Scenario:
    """The scenario cut at ``month``, when it still validates that way (nothing after the
    target month is simulated). Every plan of a search is run on the same cut scenario."""
    if month >= scenario.horizon_months:
        return scenario
    data = scenario.model_dump(by_alias=True)
    data["horizon_months"] = month
    try:
        return Scenario.model_validate(data)
    except ValueError:
        return scenario


ARR_SOURCES = ("engine", "scenario", "experiment/plan.py")
"""The package sources that turn a (plan, replication) into its ARR: a plan store records
their fingerprint (:func:`sim.experiment.store.code_fingerprint`), and values stored by
other code are not reused."""


class _Store:
    """Simulated ARR by (plan, replication) in DuckDB, or in memory when no path is given.

    The key of a stored value is (scenario, month, seed) -- the ``digest``; another digest
    is refused -- and the fingerprint of :data:`ARR_SOURCES`: values stored by other code are
    dropped, to be simulated again.
    """

    def __init__(self, path: str | os.PathLike[str] | None, digest: str) -> None:
        self.values: dict[tuple[str, int], float] = {}
        self._db: duckdb.DuckDBPyConnection | None = None
        if path is None:
            return
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = duckdb.connect(str(path))
        except duckdb.Error as err:
            raise _problem(f"cannot open the plan store: {err}", "store", str(path)) from None
        db = self._db
        db.execute("CREATE TABLE IF NOT EXISTS meta (digest VARCHAR, created VARCHAR)")
        db.execute("ALTER TABLE meta ADD COLUMN IF NOT EXISTS code VARCHAR")  # older stores
        db.execute(
            "CREATE TABLE IF NOT EXISTS arr (plan VARCHAR, replication BIGINT, value DOUBLE)"
        )
        code = code_fingerprint(*ARR_SOURCES)
        row = db.execute("SELECT digest, code FROM meta").fetchone()
        if row is None:
            now = dt.datetime.now().isoformat()
            db.execute("INSERT INTO meta VALUES (?, ?, ?)", [digest, now, code])
        elif row[0] != digest:
            db.close()
            raise _problem(
                "this store holds a search of another scenario, month or seed; use another store",
                "store",
                str(path),
            )
        elif row[1] != code:
            db.execute("DELETE FROM arr")  # stored by other code: simulate again
            db.execute("UPDATE meta SET code = ?", [code])
        for plan, rep, value in db.execute("SELECT plan, replication, value FROM arr").fetchall():
            self.values[(plan, int(rep))] = float(value)

    def add(self, rows: list[tuple[str, int, float]]) -> None:
        for plan, rep, value in rows:
            self.values[(plan, rep)] = value
        if self._db is not None and rows:
            self._db.executemany("INSERT INTO arr VALUES (?, ?, ?)", rows)

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


def _digest(scenario: Scenario, month: int, seed: int) -> str:
    text = json.dumps(
        [scenario.model_dump(mode="json", by_alias=True), month, seed], sort_keys=True
    )
    return hashlib.sha256(text.encode()).hexdigest()


class _Simulator:
    """Runs the (plan, replication) pairs not yet stored, on the executor, and stores them.

    ``scenario`` is the one every plan is added to, already cut at the target month.
    """

    def __init__(
        self,
        scenario: Scenario,
        month: int,
        seed: int,
        executor: Any,
        store: _Store,
        progress: Progress | None,
    ) -> None:
        self.base = scenario  # already cut at the target month
        self.month, self.seed = month, seed
        self.executor, self.store, self.progress = executor, store, progress
        self.scenarios: dict[str, Scenario] = {}
        self.simulations = 0  # run by this search (not found in the store)
        self.planned = 0
        self._initial = set(store.values)
        self.reused: set[tuple[str, int]] = set()

    def scenario(self, plan: HiringPlan) -> Scenario:
        if plan.key not in self.scenarios:
            self.scenarios[plan.key] = plan.apply(self.base)
        return self.scenarios[plan.key]

    @property
    def slots(self) -> int:
        """Simulations the executor runs at once."""
        return int(self.executor.slots)

    def missing(self, plan: HiringPlan, replications: Iterable[int]) -> int:
        """How many of these replications of ``plan`` are neither stored nor run yet."""
        key = plan.key
        return sum((key, r) not in self.store.values for r in replications)

    def arr(self, plan: HiringPlan, replications: Iterable[int]) -> np.ndarray[Any, Any]:
        reps = list(replications)
        return np.array([self.store.values[(plan.key, r)] for r in reps])

    def ensure(self, wanted: list[tuple[HiringPlan, range]]) -> None:
        """Simulate every (plan, replication) in ``wanted`` that is not stored yet."""
        pairs = [(plan, r) for plan, reps in wanted for r in reps]
        self.reused.update((p.key, r) for p, r in pairs if (p.key, r) in self._initial)
        todo = [(p, r) for p, r in pairs if (p.key, r) not in self.store.values]
        if not todo:
            return
        tasks = [(self.scenario(plan), self.seed, r, self.month) for plan, r in todo]
        # a search sets ``planned`` to its own bound; never report fewer than are queued
        self.planned = max(self.planned, self.simulations + len(tasks))
        rows: list[tuple[str, int, float]] = []
        try:
            for index, value in self.executor.imap_unordered(_arr_at, tasks):
                plan, r = todo[index]
                rows.append((plan.key, r, value))
                self.simulations += 1
                if len(rows) >= 8:
                    self.store.add(rows)
                    rows = []
                if self.progress:
                    self.progress(self.simulations, self.planned)
        finally:
            self.store.add(rows)


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
                f"{b.confirm.p:.1%} ({b.confirm.level:.0%} CI {b.confirm.low:.1%} to "
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
            out.append(
                f"{len(undecided)} {which} meet it, but their CIs straddle "
                f"{self.confidence:.0%}: more replications (--max-reps) would settle them."
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
    _check_numbers(target_arr, confidence, first_reps, max_reps, confirm_reps, level, seed)
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
                _race(search, sim, ladder, confirm_reps, prune, max_simulations)
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
    "confirm_reps": "--confirm-reps",
    "level": "--level",
    "seed": "--seed",
    "replications": "--reps",
    "space.roles": "--hire",
    "space.months": "--quarters",
    "store": "--out",
}
"""The ``revloop plan`` option of each parameter a :class:`PlanError` of the library names
(the command shows the option; see :func:`sim.commandline.guard`)."""


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


def target_month(scenario: Scenario, by: str | int) -> int:
    """The simulated month ``by`` names (a label such as ``2028-12``, or a month number);
    raises :class:`PlanError` outside the horizon."""
    if isinstance(by, int):
        if not 1 <= by <= scenario.horizon_months:
            raise _problem(f"must be 1..{scenario.horizon_months}", "by", by)
        return by
    return month_of(scenario, by, "by")


def _check_numbers(
    target: float, confidence: float, first: int, most: int, confirm: int, level: float, seed: int
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
    if problems:
        raise PlanError(problems)


def _ladder(first: int, most: int) -> list[int]:
    steps = [first]
    while steps[-1] < most:
        steps.append(min(most, steps[-1] * 2))
    return steps


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
) -> None:
    """The search loop: run the plans that settle the most others (:func:`_probes`), double
    the replications of undecided ones, rule out by dominance, confirm the cheapest plan
    that meets on fresh seeds."""
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
        fresh = range(CONFIRM_OFFSET, CONFIRM_OFFSET + confirm_reps)
        sim.ensure([(best.plan, fresh)])
        values = sim.arr(best.plan, fresh)
        best.confirm_arr = values
        best.confirm = estimate(int(np.sum(values >= target)), confirm_reps, search.level)
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


# --------------------------------------------------------------------------- the inverse


@dataclass
class ArrAtConfidence:
    """ARR reached by the target month with the given odds, for one plan.

    ``arr`` is the ``1 - confidence`` quantile of the simulated ARR (so the ARR is at least
    this much in ``confidence`` of futures), ``low``/``high`` its distribution-free 95% CI;
    ``target_probability`` the share of replications at or above ``target_arr`` (if given).
    """

    plan: HiringPlan
    label: str
    month_label: str
    confidence: float
    arr: float
    low: float
    high: float
    replications: int
    samples: np.ndarray[Any, Any]
    cost: float
    target_arr: float | None = None
    target_probability: Estimate | None = None

    def sentences(self) -> list[str]:
        """The answer in words."""
        out = [
            f"With {self.label}: ARR at {self.confidence:.0%} confidence by "
            f"{self.month_label} is ${self.arr / 1e6:,.2f}M (95% CI "
            f"{_m(self.low)} to {_m(self.high)}, {self.replications} replications); "
            f"median ${float(np.median(self.samples)) / 1e6:,.2f}M. "
            + ("The plan costs " if self.plan.budgets else "The hires cost ")
            + f"${self.cost / 1e6:,.2f}M up to then"
            + (" (hires, and spend over the scenario's own)." if self.plan.budgets else ".")
        ]
        if self.target_probability is not None and self.target_arr is not None:
            p = self.target_probability
            out.append(
                f"P(ARR >= ${self.target_arr / 1e6:,.2f}M) = {p.p:.1%} "
                f"(95% CI {p.low:.1%} to {p.high:.1%})."
            )
        if not math.isfinite(self.low) or not math.isfinite(self.high):
            out.append("Too few replications for both CI bounds: run more.")
        return out


def _m(value: float) -> str:
    return f"${value / 1e6:,.2f}M" if math.isfinite(value) else "unbounded"


def arr_at_confidence(
    scenario: Scenario,
    plan: HiringPlan | str | None = None,
    by: str | int | None = None,
    confidence: float = 0.8,
    replications: int = 100,
    seed: int = 0,
    target_arr: float | None = None,
    executor: ExecutorLike = None,
    workers: int | None = None,
    progress: Progress | None = None,
) -> ArrAtConfidence:
    """ARR reached by ``by`` in ``confidence`` of futures, with this hiring plan.

    Parameters
    ----------
    scenario
        The validated scenario.
    plan
        A :class:`HiringPlan`, its text form (``"sdr=4@2027Q1, ae=2@2027Q2"``) or ``None``
        (the scenario as it is).
    by
        Target month label or simulated month; default the horizon's last month.
    confidence
        The odds (0.8: the ARR reached or beaten in 80% of replications).
    replications, seed
        Replication ``r`` uses ``(seed, r)``, as in the search (common random numbers).
    target_arr
        Also estimate the probability of reaching this ARR.
    """
    month = scenario.horizon_months if by is None else target_month(scenario, by)
    if not 0 < confidence < 1:
        raise _problem("must be between 0 and 1 (0.8 = 80%)", "confidence", confidence)
    if replications < 2:
        raise _problem("must be at least 2", "replications", replications)
    if isinstance(plan, str):
        plan = HiringPlan.parse(plan, scenario)
    plan = plan or HiringPlan()
    db = _Store(None, "")
    with make_executor(executor, workers) as pool:
        sim = _Simulator(cut_at(scenario, month), month, seed, pool, db, progress)
        sim.ensure([(plan, range(replications))])
    values = sim.arr(plan, range(replications))
    point, low, high = quantile_ci(values, 1.0 - confidence)
    result = ArrAtConfidence(
        plan=plan,
        label=plan.describe(scenario),
        month_label=month_label(scenario, month),
        confidence=confidence,
        arr=point,
        low=low,
        high=high,
        replications=replications,
        samples=values,
        cost=plan.cost(scenario, month),
    )
    if target_arr is not None:
        result.target_arr = target_arr
        result.target_probability = estimate(int(np.sum(values >= target_arr)), replications)
    return result


def parse_months(scenario: Scenario, text: str, where: str = "--quarters") -> tuple[int, ...]:
    """``"2027Q1..2027Q4"`` (every quarter between) or ``"2027Q1,2027Q3,2027-08"``."""
    if ".." in text:
        first, last = (month_of(scenario, part, where) for part in text.split("..", 1))
        if last < first:
            raise _problem("the range runs backwards", where, text)
        starts = [m for m in _quarter_starts(scenario) if first <= m <= last]
        return tuple(starts or [first])
    return tuple(
        sorted({month_of(scenario, part, where) for part in text.split(",") if part.strip()})
    )

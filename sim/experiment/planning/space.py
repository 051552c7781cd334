"""Hiring plans and the space a search covers: roles, months, parsing and costs.

A *hiring plan* adds people to the teams of a scenario: for each role (SDRs, AEs, CSMs, BDRs)
a number of hires who start on the first day of one quarter. A *plan space* is the set of
plans within the bounds a user gives (0..6 SDRs, hired in 2027Q1..2027Q4, ...) and a budget.
"""

from __future__ import annotations

import functools
import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sim.errors import InputError, Problem
from sim.scenario.schema import GENERALISTS, Scenario, add_months

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


def target_month(scenario: Scenario, by: str | int) -> int:
    """The simulated month ``by`` names (a label such as ``2028-12``, or a month number);
    raises :class:`PlanError` outside the horizon."""
    if isinstance(by, int):
        if not 1 <= by <= scenario.horizon_months:
            raise _problem(f"must be 1..{scenario.horizon_months}", "by", by)
        return by
    return month_of(scenario, by, "by")


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

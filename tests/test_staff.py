"""Staffing: plans, targets, ramp and coaching arithmetic, attrition, leavers' work."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from sim import ScenarioError, load_scenario, simulate
from sim.engine.calendar import month_starts
from sim.engine.staff import DAYS_PER_MONTH
from sim.engine.streams import replication_seed
from tests.helpers import BASE as BASE_PATH
from tests.helpers import SCENARIOS, small

QUIET = SCENARIOS / "validation" / "renewals.yaml"  # a book of customers and no leads


def test_ramp_and_coaching_arithmetic_follows_the_plan() -> None:
    ramp, coaching = [0.25, 0.5, 0.75, 1.0], [0.5, 0.25]
    sets = [
        "inside_sales.headcount=10",
        "inside_sales.plan=[{month: 6, hire: 4}]",
        f"inside_sales.ramp={ramp}",
        f"inside_sales.coaching_load={coaching}",
    ]
    sc = load_scenario(QUIET, sets)
    ledger = simulate(sc, 1)
    fte = ledger.staff["inside_sales"]["effective_days"] / ledger.month_days
    starts = month_starts(sc.start_date, sc.horizon_months)
    hired = starts[5]
    expected = []
    for m in range(sc.horizon_months):
        lo, hi = starts[m], starts[m + 1]
        extra = 0.0  # four hires' ramp minus their coaching load, by month of tenure
        for k in range(12):
            a, b = max(lo, hired + k * DAYS_PER_MONTH), min(hi, hired + (k + 1) * DAYS_PER_MONTH)
            if b > a:
                r = ramp[min(k, len(ramp) - 1)]
                c = coaching[k] if k < len(coaching) else 0.0
                extra += 4 * (r - c) * (b - a)
        extra += 4 * max(0.0, hi - max(lo, hired + 12 * DAYS_PER_MONTH))
        expected.append(10 + extra / (hi - lo))
    np.testing.assert_allclose(fte, expected, rtol=1e-9)
    # the hiring curve: capacity dips in the month of the hire, then rises past the old level
    assert fte[5] < fte[4] == pytest.approx(10)
    assert fte[9] == pytest.approx(14)
    headcount = ledger.staff["inside_sales"]["headcount"]
    assert headcount[4] == 10
    assert headcount[5] == 14
    assert ledger.staff["inside_sales"]["hires"].sum() == 4


def test_hiring_sdrs_dips_then_lifts_capacity_in_the_bundled_variant() -> None:
    sc = load_scenario(SCENARIOS / "hire_sdrs.yaml", ["inside_sales.attrition_per_year=0"])
    ledger = simulate(sc, 3)
    fte = ledger.staff["inside_sales"]["effective_days"] / ledger.month_days
    assert fte[5] < fte[4] < fte[8]


def test_attrition_matches_the_configured_rate() -> None:
    rate, heads = 0.3, 100
    sets = [
        f"inside_sales.headcount={heads}",
        f"inside_sales.attrition_per_year={rate}",
        "inside_sales.hiring_lead_days=60",
        "horizon_months=60",
    ]
    sc = load_scenario(QUIET, sets)
    leavers = head_years = 0.0
    vacancy_fte = []
    for r in range(4):
        ledger = simulate(sc, replication_seed(11, r))
        staff = ledger.staff["inside_sales"]
        leavers += staff["attrition"].sum()
        head_years += staff["person_days"].sum() / 365.25
        vacancy_fte.append(staff["vacancy_days"][3:].sum() / ledger.month_days[3:].sum())
    # leavers are Poisson given the exposure: exact 99.9% interval for the rate
    low = stats.chi2.ppf(0.0005, 2 * leavers) / 2 / head_years
    high = stats.chi2.ppf(0.9995, 2 * leavers + 2) / 2 / head_years
    assert low <= rate <= high, (
        f"observed {leavers / head_years:.3f}, interval {low:.3f}-{high:.3f}"
    )
    # Little's law on requisitions: vacancies = leaving rate x hiring lead time, where the
    # leaving rate is the hazard times the people actually on the team (heads - vacancies)
    hazard_x_lead = rate / 365.25 * 60
    expected = heads * hazard_x_lead / (1 + hazard_x_lead)
    x = np.asarray(vacancy_fte)
    half = stats.t.ppf(0.9995, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x))
    assert abs(x.mean() - expected) <= half, f"vacancies {x.mean():.2f} vs {expected:.2f}"


def test_targets_are_reached_after_the_hiring_lead_time() -> None:
    sets = [
        "inside_sales.headcount=10",
        "inside_sales.targets=[{month: 3, headcount: 15}, {month: 8, headcount: 12}]",
        "inside_sales.hiring_lead_days=45",
        "horizon_months=10",
    ]
    ledger = simulate(load_scenario(QUIET, sets), 2)
    headcount = ledger.staff["inside_sales"]["headcount"]
    assert headcount[:3].tolist() == [10, 10, 10]  # requisitions opened on 1 March
    assert headcount[3:7].tolist() == [15, 15, 15, 15]  # filled mid-April
    assert headcount[7:].tolist() == [12, 12, 12]  # three let go on 1 August


def test_a_leaving_ae_loses_some_deals_and_hands_over_the_rest() -> None:
    lost_all = small(months=4, sets=[
        "field_sales.plan=[{month: 2, leave: 4}]",
        "field_sales.leaver_lost_share=1.0",
        "field_sales.attrition_per_year=0",
    ])  # fmt: skip
    ledger = simulate(lost_all, 5)
    losses = ledger.flows["leaver_losses"]
    assert losses[0] == 0
    assert losses[1] > 0
    assert losses[2:].sum() == 0
    handed = small(months=4, sets=[
        "field_sales.plan=[{month: 2, leave: 4}]",
        "field_sales.leaver_lost_share=0.0",
        "field_sales.attrition_per_year=0",
    ])  # fmt: skip
    assert simulate(handed, 5).flows["leaver_losses"].sum() == 0


def test_a_leaving_csm_leaves_customers_uncovered() -> None:
    sets = ["customer_success.plan=[{month: 3, leave: 10}]", "customer_success.headcount=20"]
    ledger = simulate(load_scenario(QUIET, sets), 4)
    queue = ledger.stocks["cs_queue_length"]
    assert queue[1] == 0
    assert queue[2] > 0


def test_costs_follow_heads_and_days() -> None:
    sets = [
        "inside_sales.headcount=10",
        "inside_sales.cost_per_head_per_year=120000",
        "finance.tools_per_head_per_month=100",
        "inside_sales.attrition_per_year=0",
    ]
    ledger = simulate(load_scenario(QUIET, sets), 1)
    cost = ledger.staff["inside_sales"]["cost"]
    np.testing.assert_allclose(cost, 10 * (120000 + 1200) / 365.25 * ledger.month_days)


@pytest.mark.parametrize(
    ("sets", "path", "words"),
    [
        (["inside_sales.plan=[{month: 2, leave: 11}]"], "inside_sales.plan", "negative"),
        (["inside_sales.ramp=[0.5, 1.2]"], "inside_sales.ramp.1", "less than or equal to 1"),
        (["inside_sales.ramp=[-0.1, 1]"], "inside_sales.ramp.0", "greater than or equal to 0"),
        (
            ["inside_sales.holidays.dates=[2031-01-01]"],
            "inside_sales.holidays.dates.0",
            "outside the horizon",
        ),
        (
            ["inside_sales.plan=[{month: 2, hire: 1}, {month: 2, leave: 1}]"],
            "inside_sales.plan",
            "overlapping plans",
        ),
        (
            [
                "inside_sales.plan=[{month: 2, hire: 1}]",
                "inside_sales.targets=[{month: 3, headcount: 12}]",
            ],
            "inside_sales.plan",
            "overlapping plans",
        ),
        (["inside_sales.holidays.country=XX"], "inside_sales.holidays.country", "unknown country"),
        (["inside_sales.plan=[{month: 2}]"], "inside_sales.plan.0", "either hire or leave"),
    ],
)
def test_bad_plans_are_caught_when_loading(sets: list[str], path: str, words: str) -> None:
    with pytest.raises(ScenarioError) as err:
        load_scenario(SCENARIOS / "base.yaml", sets)
    problem = err.value.problems[0]
    assert problem.path == path, str(problem)
    assert words in problem.message, str(problem)
    assert problem.file == "--set"


def test_plans_past_the_horizon_are_listed_and_not_simulated() -> None:
    """A hiring plan may outlive a forecast cut from it: those months are said, not run."""
    from sim.scenario.summary import summarize

    short = load_scenario(
        SCENARIOS / "base.yaml",
        ["horizon_months=3", "field_sales.plan=[{month: 2, hire: 1}, {month: 40, hire: 5}]"],
    )
    assert any("planned months 40" in line for line in summarize(short))
    plain = load_scenario(
        SCENARIOS / "base.yaml",
        ["horizon_months=3", "field_sales.plan=[{month: 2, hire: 1}]"],
    )
    a, b = simulate(short, 3), simulate(plain, 3)
    np.testing.assert_array_equal(
        a.staff["field_sales"]["headcount"], b.staff["field_sales"]["headcount"]
    )


def test_a_month_without_capacity_has_no_utilisation_rather_than_an_infinite_one() -> None:
    """Work done in a month with no capacity (the last rep leaving mid-touch, a team of
    new hires all in bootcamp) gives that month no utilisation, not an infinite one."""
    from sim.analysis.metrics import kpis, monthly

    ledger = simulate(load_scenario(SCENARIOS / "base.yaml", ["horizon_months=3"]), 5)
    assert ledger.flows["is_work_hours"][1] > 0
    ledger.capacity["inside_sales_hours"][1] = 0.0  # as when every SDR is gone
    util = monthly(ledger)["is_utilisation"]
    assert np.isnan(util[1])
    assert np.isfinite(util[[0, 2]]).all()
    assert np.isfinite(kpis(ledger)["is_utilisation"])


@pytest.mark.parametrize("spread", [0.0, 0.4])
def test_the_person_with_most_room_is_the_one_a_full_scan_finds(spread: float) -> None:
    """``Roster.with_room`` keeps an index (a heap of the people past their ramp, the ones
    still ramping looked at one by one); through hires, leavers, ramp steps and loads going
    up and down, it picks exactly whom a scan of the whole team by room per unit of talent
    picks (ties, up to rounding: the longest-serving), and nobody when nobody has room for
    one more."""
    import simpy

    from sim.engine.core import Context
    from sim.engine.leads import Leads
    from sim.engine.staff import Roster
    from sim.engine.streams import Streams

    cfg = load_scenario(
        BASE_PATH,
        [
            f"field_sales.productivity_spread={spread}",
            "field_sales.ramp=[0.2, 0.5, 0.8, 1.0]",
            "field_sales.attrition_per_year=0",
        ],
    ).field_sales
    env = simpy.Environment()
    ctx = Context(env, Leads(), [], Streams(7), [0.0])
    roster = Roster(ctx, "field_sales", cfg, lambda p: None, lambda p: None)
    for i in range(12):
        roster._join(roster._seat(0, i), -1e9)
    rng = np.random.default_rng(11)
    per_head = 6.0

    def scan() -> object:
        if not roster.active:
            return None
        most = max(roster.room(p, per_head) / p.talent for p in roster.active)
        best = next(p for p in roster.active if roster.room(p, per_head) / p.talent > most - 1e-9)
        return best if roster.room(best, per_head) >= 1.0 - 1e-9 else None

    picks = set()
    for step in range(3000):
        env.run(until=env.now + rng.exponential(1.5))
        action = rng.random()
        if action < 0.02:
            roster._join(roster._seat(1 + step, 0))
        elif action < 0.035 and len(roster.active) > 1:
            roster._leave(roster.active[rng.integers(len(roster.active))], attrition=True)
        elif action < 0.5:
            person = roster.with_room(per_head)
            assert person is scan()
            if person is not None:
                picks.add(person.index)
                roster.carry(person, 1)
        else:
            loaded = [p for p in roster.active if p.load > 0]
            if loaded:
                roster.carry(loaded[rng.integers(len(loaded))], -1)
    assert len(picks) > 15  # hires and leavers took part, not only the first dozen

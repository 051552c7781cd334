"""Channels bought by budget: monthly spend and a response curve with diminishing returns."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import optimize

import sim
from sim.analysis.motion import channel_table
from sim.scenario.loader import ScenarioError
from tests.helpers import BASE, SCENARIOS

BUDGET = SCENARIOS / "budget.yaml"
PAID = "marketing.channels.paid_search"
FLAT = [f"{PAID}.growth_per_month=0", "horizon_months=6"]


def _saturating(max_leads: float, reference: float = 450.0) -> list[str]:
    return [
        f"{PAID}.spend={{monthly: 81000, curve: saturating, reference_spend: 81000, "
        f"reference_leads: {reference}, max_leads: {max_leads}}}"
    ]


def _paid_leads(sets: list[str], spend: float, seeds: range) -> np.ndarray:
    """Paid-search leads per month at ``spend``, every month of every seed."""
    sc = sim.load_scenario(BUDGET, [*FLAT, *sets, f"{PAID}.spend.monthly={spend}"])
    paid = list(sc.marketing.channels).index("paid_search")
    counts = []
    for seed in seeds:
        ledger = sim.simulate(sc, seed)
        created = ledger.leads["created_at"][ledger.leads["channel"] == paid]
        starts = np.concatenate([[0.0], np.cumsum(ledger.month_days)])
        counts.append(np.histogram(created, bins=starts)[0])
    return np.concatenate(counts).astype(float)


def test_the_curves_pass_through_the_reference_point_with_diminishing_returns() -> None:
    power = sim.load_scenario(BUDGET).marketing.channels["paid_search"].spend
    assert power is not None
    assert power.leads(81_000) == pytest.approx(450)
    assert power.leads(162_000) == pytest.approx(450 * 2**0.7)
    assert power.leads(0) == 0
    sat = sim.load_scenario(BUDGET, _saturating(1200)).marketing.channels["paid_search"].spend
    assert sat is not None
    assert sat.leads(81_000) == pytest.approx(450)
    assert sat.leads(1e9) == pytest.approx(1200)
    spends = np.linspace(10_000, 400_000, 40)
    for curve in (power, sat):
        leads = np.array([curve.leads(s) for s in spends])
        assert (np.diff(leads) > 0).all()
        assert (np.diff(leads / spends) < 0).all()  # each lead costs more as spend grows


def test_a_channel_bought_by_budget_costs_its_spend() -> None:
    ledger = sim.simulate(sim.load_scenario(BUDGET, ["horizon_months=6"]), seed=3)
    base = sim.simulate(sim.load_scenario(BASE, ["horizon_months=6"]), seed=3)
    # at its reference spend the channel brings the base's first-month volume
    assert np.array_equal(ledger.leads["created_at"][:1000], base.leads["created_at"][:1000])
    paid = channel_table(ledger).loc["paid_search"]
    assert paid["cost"] == pytest.approx(6 * 81_000)
    assert paid["cost_per_lead"] == 0
    assert paid["roi"] == pytest.approx((paid["new_arr"] - paid["cost"]) / paid["cost"])
    others = channel_table(base).drop(index="paid_search")["cost"].sum()
    assert ledger.flows["marketing_cost"].sum() == pytest.approx(others + 6 * 81_000)


def test_spend_response_is_the_declared_power_curve() -> None:
    # simulated leads at five budgets fitted back: the exponent is the declared 0.7
    spends = np.array([20_000, 50_000, 81_000, 150_000, 300_000], dtype=float)
    means, errors = [], []
    for s in spends:
        counts = _paid_leads([], s, range(3))
        means.append(counts.mean())
        errors.append(counts.std(ddof=1) / math.sqrt(len(counts)))
    log_mean = np.log(means)
    weights = np.array(means) / np.array(errors)  # 1 / SE of log(mean)
    (slope, intercept), cov = np.polyfit(np.log(spends), log_mean, 1, w=weights, cov="unscaled")
    se = math.sqrt(cov[0, 0])
    assert se < 0.03  # tight enough to mean something
    assert abs(slope - 0.7) < 3 * se, (slope, se)
    assert math.exp(intercept) * 81_000**slope == pytest.approx(450, rel=0.05)


def test_spend_response_is_the_declared_saturating_curve() -> None:
    spends = np.array([20_000, 81_000, 200_000, 500_000, 1_500_000], dtype=float)
    rows = [(s, _paid_leads(_saturating(1200), s, range(2))) for s in spends]
    x = np.concatenate([np.full(len(c), s) for s, c in rows])
    y = np.concatenate([c for _, c in rows])

    def curve(spend: np.ndarray, top: float, scale: float) -> np.ndarray:
        return top * -np.expm1(-spend / scale)

    (top, scale), cov = optimize.curve_fit(curve, x, y, p0=(1000, 100_000), sigma=np.sqrt(y))
    se_top = math.sqrt(cov[0, 0])
    true_scale = -81_000 / math.log1p(-450 / 1200)
    assert se_top < 0.03 * 1200
    assert abs(top - 1200) < 3 * se_top, (top, se_top)
    assert abs(scale - true_scale) < 3 * math.sqrt(cov[1, 1]), (scale, true_scale)


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        ([f"{PAID}.spend.elasticity=null"], "power curve needs it"),
        ([f"{PAID}.spend.elasticity=1.5"], "less than or equal to 1"),
        (_saturating(300), "must be more than reference_leads"),
        ([f"{PAID}.monthly_leads=450"], "not both"),
        ([f"{PAID}.cost_per_lead=180"], "costs its spend"),
        ([f"{PAID}.spend.monthly=[1000, 2000]"], "the list covers 2 months"),
        ([f"{PAID}.spend=null"], "give the channel's volume, or its spend"),
    ],
)
def test_bad_budgets_are_located(sets: list[str], message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        sim.load_scenario(BUDGET, sets)

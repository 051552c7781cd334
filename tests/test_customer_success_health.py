"""Customer success that drives retention and expansion.

Health (the attention a customer received over the term) moves churn and expansion odds
continuously; a tech-touch pool covers small accounts at scale; CSMs find and work upsell
chances during the term, and chances nobody follows up are recycled. Each mechanism is
checked against the odds it declares, and CSM headcount against NRR in a paired run.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import sim
from sim.analysis.metrics import kpis
from sim.errors import ScenarioError
from tests.helpers import BASE, SCENARIOS, small

ALL_POOLED = (
    "customer_success.tech_touch={segments: [smb, mid_market, enterprise], headcount: 1, "
    "accounts_per_head: 100000, attention: 0.6}"
)
"""Every account in a pool far bigger than the book: each customer's health is 0.6."""


def _totals(ledger: sim.Ledger) -> dict[str, float]:
    return {name: float(v.sum()) for name, v in ledger.flows.items()}


def test_churn_odds_follow_health() -> None:
    """With health 0.6 everywhere, churn is p x (1 + (m - 1) x 0.4) = 0.1 x 1.4."""
    sc = small(BASE, 36, [ALL_POOLED, "customer_success.churn_probability=0.1"])
    churned = renewed = 0.0
    for seed in range(3):
        ledger = sim.simulate(sc, seed)
        f = _totals(ledger)
        churned += f["churned_customers"]
        renewed += f["renewals"]
        # the attention integral: every renewal read exactly the pool's attention
        assert f["health_at_renewal_sum"] / f["health_renewals"] == pytest.approx(0.6, abs=1e-9)
        assert ledger.flows["onboardings_started"].sum() == f["new_customers"]
    p = 0.1 * (1 + (2.0 - 1) * (1 - 0.6))
    n = churned + renewed
    assert abs(churned / n - p) < 4 * math.sqrt(p * (1 - p) / n)
    # and health 0.6 is told apart from full coverage (0.10) and from none (0.20)
    assert abs(churned / n - 0.10) > 6 * math.sqrt(0.1 * 0.9 / n)


def test_full_coverage_reads_as_full_health_and_changes_no_fate() -> None:
    """A CSM team far bigger than the book gives every account health 1: the health path
    then decides every renewal exactly as the coverage path does."""
    sets = ["customer_success.headcount=60", "customer_success.plan=[]"]
    plain = sim.simulate(small(BASE, 24, sets), 4)
    full = "customer_success.full_attention_accounts=100"
    health = sim.simulate(small(BASE, 24, [*sets, full]), 4)
    f = _totals(health)
    assert f["health_at_renewal_sum"] == pytest.approx(f["health_renewals"], rel=1e-12)
    for name in ("churned_customers", "renewals", "churned_arr", "expansion_arr", "new_arr"):
        assert f[name] == pytest.approx(float(plain.flows[name].sum()), rel=1e-9), name


def test_a_crowded_book_thins_attention_and_raises_churn() -> None:
    """CSMs whose books are bigger than full_attention_accounts give each account less: health
    falls below 1 and, on the same seeds, more customers churn."""
    sets = ["customer_success.headcount=6", "customer_success.plan=[]"]
    churn = {}
    for full in (None, 20):
        extra = [] if full is None else [f"customer_success.full_attention_accounts={full}"]
        ledgers = [sim.simulate(small(BASE, 30, [*sets, *extra]), s) for s in range(2)]
        churn[full] = sum(float(x.flows["churned_customers"].sum()) for x in ledgers)
        if full is not None:
            health = [kpis(x)["health_at_renewal"] for x in ledgers]
            # books run ~70-100 accounts, so attention is 20/70-20/100 while covered
            assert all(0.15 < h < 0.5 for h in health)
    assert churn[20] > 1.15 * churn[None]


def test_an_overloaded_pool_shares_its_attention() -> None:
    """A pool with capacity C and n > C accounts gives each a x C / n: health falls between
    a x C / (most accounts) and a."""
    pooled = ALL_POOLED.replace("accounts_per_head: 100000", "accounts_per_head: 300")
    ledger = sim.simulate(small(BASE, 24, [pooled]), 1)
    health = kpis(ledger)["health_at_renewal"]
    most = float(ledger.stocks["customers"].max())
    assert 0.6 * 300 / most < health < 0.6
    util = kpis(ledger)["tech_touch_utilisation"]
    assert util > 1.0  # more accounts than capacity, on average
    assert "tech_touch" in ledger.staff
    assert kpis(ledger)["total_cost"] > kpis(sim.simulate(small(BASE, 24), 1))["total_cost"]


def test_the_upsell_pipeline_follows_its_declared_odds() -> None:
    """Chances arise at the declared rate per customer-year; the share followed up is the
    attention (0.6); worked chances win at the declared odds and add the declared share."""
    pipe = (
        "customer_success.expansion_pipeline={opportunities_per_account_per_year: 1.0, "
        "win_probability: 0.3, cycle_days: {dist: fixed, value: 1}, "
        "fraction: {dist: fixed, value: 0.1}, unfollowed: {max_cycles: 1}}"
    )
    ledger = sim.simulate(small(BASE, 36, [ALL_POOLED, pipe]), 3)
    f = _totals(ledger)
    exposure = float(ledger.areas["cs_pooled"].sum()) / 365.25  # customer-years
    assert abs(f["upsell_chances"] - exposure) < 4 * math.sqrt(exposure)
    tried = f["upsell_worked"] + f["upsell_unfollowed"]
    assert abs(f["upsell_worked"] / tried - 0.6) < 4 * math.sqrt(0.24 / tried)
    # each unfollowed fresh chance is recycled once (max_cycles: 1) and comes back unless its
    # customer left or the horizon ended during the pause
    chances = f["upsell_chances"]
    assert abs(f["upsell_recycled"] / chances - 0.4) < 4 * math.sqrt(0.24 / chances)
    came_back = tried - chances
    assert 0.8 * f["upsell_recycled"] < came_back <= f["upsell_recycled"]
    worked = f["upsell_worked"]
    assert abs(f["upsell_wins"] / worked - 0.3) < 4 * math.sqrt(0.21 / worked)
    assert f["upsell_arr"] <= f["expansion_arr"]
    k = kpis(ledger)
    assert k["upsell_wins"] == f["upsell_wins"]
    assert k["upsell_unfollowed_share"] == pytest.approx(f["upsell_unfollowed"] / tried)


def test_upsell_wins_add_a_tenth_of_arr() -> None:
    pipe = (
        "customer_success.expansion_pipeline={opportunities_per_account_per_year: 0.5, "
        "win_probability: 1.0, cycle_days: {dist: fixed, value: 1}, "
        "fraction: {dist: fixed, value: 0.1}}"
    )
    sets = [ALL_POOLED, pipe, "customer_success.expansion_probability=0"]
    sets += ["customer_success.contraction_probability=0"]
    ledger = sim.simulate(small(BASE, 12, sets), 2)
    f = _totals(ledger)
    # every win adds 10% of an ARR between the smallest and the largest deal's
    assert f["upsell_arr"] == pytest.approx(f["expansion_arr"], rel=1e-12)
    acv = f["new_arr"] / f["new_customers"]
    assert 0.02 * acv * f["upsell_wins"] < f["upsell_arr"] < 0.5 * acv * f["upsell_wins"]


def test_scenarios_without_the_new_fields_keep_their_hash() -> None:
    sc = small(BASE, 6)
    same = small(BASE, 6, ["customer_success.full_attention_accounts=null"])
    assert sc.digest() == same.digest()
    other = small(BASE, 6, ["customer_success.full_attention_accounts=50"])
    assert other.digest() != sc.digest()


def test_an_unknown_pool_segment_is_located() -> None:
    bad = ALL_POOLED.replace("enterprise]", "enterprize]")
    with pytest.raises(ScenarioError, match=r"tech_touch\.segments\.2.*enterprize"):
        small(BASE, 6, [bad])


def test_the_pool_keeps_every_customer_followed() -> None:
    """Customers are covered, waiting or pooled, at every month end (the engine checks the
    sum too); pooled accounts never wait for a CSM."""
    ledger = sim.simulate(small(SCENARIOS / "retention.yaml", 18), 0)
    k = kpis(ledger)
    assert 0 < k["health_at_renewal"] < 1
    assert k["upsell_wins"] > 0
    assert np.all(ledger.stocks["covered_customers"] <= ledger.stocks["customers"])
    assert float(ledger.areas["cs_pooled"].sum()) > 0


@pytest.mark.slow
def test_more_csms_raise_nrr_and_grr_on_the_retention_scenario() -> None:
    """Three more CSMs from day one, same seeds: NRR and GRR rise, with 95% paired CIs that
    exclude zero."""
    from scipy import stats

    base = small(SCENARIOS / "retention.yaml", 36)
    more = small(SCENARIOS / "retention.yaml", 36, ["customer_success.headcount=9"])
    seeds = range(10)
    diffs = {"nrr": [], "grr": []}
    for seed in seeds:
        a, b = kpis(sim.simulate(base, seed)), kpis(sim.simulate(more, seed))
        for name in diffs:
            diffs[name].append(b[name] - a[name])
    t = stats.t.ppf(0.975, len(seeds) - 1)
    for name, values in diffs.items():
        d = np.asarray(values)
        half = t * d.std(ddof=1) / math.sqrt(len(d))
        assert d.mean() - half > 0, (name, d.mean(), half)


def test_the_retention_table_adds_up_to_the_flows() -> None:
    ledger = sim.simulate(small(SCENARIOS / "retention.yaml", 30), 2)
    table = sim.retention_table(ledger)
    assert list(table.index) == ["2027-01", "2028-01", "2029-01"]  # the last block is short
    f = _totals(ledger)
    assert table["renewals_due"].sum() == f["renewals"] + f["churned_customers"]
    assert table["upsell_arr"].sum() == pytest.approx(f["upsell_arr"], rel=1e-12)
    assert table["churned_arr"].sum() == pytest.approx(f["churned_arr"], rel=1e-12)
    assert table["health_at_renewal"].between(0, 1).all()
    # a scenario without health or a pipeline has the rows, with those columns empty
    plain = sim.retention_table(sim.simulate(small(BASE, 12), 2))
    assert plain[["health_at_renewal", "upsell_wins"]].isna().all().all()
    assert plain["logo_churn"].between(0, 0.5).all()

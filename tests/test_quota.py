"""Rep variation, AE quota and attainment, and variable pay.

People differ (``productivity_spread``: a talent factor drawn at hire, lognormal with mean 1);
AEs carry a ramped quota (``quota_per_ae_per_year``) and are credited with the wins they own;
``commission_rate`` pays a share of bookings in the month of the win.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import sim
from sim.analysis.metrics import ae_years, kpis, monthly, sdr_years
from sim.analysis.motion import attainment_table
from sim.engine.staff import DAYS_PER_MONTH
from tests.helpers import BASE, SCENARIOS, small

QUOTA = 720_000.0


def test_every_booking_is_credited_and_quota_follows_the_ramp() -> None:
    ledger = sim.simulate(small(BASE, 14), seed=5)
    q, fs = ledger.quota, ledger.staff["field_sales"]
    # conservation: the AEs' bookings are the new ARR of the horizon, month by month
    booked = np.bincount(q["month"].astype(int), weights=q["booked"], minlength=14)
    assert booked == pytest.approx(ledger.flows["new_arr"], rel=1e-12, abs=1e-6)
    # ramped quota: quota per day x the days on the team weighted by the ramp
    ramped_days = fs["person_days"] - fs["ramp_loss_days"]
    expected = QUOTA / 365.25 * ramped_days
    assert monthly(ledger)["quota_capacity"] == pytest.approx(expected, rel=1e-9)
    assert kpis(ledger)["quota_capacity"] == pytest.approx(expected.sum(), rel=1e-9)
    # a new hire's first months carry a fraction of a full month's quota
    full = QUOTA / 12
    assert q["quota"].max() <= full * 31 / DAYS_PER_MONTH + 1e-6
    assert (q["quota"] < 0.5 * full).any()


def test_attainment_counts_whole_years_only() -> None:
    ledger = sim.simulate(small(BASE, 24), seed=2)
    years = ae_years(ledger)
    assert set(years["year"].tolist()) == {0.0, 1.0}
    for y in (0, 1):
        whole = ledger.quota["whole"] == 1
        mine = (ledger.quota["month"] // 12 == y) & whole
        months = np.bincount(ledger.quota["ae"][mine].astype(int))
        assert (years["year"] == y).sum() == (months == 12).sum()
    table = attainment_table(ledger)
    assert list(table.index) == ["2027-01", "2028-01"]
    share = float(kpis(ledger)["ae_at_quota_share"])
    assert share == pytest.approx(float((years["attainment"] >= 1).mean()))
    assert table["attainment_p10"].le(table["attainment_median"]).all()


def test_no_quota_no_attainment() -> None:
    ledger = sim.simulate(small(BASE, 6, ["field_sales.quota_per_ae_per_year=null"]), seed=1)
    assert ledger.quota == {}
    k = kpis(ledger)
    assert math.isnan(k["ae_at_quota_share"])
    assert math.isnan(k["quota_capacity"])
    assert attainment_table(ledger).empty
    assert "quota_capacity" not in monthly(ledger)


def test_commission_is_a_share_of_bookings_and_a_cost() -> None:
    # paying commission changes nobody's behaviour: the same run, with the pay on top
    plain = sim.simulate(small(BASE, 8), seed=4)
    paid = sim.simulate(small(BASE, 8, ["field_sales.commission_rate=0.1"]), seed=4)
    assert np.array_equal(plain.flows["new_arr"], paid.flows["new_arr"])
    pay = paid.staff["field_sales"]["variable_pay"]
    assert pay == pytest.approx(0.1 * paid.flows["new_arr"], rel=1e-12)
    extra = paid.staff["field_sales"]["cost"] - plain.staff["field_sales"]["cost"]
    assert extra == pytest.approx(pay, rel=1e-9, abs=1e-6)
    k0, k1 = kpis(plain), kpis(paid)
    assert k1["sm_cost"] - k0["sm_cost"] == pytest.approx(k1["variable_pay"], rel=1e-9)
    assert k1["variable_pay"] == pytest.approx(0.1 * k1["new_arr"], rel=1e-12)


def test_talent_is_lognormal_with_the_given_spread() -> None:
    # 3,000 AEs on day one: their talent factors have mean 1 and the given CV
    sc = small(BASE, 1, ["field_sales.headcount=3000", "field_sales.productivity_spread=0.4"])
    talent = sim.simulate(sc, seed=9).quota["talent"]
    assert len(talent) == 3000
    assert talent.mean() == pytest.approx(1.0, abs=3 * 0.4 / math.sqrt(3000))
    assert talent.std() / talent.mean() == pytest.approx(0.4, rel=0.08)
    sigma = math.sqrt(math.log1p(0.4**2))
    assert np.log(talent).std() == pytest.approx(sigma, rel=0.08)
    alike = sim.simulate(small(BASE, 1, ["field_sales.headcount=50"]), seed=9)
    assert (alike.quota["talent"] == 1.0).all()


@pytest.mark.slow
def test_attainment_spread_follows_the_drawn_productivity() -> None:
    # AEs alike: attainment varies by luck alone; with talent, an AE's room (and so the
    # opportunities routed to them) scales with it, and log attainment gains the variance
    # of log talent on top of the luck
    def pooled(spread: float) -> dict[str, np.ndarray]:
        sc = sim.load_scenario(BASE, [f"field_sales.productivity_spread={spread}"])
        results = sim.run(sc, replications=6, seed=11, workers=2, keep_ledgers=True)
        years = [ae_years(r.ledger) for r in results.replications if r.ledger is not None]
        return {k: np.concatenate([y[k] for y in years]) for k in years[0]}

    luck, varied = pooled(0.0), pooled(0.4)
    assert len(luck["attainment"]) > 100
    assert len(varied["attainment"]) > 100
    log_talent = np.log(varied["talent"])
    slope = np.polyfit(log_talent, np.log(varied["attainment"]), 1)[0]
    assert 0.7 < slope < 1.3, slope
    extra = np.log(varied["attainment"]).var() - np.log(luck["attainment"]).var()
    assert extra == pytest.approx(log_talent.var(), rel=0.35)


def test_realism_shows_quota_attainment_only_with_a_quota() -> None:
    from sim.validation.realism import realism_figures

    with_quota = sim.run(small(BASE, 13), replications=2, seed=0, workers=1)
    names = [f.name for f in realism_figures(with_quota)]
    assert "ae_at_quota_share" in names
    sc = small(SCENARIOS / "base.yaml", 13, ["field_sales.quota_per_ae_per_year=null"])
    without = sim.run(sc, replications=2, seed=0, workers=1)
    assert "ae_at_quota_share" not in [f.name for f in realism_figures(without)]


def test_sdr_targets_credit_every_sql_and_follow_the_ramp() -> None:
    sc = small(BASE, 14, ["inside_sales.sql_target_per_sdr_per_month=40"])
    ledger = sim.simulate(sc, seed=6)
    t, team = ledger.sql_targets, ledger.staff["inside_sales"]
    sqls = np.bincount(t["month"].astype(int), weights=t["booked"], minlength=14)
    assert sqls == pytest.approx(ledger.flows["sqls"])
    expected = 40 * 12 / 365.25 * (team["person_days"] - team["ramp_loss_days"])
    assert monthly(ledger)["sql_target"] == pytest.approx(expected, rel=1e-9)
    years = sdr_years(ledger)
    share = float(kpis(ledger)["sdr_at_target_share"])
    assert share == pytest.approx(float((years["attainment"] >= 1).mean()))
    assert math.isnan(kpis(sim.simulate(small(BASE, 14), seed=6))["sdr_at_target_share"])
    # the per-year table: the SDRs there the whole first year, against their ramped targets
    table = sim.sdr_attainment_table(ledger)
    assert list(table.index) == ["2027-01"]
    first = years["year"] == 0
    assert table.loc["2027-01", "sdrs"] == first.sum()
    assert table.loc["2027-01", "sqls"] == pytest.approx(float(years["booked"][first].sum()))
    assert table.loc["2027-01", "at_target_share"] == pytest.approx(share)
    assert sim.sdr_attainment_table(sim.simulate(small(BASE, 14), seed=6)).empty

"""Stage reports: waterfall, channels, segments, phases; their reduction over replications.

Most tests build a ledger by hand, lead by lead, so that every count, rate and median is
known by construction; a few read a short simulated run to check the tables against the
engine's own counters and the worker/saving path.
"""

from __future__ import annotations

import math
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from sim import channel_table, phase_table, run, segment_table, simulate, waterfall
from sim.analysis.export import read_results
from sim.analysis.motion import TABLES, across_replications, motion_tables, quarter_label
from sim.engine.leads import NON_TARGET, NURTURE
from sim.engine.ledger import Ledger
from tests.helpers import small

INF = math.inf
CHANNELS = ["web", "paid", "referral", "starting_book", "outbound"]
COST_PER_LEAD = [10.0, 100.0, 0.0, 0.0, 0.0]
SEGMENTS = ["smb", "ent"]
WEB, PAID, REFERRAL, BOOK, OUTBOUND = range(5)
SMB, ENT = range(2)


def _lead(
    channel: int,
    segment: int,
    created: float,
    mql: float = INF,
    fs: float = INF,
    opp: float = INF,
    won: float = INF,
    last_opp: float | None = None,
    new_arr: float = 0.0,
    state: int = NURTURE,
) -> dict[str, Any]:
    return {
        "channel": channel,
        "segment": segment,
        "state": state,
        "created_at": created,
        "first_mql_at": mql,
        "first_fs_at": fs,
        "first_opp_at": opp,
        "last_opp_at": opp if last_opp is None else last_opp,
        "won_at": won,
        "new_arr": new_arr,
    }


# Twelve 30-day months from 2027-01: Q1 is days 0-90, Q2 90-180, Q3 180-270, Q4 270-360.
LEADS = {
    # Q1, web: the full path, 2 days to MQL, 8 to SQL, 10 to opportunity, a 60-day cycle
    "A": _lead(WEB, SMB, 10, mql=12, fs=20, opp=30, won=90, new_arr=12_000),
    # Q1, web: an opportunity that is not won (yet)
    "B": _lead(WEB, ENT, 10, mql=14, fs=24, opp=40),
    # Q1, web: a hand-raiser handed to inside sales at once, never qualified
    "C": _lead(WEB, SMB, 10, mql=10),
    # Q1, web: nurtured, never handed to sales
    "D": _lead(WEB, SMB, 10),
    # Q1, paid: fast-passed straight to field sales (no inside-sales hand-off), 40-day cycle
    "E": _lead(PAID, ENT, 10, fs=11, opp=21, won=61, new_arr=30_000),
    # Q1, web: a non-target (never moves): out of the waterfall, in the channel's leads
    "F": _lead(WEB, SMB, 10, state=NON_TARGET),
    # day 0, starting book: an open opportunity won in month 2: out of every lead table
    "G": _lead(BOOK, ENT, 0, opp=0, won=30, new_arr=50_000),
    # Q2, referral: won in a 40-day cycle; free leads have no CAC
    "K": _lead(REFERRAL, SMB, 100, mql=100, fs=105, opp=110, won=150, new_arr=5_000),
    # Q3 (month 7), web: nurtured
    "I": _lead(WEB, SMB, 200),
    # Q4, web: an MQL in the last quarter
    "H": _lead(WEB, SMB, 300, mql=301),
}

PHASES = {
    "discovery": {"entered": 10.0, "advanced": 6.0, "failed": 3.0},
    "proposal": {"entered": 7.0, "advanced": 3.0, "failed": 3.0},
    "close": {"entered": 3.0, "advanced": 2.0, "failed": 0.0},
}


def _ledger(leads: dict[str, dict[str, Any]] = LEADS, months: int = 12) -> Ledger:
    columns = {
        name: np.array([lead[name] for lead in leads.values()])
        for name in next(iter(leads.values()))
    }
    return Ledger(
        scenario="hand-made",
        seed="0:0",
        months=[f"{2027 + m // 12}-{m % 12 + 1:02d}" for m in range(months)],
        month_days=np.full(months, 30.0),
        flows={},
        stocks={},
        areas={},
        capacity={},
        leads=columns,
        staff={},
        channels=CHANNELS,
        segments=SEGMENTS,
        channel_cost_per_lead=COST_PER_LEAD,
        phases=PHASES,
    )


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return waterfall(_ledger())


def test_quarter_labels() -> None:
    assert [quarter_label(m) for m in ("2027-01", "2027-03", "2027-04", "2027-12")] == [
        "2027-Q1",
        "2027-Q1",
        "2027-Q2",
        "2027-Q4",
    ]


def test_waterfall_rows_are_quarters_then_totals(table: pd.DataFrame) -> None:
    assert list(table.index) == ["2027-Q1", "2027-Q2", "2027-Q3", "2027-Q4", "all", "mature"]
    assert table.index.name == "cohort"
    # months from each cohort's last month to the end of the horizon
    assert list(table["months_observed"]) == [9, 6, 3, 0, 0, 9]
    assert list(table["months"]) == [3, 3, 3, 3, 12, 3]


def test_waterfall_counts_unique_leads_without_book_or_non_targets(table: pd.DataFrame) -> None:
    q1 = table.loc["2027-Q1"]
    # A, B, C, D, E (F is a non-target, G the starting book); MQL: A, B, C and E (fast pass)
    assert q1[["leads", "mqls", "sqls", "opportunities", "wins"]].tolist() == [5, 4, 3, 3, 2]
    assert q1["lead_to_mql"] == pytest.approx(4 / 5)
    assert q1["mql_to_sql"] == pytest.approx(3 / 4)
    assert q1["sql_to_opportunity"] == pytest.approx(1.0)
    assert q1["opportunity_to_win"] == pytest.approx(2 / 3)
    assert q1["lead_to_win"] == pytest.approx(2 / 5)
    every = table.loc["all"]
    assert every[["leads", "mqls", "sqls", "opportunities", "wins"]].tolist() == [8, 6, 4, 4, 3]
    cohorts = table.drop(index=["all", "mature"])
    for column in ("leads", "mqls", "sqls", "opportunities", "wins"):
        assert cohorts[column].sum() == every[column]


def test_waterfall_medians_between_stages(table: pd.DataFrame) -> None:
    q1 = table.loc["2027-Q1"]
    assert q1["lead_to_mql_median_days"] == pytest.approx(1.5)  # A 2, B 4, C 0, E 1
    assert q1["mql_to_sql_median_days"] == pytest.approx(8.0)  # A 8, B 10, E 0
    assert q1["sql_to_opportunity_median_days"] == pytest.approx(10.0)  # A 10, B 16, E 10
    assert q1["opportunity_to_win_median_days"] == pytest.approx(50.0)  # A 60, E 40
    assert table.loc["all", "opportunity_to_win_median_days"] == pytest.approx(40.0)


def test_empty_cohorts_and_young_cohorts(table: pd.DataFrame) -> None:
    q3, q4 = table.loc["2027-Q3"], table.loc["2027-Q4"]
    assert q3["leads"] == 1
    assert q3["lead_to_mql"] == 0
    assert math.isnan(q3["mql_to_sql"])  # nothing to divide
    assert math.isnan(q3["lead_to_mql_median_days"])
    assert q4["lead_to_mql"] == 1
    assert q4["months_observed"] == 0


def test_mature_row_takes_the_cohorts_old_enough(table: pd.DataFrame) -> None:
    # default: created before month 4 (12 - 9 months), i.e. Q1 only
    pd.testing.assert_series_equal(table.loc["mature"], table.loc["2027-Q1"], check_names=False)
    # watched for 3+ months: created in months 1-9 (A-E, K and I in month 7, not H)
    shorter = waterfall(_ledger(), mature_months=3).loc["mature"]
    assert (shorter["leads"], shorter["months"], shorter["months_observed"]) == (7, 9, 3)
    # a horizon no longer than the maturity has an empty mature row
    early = {name: lead for name, lead in LEADS.items() if name != "H"}
    assert waterfall(_ledger(early, months=9)).loc["mature", "leads"] == 0


def test_a_win_followed_by_a_new_opportunity_has_no_cycle() -> None:
    # won on day 60, churned, recycled, and in a new opportunity opened on day 200
    lead = _lead(WEB, SMB, 10, mql=11, fs=12, opp=20, won=60, last_opp=200, new_arr=1.0)
    row = waterfall(_ledger({"J": lead})).loc["all"]
    assert row["wins"] == 1
    assert math.isnan(row["opportunity_to_win_median_days"])


def test_channel_table_counts_cost_and_cac() -> None:
    table = channel_table(_ledger())
    assert list(table.index) == ["web", "paid", "referral", "outbound"]  # no starting_book
    web, paid, referral = table.loc["web"], table.loc["paid"], table.loc["referral"]
    # web: A, B, C, D, F (non-target), I, H; MQLs A, B, C, H; won: A
    assert web[["leads", "mqls", "sqls", "opportunities", "wins"]].tolist() == [7, 4, 2, 2, 1]
    assert web["non_target_share"] == pytest.approx(1 / 7)
    assert web["new_arr"] == 12_000
    assert web["cost"] == pytest.approx(7 * 10.0)
    assert web["cac"] == pytest.approx(70.0)
    assert web["win_rate"] == pytest.approx(1 / 7)
    assert (paid["leads"], paid["cost"], paid["cac"], paid["new_arr"]) == (1, 100, 100, 30_000)
    assert referral["wins"] == 1
    assert math.isnan(referral["cac"])  # a win but no cost: no CAC, not 0
    assert table.loc["outbound", "leads"] == 0
    assert math.isnan(table.loc["outbound", "win_rate"])


def test_channel_table_without_wins_has_no_cac() -> None:
    leads = {"B": LEADS["B"], "D": LEADS["D"]}
    web = channel_table(_ledger(leads)).loc["web"]
    assert web["cost"] == 20
    assert math.isnan(web["cac"])


def test_segment_table() -> None:
    table = segment_table(_ledger())
    assert list(table.index) == SEGMENTS
    smb, ent = table.loc["smb"], table.loc["ent"]
    # smb: A, C, D, F, K, I, H; with opportunity and won: A, K
    assert smb[["leads", "mqls", "sqls", "opportunities", "wins"]].tolist() == [7, 4, 2, 2, 2]
    assert smb["win_rate"] == pytest.approx(1.0)
    assert smb["acv"] == pytest.approx((12_000 + 5_000) / 2)
    assert smb["cycle_median_days"] == pytest.approx(50.0)  # A 60, K 40
    assert smb["new_arr"] == 17_000
    # ent: B and E (G, of the starting book, is left out with its $50k)
    assert ent[["leads", "opportunities", "wins"]].tolist() == [2, 2, 1]
    assert ent["win_rate"] == pytest.approx(0.5)
    assert (ent["acv"], ent["cycle_median_days"], ent["new_arr"]) == (30_000, 40, 30_000)


def test_phase_table_close_rates_and_reach() -> None:
    table = phase_table(_ledger())
    assert list(table.index) == list(PHASES)
    np.testing.assert_allclose(table["close_rate"], [6 / 9, 3 / 6, 2 / 2])
    np.testing.assert_allclose(table["reach"], [6 / 9, 6 / 9 * 0.5, 6 / 9 * 0.5])
    assert list(table["undecided"]) == [1, 1, 1]


@pytest.fixture(scope="module")
def simulated() -> Ledger:
    return simulate(small(months=6), seed=5)


def test_tables_agree_with_the_engines_counters(simulated: Ledger) -> None:
    flows = {name: float(v.sum()) for name, v in simulated.flows.items()}
    tables = motion_tables(simulated)
    channels, phases = tables["channels"], tables["phases"]
    assert channels["leads"].sum() == flows["leads_created"]
    assert channels["cost"].sum() == pytest.approx(flows["marketing_cost"])
    # every deal won goes through the last phase; the ledger's counters, read as they are
    assert phases["advanced"].iloc[-1] == flows["wins"]
    for name, row in phases.iterrows():
        counts = simulated.phases[str(name)]
        assert row["close_rate"] == pytest.approx(
            counts["advanced"] / (counts["advanced"] + counts["failed"])
        )
    every = tables["waterfall"].loc["all"]
    assert tables["segments"]["wins"].sum() == every["wins"] == channels["wins"].sum()
    non_targets = int(np.sum(simulated.leads["state"] == NON_TARGET))
    assert every["leads"] == channels["leads"].sum() - non_targets


def test_across_replications_mean_and_band() -> None:
    one = pd.DataFrame({"k": [1.0, 5.0], "n": [1.0, 10.0], "rate": [np.nan, 0.5]}, ["a", "b"])
    two = pd.DataFrame({"k": [1.0, 5.0, 7.0], "n": [3.0, 20.0, 1.0], "rate": [0.2, 0.7, 1.0]})
    two.index = pd.Index(["a", "b", "c"])
    one.index.name = two.index.name = "row"
    out = across_replications([one, two], fixed=["k"])
    assert list(out.index) == ["a", "b", "c"]
    assert out.index.name == "row"
    assert list(out.columns) == ["k", "replications", "n", "n_p10", "n_p90", "rate", "rate_p10",
                                 "rate_p90"]  # fmt: skip
    assert list(out["k"]) == [1, 5, 7]
    assert list(out["replications"]) == [2, 2, 1]
    assert out.loc["a", "n"] == 2
    assert (out.loc["a", "n_p10"], out.loc["a", "n_p90"]) == pytest.approx((1.2, 2.8))
    assert out.loc["a", "rate"] == pytest.approx(0.2)  # the NaN is left out
    assert out.loc["b", "rate"] == pytest.approx(0.6)
    assert across_replications([]).empty


@pytest.fixture(scope="module")
def results():  # type: ignore[no-untyped-def]
    return run(small(months=3), replications=2, seed=3, workers=1, keep_ledgers=True)


def test_results_tables_are_the_mean_of_each_replications_ledger(results) -> None:  # type: ignore[no-untyped-def]
    ledgers = [r.ledger for r in results.replications]
    per_rep = [waterfall(x)["leads"] for x in ledgers]
    np.testing.assert_allclose(results.waterfall()["leads"], (per_rep[0] + per_rep[1]) / 2)
    low, high = np.sort([phase_table(x)["entered"] for x in ledgers], axis=0)
    np.testing.assert_allclose(results.phases()["entered_p10"], low + 0.1 * (high - low))
    assert list(results.segments().index) == list(results.scenario.segments)


def test_results_channels_drop_channels_without_leads(results) -> None:  # type: ignore[no-untyped-def]
    assert results.scenario.outbound is None
    assert "outbound" in results.replications[0].motion["channels"].index
    channels = results.channels()
    assert "outbound" not in channels.index
    assert "starting_book" not in channels.index
    assert (channels["leads"] > 0).all()


def test_results_with_stage_reports_pickle(results) -> None:  # type: ignore[no-untyped-def]
    back = pickle.loads(pickle.dumps(results))
    pd.testing.assert_frame_equal(back.waterfall(), results.waterfall())


def test_save_writes_the_stage_reports(results, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    written = {p.name for p in results.save(tmp_path / "out")}
    assert {f"{name}.csv" for name in TABLES} <= written
    assert not list((tmp_path / "out").glob(".*.tmp"))
    saved = read_results(tmp_path / "out").motion
    assert list(saved) == list(TABLES)
    for name, table in results.stage_reports().items():
        pd.testing.assert_frame_equal(saved[name], table, check_exact=False, rtol=1e-12)

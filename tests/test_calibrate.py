"""Calibration from CRM exports: the column map, dates, every messy-input case, the fit and the
scenario it writes (on Olist and on synthetic data with a known answer)."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner, Result

from sim import load_scenario, run
from sim.calibrate import CrmError, calibrate, read_crm, scenario_of, scenario_yaml
from sim.calibrate.columns import ColumnMap, DealColumns, LeadColumns, Owners, Stage
from sim.calibrate.report import (
    AFTER_AS_OF,
    BAD_AMOUNT,
    BAD_DATE,
    BAD_OUTCOME,
    DUPLICATE_DEAL,
    DUPLICATE_LEAD,
    EMPTY_ID,
    NO_AMOUNT,
    ORPHAN_DEAL,
    STAGE_ORDER,
    UNKNOWN_CHANNEL,
    WON_BEFORE_CREATED,
)
from sim.calibrate.survival import lognormal_cdf
from sim.calibrate.synthetic import Truth, synthetic_crm
from sim.calibrate.writer import pipeline_channel
from sim.cli import main
from sim.cli.calibrate import calibrate_command
from sim.scenario.schema import add_months
from tests.helpers import OLIST, needs_olist

ROOT = Path(__file__).resolve().parents[1]
OLIST_LEADS = OLIST / "marketing_qualified_leads.csv"
OLIST_DEALS = OLIST / "closed_deals.csv"
OLIST_MAP = ROOT / "scenarios" / "calibrated" / "olist_columns.map"


def invoke(command: Any, *args: str) -> Result:
    """Run a click command; stderr apart from stdout where click allows."""
    try:
        runner = CliRunner(mix_stderr=False)  # type: ignore[call-arg]  # click < 8.2
    except TypeError:
        runner = CliRunner()
    return runner.invoke(command, list(args))


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text.lstrip("\n"), encoding="utf-8")
    return path


LEADS = """
lead_id,created,channel
L1,2024-01-03,web
L2,2024-01-05,events
L3,2024-01-09,web
L4,2024-01-12,web
"""
DEALS = """
lead_id,won_date,sdr_id,ae_id
L1,2024-01-20,s1,a1
L3,2024-02-02,s2,a1
"""


def read(folder: Path, leads: str = LEADS, deals: str = DEALS, **kwargs: Any) -> Any:
    return read_crm(write(folder, "leads.csv", leads), write(folder, "deals.csv", deals), **kwargs)


def only(report: Any, kind: str) -> Any:
    found = report.of_kind(kind)
    assert len(found) == 1, report.lines()
    return found[0]


# -- the column map --------------------------------------------------------------------------


def test_the_example_column_map_loads() -> None:
    from sim.calibrate import load_column_map

    cmap = load_column_map(OLIST_MAP)
    assert cmap.leads.id == "mql_id"
    assert cmap.deals.owners.field_sales == "sr_id"
    assert cmap.date_format == "day_first"


def test_column_map_problems_are_located(tmp_path: Path) -> None:
    from sim.calibrate import load_column_map

    path = write(
        tmp_path,
        "map.yaml",
        """
leads: {id: lead_id, created: created}
deals:
  lead_id: lead_id
  won: won_date
  amout: amount
date_format: sometimes
""",
    )
    with pytest.raises(CrmError) as err:
        load_column_map(path)
    text = [str(p) for p in err.value.problems]
    assert text[0].endswith(
        "map.yaml:5: deals.amout: unknown field (allowed: lead_id, won, closed, outcome, stages, "
        "stage_prefix, owners, amount, amount_period, segment) (got 'amount')"
    )
    assert text[1].endswith(
        "map.yaml:6: date_format: must be one of auto, day_first, month_first, iso or a "
        "strftime format (got 'sometimes')"
    )


def test_a_map_renames_and_merges_channels(tmp_path: Path) -> None:
    cmap = ColumnMap(
        leads=LeadColumns(id="lead_id", created="created", channel="channel"),
        deals=DealColumns(lead_id="lead_id", won="won_date"),
        channels={"web": "online", "events": "offline"},
    )
    leads = LEADS + "L5,2024-01-13,fax\n"
    data = read(tmp_path, leads=leads, columns=cmap)
    assert sorted(data.channels) == ["offline", "online", "unknown"]
    problem = only(data.report, UNKNOWN_CHANNEL)
    assert (problem.file.endswith("leads.csv"), problem.line, problem.value) == (True, 6, "fax")
    assert "offline, online" in problem.message


def test_columns_are_guessed_and_noted(tmp_path: Path) -> None:
    data = read(tmp_path)
    assert any("guessed" in n and "deals.owners.field_sales=ae_id" in n for n in data.report.notes)
    assert data.teams == {"inside_sales": "sdr_id", "field_sales": "ae_id"}


def test_a_column_that_cannot_be_guessed_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(CrmError) as err:
        read(tmp_path, leads="key,when\nL1,2024-01-01\n")
    message = str(err.value)
    assert "leads.csv:1: cannot tell which column is leads.id" in message
    assert "the columns are key, when" in message


# -- dates -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "order"),
    [
        ("31-01-2024", "DD-MM-YYYY"),
        ("31/01/2024 14:05", "DD-MM-YYYY"),
        ("31.01.2024", "DD-MM-YYYY"),
        ("01/31/2024", "MM-DD-YYYY"),
        ("01-31-2024 14:05:09", "MM-DD-YYYY"),
        ("2024-01-31", "YYYY-MM-DD"),
        ("2024-01-31T14:05:00", "YYYY-MM-DD"),
    ],
)
def test_date_formats_are_detected(tmp_path: Path, text: str, order: str) -> None:
    leads = f"lead_id,created\nL1,{text}\nL2,2024-02-01\n"
    data = read(tmp_path, leads=leads, deals="lead_id,won_date\n")
    assert data.leads["created"].iloc[0].date() == dt.date(2024, 1, 31)
    assert any(order in note and "column created" in note for note in data.report.notes)


def test_ambiguous_dates_are_an_error_until_the_map_says(tmp_path: Path) -> None:
    leads = "lead_id,created\nL1,03-04-2024\nL2,05-06-2024\n"
    deals = "lead_id,won_date\nL1,07-08-2024\n"
    with pytest.raises(CrmError) as err:
        read(tmp_path, leads=leads, deals=deals)
    problem = err.value.problems[0]
    assert problem.line == 2
    assert problem.value == "03-04-2024"
    assert "day_first or month_first" in problem.message
    cmap = ColumnMap(
        leads=LeadColumns(id="lead_id", created="created"),
        deals=DealColumns(lead_id="lead_id", won="won_date"),
        date_format="month_first",
    )
    data = read(tmp_path, leads=leads, deals=deals, columns=cmap)
    assert data.leads["created"].iloc[0].date() == dt.date(2024, 3, 4)


def test_an_ambiguous_column_follows_the_other_files_order(tmp_path: Path) -> None:
    leads = "lead_id,created\nL1,03-04-2024\n"
    deals = "lead_id,won_date\nL1,25-04-2024 10:00\n"  # a day above 12: day-first
    data = read(tmp_path, leads=leads, deals=deals)
    assert data.leads["created"].iloc[0].date() == dt.date(2024, 4, 3)


def test_an_explicit_strftime_format(tmp_path: Path) -> None:
    cmap = ColumnMap(
        leads=LeadColumns(id="lead_id", created="created"),
        deals=DealColumns(lead_id="lead_id", won="won_date"),
        date_format="%Y%m%d",
    )
    data = read(tmp_path, "lead_id,created\nL1,20240131\n", "lead_id,won_date\n", columns=cmap)
    assert data.leads["created"].iloc[0].date() == dt.date(2024, 1, 31)


def test_mostly_unparseable_dates_stop_with_examples(tmp_path: Path) -> None:
    leads = "lead_id,created\nL1,yesterday\nL2,soon\nL3,2024-01-02\n"
    with pytest.raises(CrmError) as err:
        read(tmp_path, leads=leads)
    message = str(err.value.problems[0])
    assert "leads.csv: created: 2 of 3 dates do not parse" in message
    assert "'yesterday', 'soon'" in message


# -- messy rows: each is counted and located ---------------------------------------------------


def test_an_unparseable_or_impossible_date_leaves_the_lead_out(tmp_path: Path) -> None:
    leads = LEADS + "L5,2024-02-31,web\n"
    data = read(tmp_path, leads=leads)
    problem = only(data.report, BAD_DATE)
    assert (problem.line, problem.path, problem.value) == (6, "created", "2024-02-31")
    assert "L5" not in set(data.leads["lead_id"])
    assert data.report.counts[BAD_DATE] == 1


def test_a_win_without_a_usable_date_leaves_the_deal_and_lead_out(tmp_path: Path) -> None:
    deals = DEALS + "L2,2024-13-45,s1,a1\n"
    data = read(tmp_path, deals=deals)
    problem = only(data.report, BAD_DATE)
    assert (problem.line, problem.path) == (4, "won_date")
    assert "L2" not in set(data.leads["lead_id"])


def test_a_deal_won_before_its_lead_was_created(tmp_path: Path) -> None:
    deals = DEALS + "L4,2024-01-10,s1,a1\n"  # L4 was created on the 12th
    data = read(tmp_path, deals=deals)
    problem = only(data.report, WON_BEFORE_CREATED)
    assert problem.line == 4
    assert "2.0 days before" in problem.message
    assert "leads.csv:5" in problem.message
    row = data.leads.set_index("lead_id").loc["L4"]
    assert row["won"] == row["created"]


def test_duplicate_lead_ids_keep_the_first(tmp_path: Path) -> None:
    leads = LEADS + "L2,2024-01-20,web\n"
    data = read(tmp_path, leads=leads)
    problem = only(data.report, DUPLICATE_LEAD)
    assert (problem.line, problem.value) == (6, "L2")
    assert "line 3" in problem.message
    assert data.leads.set_index("lead_id").loc["L2", "channel"] == "events"


def test_duplicate_deals_keep_the_earliest_win(tmp_path: Path) -> None:
    deals = DEALS + "L1,2024-01-15,s9,a9\n"
    data = read(tmp_path, deals=deals)
    problem = only(data.report, DUPLICATE_DEAL)
    assert problem.line == 2  # the later win is the one left out
    assert data.leads.set_index("lead_id").loc["L1", "won"].date() == dt.date(2024, 1, 15)


def test_a_deal_without_its_lead(tmp_path: Path) -> None:
    deals = DEALS + "L99,2024-02-02,s1,a1\n"
    data = read(tmp_path, deals=deals)
    problem = only(data.report, ORPHAN_DEAL)
    assert (problem.line, problem.value) == (4, "L99")
    assert "no lead with this id in" in problem.message


def test_a_deal_whose_lead_was_left_out_says_why(tmp_path: Path) -> None:
    leads = LEADS + "L5,not a date,web\n"
    deals = DEALS + "L5,2024-02-02,s1,a1\n"
    data = read(tmp_path, leads=leads, deals=deals)
    problem = only(data.report, ORPHAN_DEAL)
    assert "its lead was left out" in problem.message
    assert "leads.csv:6" in problem.message


def test_empty_ids(tmp_path: Path) -> None:
    leads = LEADS + ",2024-01-20,web\n"
    deals = DEALS + ",2024-02-02,s1,a1\n"
    data = read(tmp_path, leads=leads, deals=deals)
    lines = sorted((p.file.endswith("deals.csv"), p.line) for p in data.report.of_kind(EMPTY_ID))
    assert lines == [(False, 6), (True, 4)]


def test_an_empty_channel_is_counted_as_unknown(tmp_path: Path) -> None:
    leads = LEADS + "L5,2024-01-20,\n"
    data = read(tmp_path, leads=leads)
    problem = only(data.report, UNKNOWN_CHANNEL)
    assert (problem.line, problem.value) == (6, "")
    assert data.leads.set_index("lead_id").loc["L5", "channel"] == "unknown"


def test_amounts_that_are_not_numbers_or_not_positive(tmp_path: Path) -> None:
    deals = 'lead_id,won_date,amount\nL1,2024-01-20,"12,000"\nL3,2024-02-02,lots\nL4,2024-02-03,0\n'
    data = read(tmp_path, deals=deals)
    problem = only(data.report, BAD_AMOUNT)
    assert (problem.line, problem.value) == (3, "lots")
    assert data.report.counts[NO_AMOUNT] == 2
    assert data.leads.set_index("lead_id").loc["L1", "amount"] == 12000.0


def test_outcomes(tmp_path: Path) -> None:
    cmap = ColumnMap(
        leads=LeadColumns(id="lead_id", created="created", channel="channel"),
        deals=DealColumns(lead_id="lead_id", won="won_date", outcome="status"),
    )
    deals = "lead_id,won_date,status\nL1,2024-01-20,Won\nL2,,Lost\nL3,,maybe\nL4,,won\n"
    data = read(tmp_path, deals=deals, columns=cmap)
    bad = data.report.of_kind(BAD_OUTCOME)
    assert [(p.line, p.value) for p in bad] == [(4, "maybe")]
    missing = only(data.report, BAD_DATE)  # 'won' without a won date
    assert missing.line == 5
    table = data.leads.set_index("lead_id")
    assert bool(table.loc["L2", "lost"])
    assert not bool(table.loc["L3", "lost"])


def test_rows_after_the_as_of_date(tmp_path: Path) -> None:
    leads = LEADS + "L5,2024-03-01,web\n"
    data = read(tmp_path, leads=leads, as_of=dt.date(2024, 1, 31))
    kinds = [(p.path, p.line) for p in data.report.of_kind(AFTER_AS_OF)]
    assert ("created", 6) in kinds
    assert ("won", 3) in kinds
    assert pd.isna(data.leads.set_index("lead_id").loc["L3", "won"])


def test_a_stage_dated_before_the_one_it_follows(tmp_path: Path) -> None:
    cmap = ColumnMap(
        leads=LeadColumns(id="lead_id", created="created"),
        deals=DealColumns(
            lead_id="lead_id", won="won_date", stages=[Stage(name="sql", column="sql_date")]
        ),
    )
    deals = "lead_id,won_date,sql_date\nL1,2024-01-20,2024-01-01\n"
    data = read(tmp_path, deals=deals, columns=cmap)
    problem = only(data.report, STAGE_ORDER)
    assert (problem.line, problem.path, problem.value) == (2, "sql_date", "2024-01-01")
    row = data.leads.set_index("lead_id").loc["L1"]
    assert row["stage:sql"] == row["created"]


@pytest.mark.parametrize(
    ("leads", "message"),
    [
        (None, "leads.csv: no such file"),
        ("", "leads.csv: file is empty; expected a CSV with a header"),
        ("lead_id,created\n", "leads.csv: no rows below the header"),
        (
            "lead_id,created\nL1,2024-01-01,extra,more\nL2,2024-01-02\n",
            "leads.csv:2: malformed CSV: 4 fields where the header has 2",
        ),
    ],
)
def test_unusable_files(tmp_path: Path, leads: str | None, message: str) -> None:
    deals = write(tmp_path, "deals.csv", DEALS)
    path = tmp_path / "leads.csv" if leads is None else write(tmp_path, "leads.csv", leads)
    with pytest.raises(CrmError) as err:
        read_crm(path, deals)
    assert message in str(err.value)


def test_missing_columns_are_all_listed(tmp_path: Path) -> None:
    cmap = ColumnMap(
        leads=LeadColumns(id="lead_id", created="created_at", channel="source"),
        deals=DealColumns(lead_id="lead_id", won="won_date", owners=Owners(field_sales="owner")),
    )
    with pytest.raises(CrmError) as err:
        read(tmp_path, columns=cmap)
    text = [str(p) for p in err.value.problems]
    assert len(text) == 3
    assert text[0].endswith(
        "leads.csv:1: leads.created: missing column 'created_at' (mapped as leads.created); "
        "the columns are lead_id, created, channel"
    )


def test_the_command_reports_unusable_input_with_status_2(tmp_path: Path) -> None:
    leads = write(tmp_path, "leads.csv", "key,when\nL1,2024-01-01\n")
    deals = write(tmp_path, "deals.csv", DEALS)
    result = invoke(
        calibrate_command,
        "--leads",
        str(leads),
        "--deals",
        str(deals),
        "-o",
        str(tmp_path / "out.yaml"),
    )
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "cannot tell which column is leads.id" in result.stderr
    assert "2 problem(s) found." in result.stderr  # neither lead id nor created date
    assert not (tmp_path / "out.yaml").exists()


def test_the_command_warns_counts_and_still_writes(tmp_path: Path) -> None:
    leads_df, deals_df = synthetic_crm(Truth(), dt.date(2024, 1, 1), 9, seed=11)
    leads_df.loc[len(leads_df)] = ["BAD", "31-31-2024", "web"]
    leads_df.loc[len(leads_df)] = [leads_df["lead_id"].iloc[0], "2024-03-01 10:00", "web"]
    leads = tmp_path / "leads.csv"
    leads_df.to_csv(leads, index=False)
    deals = tmp_path / "deals.csv"
    deals_df.to_csv(deals, index=False)
    out = tmp_path / "scenario.yaml"
    result = invoke(
        calibrate_command,
        "--leads",
        str(leads),
        "--deals",
        str(deals),
        "-o",
        str(out),
        "--horizon",
        "3",
    )
    assert result.exit_code == 0, result.output
    n = len(leads_df) + 1  # the last data line
    assert f"leads.csv:{n - 1}: created: unparseable or empty created date" in result.stderr
    assert f"leads.csv:{n}: lead_id: lead id already on line 2" in result.stderr
    assert f"{BAD_DATE}: 1 row(s)" in result.stderr
    assert f"{DUPLICATE_LEAD}: 1 row(s)" in result.stderr
    assert load_scenario(out).name == "scenario"


# -- Olist -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def olist() -> Any:
    return read_crm(OLIST_LEADS, OLIST_DEALS, OLIST_MAP)


@pytest.fixture(scope="module")
def olist_fit(olist: Any) -> Any:
    return calibrate(olist, name="olist", horizon_months=3)


@needs_olist
def test_olist_reading(olist: Any) -> None:
    report = olist.report
    assert len(olist.leads) == 8000
    assert olist.leads["won"].notna().sum() == 842
    assert report.counts[UNKNOWN_CHANNEL] == 60
    assert report.counts[WON_BEFORE_CREATED] == 1
    assert olist.deals_from == pd.Timestamp("2017-12-05 02:00")
    assert olist.leads_to == pd.Timestamp("2018-05-31")


@needs_olist
def test_olist_calibration_writes_a_scenario_that_validates_and_runs(tmp_path: Path) -> None:
    out = tmp_path / "olist.yaml"
    result = invoke(
        calibrate_command,
        "--leads",
        str(OLIST_LEADS),
        "--deals",
        str(OLIST_DEALS),
        "--map",
        str(OLIST_MAP),
        "-o",
        str(out),
        "--horizon",
        "3",
    )
    assert result.exit_code == 0, result.output
    assert "wrote" in result.stdout
    assert "olist: 3 months from 2018-06" in result.stdout
    validated = invoke(main, "validate", str(out))
    assert validated.exit_code == 0, validated.output
    text = out.read_text()
    assert text.count("# FITTED") >= 10
    assert "ASSUMED" in text
    results = run(load_scenario(out), replications=2, seed=1, workers=1)
    assert results.monthly_summary(["wins"])["mean"].min() > 0


@needs_olist
def test_olist_reps_are_counted_from_owner_ids(olist: Any, olist_fit: Any) -> None:
    won = olist.leads[olist.leads["won"].notna()]
    by_month = won.groupby(won["won"].dt.strftime("%Y-%m"))["owner_inside_sales"].nunique()
    team = olist_fit.teams["inside_sales"]
    assert dict(team.monthly) == by_month.to_dict()
    assert team.headcount == max(by_month[m] for m in ("2018-03", "2018-04", "2018-05"))


@needs_olist
def test_olist_declared_revenue_is_mostly_zero(tmp_path: Path) -> None:
    cmap = yaml.safe_load(OLIST_MAP.read_text())
    cmap["deals"] |= {"amount": "declared_monthly_revenue", "amount_period": "month"}
    path = tmp_path / "map.yaml"
    path.write_text(yaml.safe_dump(cmap))
    data = read_crm(OLIST_LEADS, OLIST_DEALS, path)
    assert data.report.counts[NO_AMOUNT] == 797
    fit = calibrate(data, horizon_months=1)
    assert fit.deal_size is not None
    assert fit.deal_size.n == 45


@needs_olist
def test_olist_scenario_reproduces_its_fitted_funnel(olist_fit: Any, tmp_path: Path) -> None:
    """Theory: the written scenario's wins from new leads are what the fit implies.

    Without the open pipeline and with reps on call around the clock (so inside sales adds
    minutes, not nights), the expected wins of month k are the sum over channels and arrival
    months m of volume x conversion x P(arrival in m + lead-to-win time falls in k).
    """
    cal = olist_fit
    path_sets = ["inside_sales.calendar=always", "starting_book.open_opportunities=0"]
    pipe = pipeline_channel(cal)
    if pipe is not None:
        path_sets.append(f"marketing.channels.{pipe}.monthly_leads=[0, 0, 0]")
    sc_path = tmp_path / "olist.yaml"
    sc_path.write_text(scenario_yaml(cal))
    sc = load_scenario(sc_path, path_sets)
    reps = 30
    results = run(sc, replications=reps, seed=3, workers=1)
    wins = np.array([r.monthly["wins"] for r in results.replications])
    fit = cal.transitions[0].fit
    edges = [(add_months(cal.start, m) - cal.start).days for m in range(4)]
    expected = np.zeros(3)
    for ch in cal.channels:
        vol = ch.volume
        growth = vol.growth.value if vol.growth_used and vol.growth is not None else 0.0
        for m in range(3):
            arrivals = (
                np.linspace(edges[m], edges[m + 1], 400, endpoint=False)
                + 0.5 * (edges[m + 1] - edges[m]) / 400
            )
            mean = vol.level.value * (1 + growth) ** m * ch.conversion.value
            for k in range(m, 3):
                share = lognormal_cdf(edges[k + 1] - arrivals, fit.mu, fit.sigma)
                share -= lognormal_cdf(edges[k] - arrivals, fit.mu, fit.sigma)
                expected[k] += mean * float(np.mean(share))
    se = wins.std(axis=0, ddof=1) / math.sqrt(reps)
    assert np.all(np.abs(wins.mean(axis=0) - expected) < 4 * se), (wins.mean(axis=0), expected)


# -- synthetic data: the fit recovers what made it ----------------------------------------------


def synthetic(folder: Path, truth: Truth, months: int = 12, seed: int = 0, **kw: Any) -> Any:
    leads, deals = synthetic_crm(truth, dt.date(2024, 1, 1), months, seed=seed, **kw)
    leads.to_csv(folder / "leads.csv", index=False)
    deals.to_csv(folder / "deals.csv", index=False)
    cmap = ColumnMap(
        leads=LeadColumns(id="lead_id", created="created", channel="channel"),
        deals=DealColumns(
            lead_id="lead_id",
            won="won_date",
            outcome="outcome" if "outcome" in deals else None,
            stages=[Stage(name="sql", column="stage_date")] if "stage_date" in deals else [],
            owners=Owners(inside_sales="sdr_id", field_sales="ae_id"),
            amount="amount" if "amount" in deals else None,
        ),
    )
    return read_crm(folder / "leads.csv", folder / "deals.csv", cmap)


def covers(interval: Any, truth: float) -> bool:
    return bool(interval.low <= truth <= interval.high)


def test_a_known_funnel_is_recovered(tmp_path: Path) -> None:
    truth = Truth(amount_mean=20000.0, amount_sd=8000.0)
    cal = calibrate(synthetic(tmp_path, truth, seed=21), horizon_months=3)
    assert cal.grouped
    for ch in cal.channels:
        assert covers(ch.conversion, truth.conversion[ch.name]), ch
        assert covers(ch.volume.level, truth.monthly_leads[ch.name]), ch.volume
        assert not ch.volume.growth_used
    fit = cal.transitions[0].fit
    assert covers(fit.median_days, truth.median_days)
    assert covers(fit.sigma_interval, truth.sigma)
    assert cal.deal_size is not None
    assert covers(cal.deal_size.mean, 20000.0)
    assert cal.teams["field_sales"].headcount == truth.reps[1]
    assert all(c.km - c.model < 3 * c.km_se + 0.005 for c in cal.transitions[0].checks)


def test_growth_is_kept_when_significant(tmp_path: Path) -> None:
    truth = Truth(monthly_leads={"web": 800.0}, conversion={"web": 0.1}, growth_per_month=0.06)
    cal = calibrate(synthetic(tmp_path, truth, seed=22), horizon_months=2)
    volume = cal.channels[0].volume
    assert volume.growth_used
    assert volume.growth is not None
    assert covers(volume.growth, 0.06)
    assert covers(volume.level, 800.0 * 1.06**12)  # the fitted level is that of the start month


def test_seasonality_needs_two_years_and_is_then_recovered(tmp_path: Path) -> None:
    season = np.array([0.6, 0.8, 1.0, 1.2, 1.4, 1.2, 1.0, 0.8, 0.6, 0.8, 1.2, 1.4])
    season /= season.mean()
    level = 800.0
    truth = Truth(monthly_leads={"web": level}, conversion={"web": 0.1}, seasonality=tuple(season))
    short = calibrate(synthetic(tmp_path, truth, months=12, seed=23), horizon_months=1)
    assert short.seasonality is None
    assert "24 (two cycles)" in short.seasonality_source
    long = calibrate(synthetic(tmp_path, truth, months=36, seed=23), horizon_months=1)
    assert long.seasonality is not None
    # the generator draws per day, the engine's factors are per calendar month: a 28-day
    # February has fewer leads than a 31-day March at the same daily rate
    days = np.array([pd.Period(f"2025-{m:02d}").days_in_month for m in range(1, 13)])
    days[1] = np.mean([28, 28, 29])  # 2024 was a leap year
    expected = season * days / days.mean()
    expected /= expected.mean()
    se = 1 / np.sqrt(3 * level * expected)  # relative Poisson error of three years' months
    assert np.all(np.abs(np.array(long.seasonality) / expected - 1) < 3 * se + 0.01)


def test_stages_become_phases_with_their_odds(tmp_path: Path) -> None:
    truth = Truth(stage_conversion=0.5, lost_share=0.5)
    data = synthetic(tmp_path, truth, seed=24)
    cal = calibrate(data, horizon_months=3)
    names = [t.name for t in cal.transitions]
    assert names == ["lead_to_sql", "sql_to_win"]
    second = cal.transitions[1]
    assert second.advance is not None
    assert covers(second.advance, 0.5)
    for tr in cal.transitions:
        assert covers(tr.fit.median_days, truth.median_days)
    sc = scenario_of(cal)
    assert [p.name for p in sc.field_sales.phases] == names
    assert sc.field_sales.phases[1].advance_probability == pytest.approx(second.advance.value, 1e-3)


def test_the_pipeline_is_written_as_the_fit_expects_it(tmp_path: Path) -> None:
    cal = calibrate(synthetic(tmp_path, Truth(sigma=1.6), seed=25), horizon_months=6)
    pipe = cal.pipeline
    assert pipe.expected_wins.value > 20
    np.testing.assert_allclose(pipe.written_by_month, pipe.by_month, atol=0.5, rtol=0.02)
    sc = scenario_of(cal)
    assert sc.starting_book.open_opportunities == pipe.opportunities
    name = pipeline_channel(cal)
    if name is not None:
        assert sc.marketing.channels[name].monthly_leads == list(pipe.entries)


def test_channel_names_are_written_so_yaml_reads_them_back(tmp_path: Path) -> None:
    truth = Truth(
        monthly_leads={"yes": 300.0, "paid search": 200.0, "née: 1": 200.0},
        conversion={"yes": 0.1, "paid search": 0.2, "née: 1": 0.15},
    )
    cal = calibrate(synthetic(tmp_path, truth, seed=26), horizon_months=1)
    sc = scenario_of(cal)
    assert {"yes", "paid search", "née: 1"} <= set(sc.marketing.channels)
    assert yaml.safe_load(scenario_yaml(cal))["name"] == "calibrated"

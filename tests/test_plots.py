"""Charts: content (titles, labels, number of artists, plotted data), never pixels."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.patches import Rectangle

from sim.analysis import plots
from sim.experiment.results import Results
from sim.experiment.runner import run
from tests.helpers import small


@pytest.fixture(scope="module")
def results() -> Results:
    return run(small(months=6), replications=3, seed=7, workers=1, keep_ledgers=True)


def _bars(ax: object) -> list[Rectangle]:
    return [p for p in ax.patches if isinstance(p, Rectangle)]  # type: ignore[attr-defined]


def test_fan_chart_plots_the_median_and_band_of_the_input(results: Results) -> None:
    monthly = results.monthly()
    fig = plots.fan_chart(monthly, "arr", target=12e6)
    (ax,) = fig.axes
    assert ax.get_title() == "ARR ($) by month, 3 replications"
    assert ax.get_ylabel() == "ARR ($)"
    assert ax.get_xlabel() == "month"
    p50, target = ax.get_lines()
    wide = np.array([r.monthly["arr"] for r in results.replications])
    np.testing.assert_allclose(p50.get_ydata(), np.median(wide, axis=0))
    np.testing.assert_allclose(target.get_ydata(), 12e6)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["P10-P90", "P50", "target"]
    (band,) = [c for c in ax.collections if isinstance(c, PolyCollection)]
    ys = band.get_paths()[0].vertices[:, 1]
    assert ys.min() == pytest.approx(np.quantile(wide, 0.1, axis=0).min())
    assert ys.max() == pytest.approx(np.quantile(wide, 0.9, axis=0).max())
    assert "$" in ax.yaxis.get_major_formatter()(1.5e7, 0)


def test_fan_chart_rejects_an_unknown_metric(results: Results) -> None:
    with pytest.raises(KeyError, match="no monthly series named 'nope'"):
        plots.fan_chart(results.monthly(), "nope")


def test_funnel_bars_are_the_mean_stage_volumes_with_conversions(results: Results) -> None:
    kpis = results.kpis()
    fig = plots.funnel_chart(kpis)
    (ax,) = fig.axes
    bars = _bars(ax)
    assert len(bars) == 5
    expected = kpis[["leads", "mqls", "sqls", "opportunities", "wins"]].mean().to_numpy()
    np.testing.assert_allclose([b.get_width() for b in bars], expected)
    # leads on top: the y positions run downwards from the first stage
    names = [t.get_text() for t in ax.get_yticklabels()]
    ticks = sorted(zip(ax.get_yticks(), names, strict=True))
    assert [name for _, name in ticks] == ["wins", "opportunities", "SQLs", "MQLs", "leads"]
    texts = [t.get_text() for t in ax.texts]
    assert texts[0] == f"{expected[0]:,.0f}"
    assert f"({expected[4] / expected[3]:.1%} of opportunities)" in texts[4]
    via = expected[2] + kpis["fast_passed"].mean()
    assert f"({expected[3] / via:.1%} of SQLs + fast-passed)" in texts[3]


def test_recycle_chart_counts_each_reason_and_splits_new_arr(results: Results) -> None:
    fig = plots.recycle_chart(results.monthly())
    left, right = fig.axes
    reasons = [t.get_text() for t in left.get_xticklabels()]
    assert reasons == ["not now", "unreached", "rejected", "lost", "churned"]
    heights = [b.get_height() for b in _bars(left)]
    expected = [
        np.mean([r.monthly[f"recycled_{k}"].sum() for r in results.replications])
        for k in plots.RECYCLE_REASONS
    ]
    np.testing.assert_allclose(heights, expected)
    assert right.get_ylabel() == "new ARR ($)"
    assert len(_bars(right)) == 2 * 6  # first-pass and recycled, six months
    assert [t.get_text() for t in right.get_legend().get_texts()] == [
        "first-pass leads",
        "recycled leads",
    ]


def test_team_load_has_one_line_per_team_on_each_panel(results: Results) -> None:
    fig = plots.team_load_chart(results.monthly())
    util, queue = fig.axes
    for ax in (util, queue):
        assert [
            line.get_label() for line in ax.get_lines() if not line.get_label().startswith("_")
        ] == [
            "inside sales",
            "field sales",
            "customer success",
        ]
    assert util.get_ylabel() == "utilisation (%)"
    is_util = np.median([r.monthly["is_utilisation"] for r in results.replications], axis=0)
    np.testing.assert_allclose(util.get_lines()[0].get_ydata(), is_util)
    cs_queue = np.median([r.monthly["cs_queue_length"] for r in results.replications], axis=0)
    np.testing.assert_allclose(queue.get_lines()[2].get_ydata(), cs_queue)


def test_speed_to_lead_is_mql_to_first_touch_in_hours(results: Results) -> None:
    ledgers = [r.ledger for r in results.replications if r.ledger is not None]
    hours, untouched = plots.speed_to_lead_hours(ledgers)
    leads = ledgers[0].leads
    mql = np.isfinite(leads["first_mql_at"])
    first = (leads["first_touch_at"][mql] - leads["first_mql_at"][mql]) * 24
    n0 = int(np.isfinite(first).sum())
    np.testing.assert_allclose(hours[:n0], first[np.isfinite(first)])
    assert (hours >= 0).all()
    fig = plots.speed_to_lead_chart(hours, untouched)
    (ax,) = fig.axes
    assert ax.get_xscale() == "log"
    assert ax.get_xlabel().startswith("hours from MQL to first touch (log scale")
    assert f"{hours.size:,} touched leads" in ax.get_title()
    assert f"{untouched:,} of {hours.size + untouched:,} MQLs never touched" in ax.get_title()
    assert sum(b.get_height() for b in _bars(ax)) == pytest.approx(1.0)
    median_line = ax.get_lines()[0]
    assert median_line.get_xdata()[0] == pytest.approx(np.median(hours))


def test_speed_to_lead_chart_needs_data() -> None:
    with pytest.raises(ValueError, match="no touched lead"):
        plots.speed_to_lead_chart(np.empty(0))


def _kpis(values: list[float], shift: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "replication": range(len(values)),
            "ending_arr": np.array(values) + shift,
            "wins": np.array(values) / 1e5,
        }
    )


def test_comparison_bars_show_means_and_cis_per_scenario() -> None:
    tables = {"base": _kpis([1e6, 2e6, 3e6]), "more": _kpis([2e6, 3e6, 4e6])}
    fig = plots.comparison_bars(tables, ["ending_arr", "wins"])
    arr_ax, wins_ax = fig.axes
    assert arr_ax.get_title() == "ending ARR ($)"
    assert wins_ax.get_title() == "wins"
    np.testing.assert_allclose([b.get_height() for b in _bars(arr_ax)], [2e6, 3e6])
    assert [t.get_text() for t in arr_ax.get_xticklabels()] == ["base", "more"]
    segments = arr_ax.collections[0].get_segments()
    half = 4.302652729911275 * 1e6 / np.sqrt(3)  # t(0.975, 2) * sd / sqrt(n)
    assert segments[0][1][1] - segments[0][0][1] == pytest.approx(2 * half)


def test_paired_differences_cancel_common_noise() -> None:
    base = _kpis([1e6, 5e6, 9e6])
    others = {"plus": _kpis([1e6, 5e6, 9e6], shift=2e5)}
    diff = plots.paired_differences(base, others, ["ending_arr"])
    row = diff.iloc[0]
    assert row["mean"] == pytest.approx(2e5)
    assert row["ci95"] == pytest.approx(0.0)
    assert row["pct"] == pytest.approx(2e5 / 5e6)
    fig = plots.paired_difference_chart(diff)
    (ax,) = fig.axes
    assert ax.get_title() == "Δ ending ARR ($)"
    assert [t.get_text() for t in ax.get_yticklabels()] == ["plus"]
    point = ax.get_lines()[0]
    assert point.get_xdata()[0] == pytest.approx(2e5)


def test_response_heatmap_shows_the_grid_of_means() -> None:
    points = pd.DataFrame(
        [(s, a, s * 1e5 + a * 1e4) for s in (8, 10, 12) for a in (6, 8)],
        columns=["inside_sales.headcount", "field_sales.headcount", "ending_arr"],
    )
    fig = plots.response_heatmap(
        points, "inside_sales.headcount", "field_sales.headcount", "ending_arr"
    )
    ax = fig.axes[0]
    image = ax.get_images()[0].get_array()
    assert image.shape == (2, 3)
    assert image[1, 2] == pytest.approx(12 * 1e5 + 8 * 1e4)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["8", "10", "12"]
    assert ax.get_xlabel() == "inside sales: headcount"
    assert ax.get_ylabel() == "field sales: headcount"
    assert len(ax.texts) == 6
    assert ax.texts[0].get_text() == plots.money(8e5 + 6e4)


def test_response_curve_one_line_per_group_with_band() -> None:
    points = pd.DataFrame(
        {
            "sdrs": [8, 10, 12, 8, 10, 12],
            "aes": [6, 6, 6, 8, 8, 8],
            "wins": [10.0, 12, 13, 11, 14, 16],
            "wins_ci95": [1.0] * 6,
        }
    )
    fig = plots.response_curve(points, "sdrs", "wins", by="aes")
    (ax,) = fig.axes
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == ["6", "8"]  # under the legend's title
    assert ax.get_legend().get_title().get_text() == "AEs"
    np.testing.assert_allclose(lines[1].get_ydata(), [11, 14, 16])
    assert len(ax.collections) == 2
    assert list(ax.get_xticks()) == [8, 10, 12]  # the values swept, not a round grid
    assert ax.get_xlabel() == "SDRs"


def test_tornado_orders_by_swing_and_starts_at_base() -> None:
    table = pd.DataFrame(
        {
            "parameter": ["sdrs", "aes", "csms"],
            "low": [9e6, 8e6, 9.9e6],
            "high": [11e6, 13e6, 10.1e6],
        }
    )
    fig = plots.tornado_chart(table, "ending_arr", base=10e6)
    (ax,) = fig.axes
    assert [t.get_text() for t in ax.get_yticklabels()] == ["CSMs", "SDRs", "AEs"]
    bars = _bars(ax)
    assert len(bars) == 6
    assert all(b.get_x() == pytest.approx(10e6) for b in bars)
    top_high = bars[5]
    assert top_high.get_width() == pytest.approx(3e6)
    assert ax.get_title() == "Sensitivity of ending ARR ($) (base $10.00M)"
    assert not ax.title.get_parse_math()  # two "$" must not turn into mathtext


def test_tornado_shows_both_bars_when_both_settings_move_the_same_way() -> None:
    # low and high both raise the KPI, high more: the low bar must not sit under the high one
    table = pd.DataFrame({"parameter": ["threshold"], "low": [10.5e6], "high": [12e6]})
    fig = plots.tornado_chart(table, "ending_arr", base=10e6)
    low, high = _bars(fig.axes[0])
    (ly0, ly1), (hy0, hy1) = ((b.get_y(), b.get_y() + b.get_height()) for b in (low, high))
    assert ly1 <= hy0 + 1e-9 or hy1 <= ly0 + 1e-9, "the two bars overlap"
    assert low.get_width() == pytest.approx(0.5e6)
    assert high.get_width() == pytest.approx(2e6)


def test_sweep_plots_name_missing_columns() -> None:
    with pytest.raises(KeyError, match="missing column"):
        plots.tornado_chart(pd.DataFrame({"parameter": ["a"]}), "ending_arr", 1.0)


def _bar_groups(ax: object) -> dict[str, tuple[list[float], list[float], list[float]]]:
    """Per legend label: bar widths, bar centres (y) and the half-lengths of their error bars."""
    return {
        name: (widths, centres, [(x1 - x0) / 2 for x0, x1 in ends])
        for name, (widths, centres, ends) in _bar_ends(ax).items()
    }


def _bar_ends(ax: object) -> dict[str, tuple[list[float], list[float], list[tuple[float, float]]]]:
    """Per legend label: bar widths, bar centres (y) and the two ends of their error bars."""
    from matplotlib.container import BarContainer

    groups = {}
    for container in ax.containers:  # type: ignore[attr-defined]
        if not isinstance(container, BarContainer):
            continue
        widths = [b.get_width() for b in container.patches]
        centres = [b.get_y() + b.get_height() / 2 for b in container.patches]
        ends = []
        if container.errorbar is not None:
            (lines,) = container.errorbar.lines[2]
            ends = [(seg[0][0], seg[1][0]) for seg in lines.get_segments()]
        groups[container.get_label()] = (widths, centres, ends)
    return groups


def test_sobol_chart_draws_both_indices_with_their_cis_most_influential_on_top() -> None:
    indices = pd.DataFrame(
        {
            "parameter": ["sdrs", "threshold", "pause"],
            "S1": [0.55, 0.30, 0.01],
            "S1_ci95": [0.08, 0.05, 0.02],
            "ST": [0.62, 0.36, 0.02],
            "ST_ci95": [0.07, 0.06, 0.03],
        }
    )
    fig = plots.sensitivity_chart(indices, "ending_arr")
    (ax,) = fig.axes
    groups = _bar_groups(ax)
    assert set(groups) == {"total (ST)", "first order (S1)"}
    widths, centres, halves = groups["first order (S1)"]
    assert widths == pytest.approx([0.55, 0.30, 0.01])
    assert halves == pytest.approx([0.08, 0.05, 0.02])
    assert groups["total (ST)"][2] == pytest.approx([0.07, 0.06, 0.03])
    # first row on top (inverted axis), and the two bars of a parameter do not overlap
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["SDRs", "threshold", "pause"]
    assert ax.yaxis_inverted()
    st_centres = groups["total (ST)"][1]
    assert all(abs(a - b) >= 0.39 for a, b in zip(centres, st_centres, strict=True))
    assert "variance of ending ARR" in ax.get_xlabel()


def test_morris_lhs_and_grid_tables_are_recognised() -> None:
    morris = pd.DataFrame(
        {"parameter": ["a", "b"], "mu": [2e6, -1e5], "mu_star": [2e6, 3e5],
         "mu_star_ci95": [4e5, 1e5], "sigma": [5e5, 6e5]}
    )  # fmt: skip
    groups = _bar_groups(plots.sensitivity_chart(morris, "ending_arr").axes[0])
    assert groups["mu* (mean |effect|)"][0] == pytest.approx([2e6, 3e5])
    assert groups["sigma (spread)"][2] == []  # sigma has no CI
    lhs = pd.DataFrame({"parameter": ["a"], "rho": [0.6], "rho_low": [0.4], "rho_high": [0.75]})
    ((widths, _, ends),) = _bar_ends(plots.sensitivity_chart(lhs, "wins").axes[0]).values()
    assert widths == pytest.approx([0.6])
    assert ends[0] == pytest.approx((0.4, 0.75))  # the asymmetric Fisher-z interval
    grid = pd.DataFrame({"parameter": ["a"], "effect": [-2e5], "effect_ci95": [1e5]})
    groups = _bar_groups(plots.sensitivity_chart(grid, "ending_arr").axes[0])
    assert groups["last - first level"][0] == pytest.approx([-2e5])
    with pytest.raises(ValueError, match="not a sensitivity table"):
        plots.sensitivity_chart(pd.DataFrame({"parameter": ["a"], "x": [1]}), "wins")


def test_parameter_labels_are_readable() -> None:
    assert plots.parameter_label("inside_sales.headcount") == "inside sales: headcount"
    assert (
        plots.parameter_label("marketing.scoring.mql_threshold")
        == "marketing: scoring: MQL threshold"
    )
    assert plots.parameter_label("field_sales.quota_per_ae_per_year") == (
        "field sales: quota per AE per year"
    )
    assert plots.parameter_label("horizon_months") == "horizon months"


def test_sweep_charts_tick_the_grid_and_name_parameters_readably() -> None:
    points = pd.DataFrame(
        [(s, t, s * 1e5 + t * 1e4, 5e4) for s in (2, 3, 5) for t in (15, 20, 25)],
        columns=[
            "inside_sales.headcount",
            "marketing.scoring.mql_threshold",
            "ending_arr",
            "ending_arr_ci95",
        ],
    )
    fig = plots.response_curve(
        points, "inside_sales.headcount", "ending_arr", by="marketing.scoring.mql_threshold"
    )
    (ax,) = fig.axes
    assert list(ax.get_xticks()) == [2, 3, 5]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["2", "3", "5"]
    assert ax.get_xlabel() == "inside sales: headcount"
    assert ax.get_legend().get_title().get_text() == "marketing: scoring: MQL threshold"
    assert ax.get_title() == "ending ARR ($) against inside sales: headcount"
    heat = plots.response_heatmap(
        points, "inside_sales.headcount", "marketing.scoring.mql_threshold", "ending_arr"
    ).axes[0]
    assert heat.get_ylabel() == "marketing: scoring: MQL threshold"
    assert [t.get_text() for t in heat.get_yticklabels()] == ["15", "20", "25"]


def _inside(ax: object, xs: np.ndarray, ys: np.ndarray) -> bool:
    """Every point strictly inside the axes' view (not on an edge, where a marker is cut)."""
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()  # type: ignore[attr-defined]
    xlo, xhi = sorted((x0, x1))
    ylo, yhi = sorted((y0, y1))
    return bool((xs > xlo).all() and (xs < xhi).all() and (ys > ylo).all() and (ys < yhi).all())


def test_markers_are_not_cut_at_the_axes_edges() -> None:
    points = pd.DataFrame({"sdrs": [8, 10, 12], "wins": [10.0, 12, 13]})
    ax = plots.response_curve(points, "sdrs", "wins").axes[0]
    line = ax.get_lines()[0]
    assert _inside(ax, line.get_xdata(), line.get_ydata())
    # a zero-width interval: the point is the data's edge, and stays inside the panel
    diff = plots.paired_differences(
        _kpis([1e6, 5e6, 9e6]), {"plus": _kpis([1e6, 5e6, 9e6], shift=2e5)}, ["ending_arr"]
    )
    ax = plots.paired_difference_chart(diff).axes[0]
    point = ax.get_lines()[0]
    assert _inside(ax, point.get_xdata(), point.get_ydata())


def test_waterfall_and_segment_charts_read_the_stage_reports(results: Results) -> None:
    reports = results.stage_reports()
    ax = plots.waterfall_chart(reports["waterfall"]).axes[0]
    cohorts = [c for c in reports["waterfall"].index if c not in ("all", "mature")]
    assert [t.get_text() for t in ax.get_xticklabels()] == sorted(cohorts)
    names = [t.get_text() for t in ax.get_legend().get_texts()]
    assert names[-4:] == ["lead → MQL", "MQL → SQL", "SQL → opportunity", "opportunity → win"]
    fig = plots.segments_chart(reports["segments"])
    assert [ax.get_title() for ax in fig.axes] == [
        "new ARR ($)",
        "win rate of opportunities (%)",
        "ACV ($)",
    ]
    widths = [p.get_width() for p in fig.axes[0].patches]
    np.testing.assert_allclose(widths, reports["segments"]["new_arr"].to_numpy(float))


def test_share_tick_labels_say_the_tick_value(results: Results) -> None:
    # a 2.5% step shown with no decimal would read 2%, 5%, 8%: ticks at 1, 2, 5 x 10^k only
    for ax in (
        plots.team_load_chart(results.monthly()).axes[0],
        plots.speed_to_lead_chart(np.array([0.2, 1.0, 3.0, 8.0, 30.0] * 7 + [5.0])).axes[0],
    ):
        ticks = ax.get_yticks()
        labels = [t.get_text() for t in ax.get_yticklabels()]
        assert all(label.endswith("%") for label in labels)
        shown = [float(label.rstrip("%")) / 100 for label in labels]
        np.testing.assert_allclose(shown, ticks, atol=1e-12)

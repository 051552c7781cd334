"""``revloop chart`` and :mod:`sim.analysis.charts`: every kind of chart written as a file."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

from pathlib import Path

import pytest
from click.testing import CliRunner
from matplotlib.figure import Figure

from sim.analysis import charts, plots
from sim.analysis.charts import CHARTS, REPORT_CHARTS, ChartData, chart, chart_data, save_chart
from sim.cli.analysis import chart_command
from sim.experiment.runner import run
from tests.helpers import SCENARIOS, small

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny saved run: seven months (January to July 2027), two replications."""
    out = tmp_path_factory.mktemp("charts") / "run"
    run(small(months=7), replications=2, seed=3, workers=1).save(out)
    return out


@pytest.fixture(scope="module")
def data(folder: Path) -> ChartData:
    """The folder read once: speed to lead re-runs a replication once for every test."""
    return chart_data(folder)


@pytest.mark.parametrize("kind", list(CHARTS))
def test_every_kind_exports_as_png_and_svg(data: ChartData, kind: str, tmp_path: Path) -> None:
    fig = chart(kind, data)
    assert isinstance(fig, Figure)
    png = save_chart(fig, tmp_path / f"{kind}.png", dpi=60)
    svg = save_chart(fig, tmp_path / f"{kind}.svg")
    assert png.read_bytes()[:8] == PNG_MAGIC
    text = svg.read_text(encoding="utf-8")
    assert "<svg" in text[:1000]
    assert "<dc:date>" not in text  # no creation date: the same chart gives the same file
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([png.name, svg.name])


def test_pdf_too_and_the_folder_is_made(data: ChartData, tmp_path: Path) -> None:
    pdf = save_chart(chart("arr", data), tmp_path / "slides" / "arr.pdf")
    assert pdf.read_bytes()[:5] == b"%PDF-"


def test_an_unknown_suffix_writes_nothing(data: ChartData, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown suffix '\.jpg': write a chart to \.png"):
        save_chart(chart("arr", data), tmp_path / "arr.jpg")
    assert list(tmp_path.iterdir()) == []


def test_chart_reads_a_folder_path_and_names_unknown_kinds(folder: Path) -> None:
    fig = chart("funnel", folder)
    assert fig.axes[0].get_xscale() == "log"
    with pytest.raises(ValueError, match="unknown chart 'pie': use one of arr, new_arr"):
        chart("pie", folder)


def test_a_missing_stage_report_is_no_chart_data(data: ChartData) -> None:
    bare = ChartData(data.monthly, data.kpis)
    with pytest.raises(charts.NoChartData, match="no waterfall report in this run"):
        chart("waterfall", bare)
    with pytest.raises(charts.NoChartData, match="needs the run's ledgers"):
        chart("speed_to_lead", bare)


def test_the_report_draws_the_registry_kinds() -> None:
    assert [k.name for k in REPORT_CHARTS] == [
        "arr",
        "new_arr",
        "funnel",
        "recycle",
        "team_load",
        "speed_to_lead",
    ]
    assert set(CHARTS) >= {"waterfall", "segments", "channels"}


def test_monthly_charts_are_ticked_on_quarter_starts(data: ChartData) -> None:
    months = sorted(data.monthly["month"].unique())
    assert months[0] == "2027-01"
    assert len(months) == 7
    for kind in ("arr", "new_arr", "recycle", "team_load"):
        fig = chart(kind, data)
        ax = fig.axes[-1]  # the month axis (the right panel of two-panel charts)
        assert list(ax.get_xticks()) == [0, 3, 6], kind  # January, April, July
        labels = [t.get_text() for t in ax.get_xticklabels()]
        assert labels == ["Jan\n2027", "Apr", "Jul"], kind
        assert ax.get_xlabel() == "month"


def test_month_ticks_thin_to_half_years_then_years() -> None:
    def months(start_year: int, start_month: int, n: int) -> list[str]:
        out = []
        for i in range(n):
            y, m = divmod(start_month - 1 + i, 12)
            out.append(f"{start_year + y}-{m + 1:02d}")
        return out

    major, labels, minor = plots.month_ticks(months(2027, 2, 14))  # Feb 2027 - Mar 2028
    assert major == [2, 5, 8, 11]
    assert minor == major
    assert labels == ["Apr\n2027", "Jul", "Oct", "Jan\n2028"]
    major, labels, minor = plots.month_ticks(months(2027, 1, 36))  # 12 quarters: half years
    assert major == [0, 6, 12, 18, 24, 30]
    assert labels == ["Jan\n2027", "Jul", "Jan\n2028", "Jul", "Jan\n2029", "Jul"]
    assert minor == list(range(0, 36, 3))
    major, labels, _ = plots.month_ticks(months(2027, 1, 60))  # 20 quarters: years
    assert labels == [f"Jan\n{y}" for y in range(2027, 2032)]
    assert plots.month_ticks(["2027-02", "2027-03"])[:2] == ([0, 1], ["Feb\n2027", "Mar"])
    assert plots.month_ticks(["m1", "m2"]) == ([0, 1], ["m1", "m2"], [])


def test_funnel_is_on_a_log_scale_with_every_stage_visible(data: ChartData) -> None:
    ax = chart("funnel", data).axes[0]
    assert ax.get_xscale() == "log"
    assert "log scale" in ax.get_xlabel()
    low, high = ax.get_xlim()
    widths = [p.get_width() for p in ax.patches]
    assert low < min(widths) / 2  # the smallest stage is a bar, not a sliver
    assert high > max(widths)


# ------------------------------------------------------------------------- command line


def _invoke(args: list[str]) -> tuple[int, str, str]:
    result = CliRunner().invoke(chart_command, args)
    return result.exit_code, result.stdout, result.stderr


def test_chart_command_writes_the_default_file_and_a_named_one(folder: Path) -> None:
    code, out, err = _invoke(["funnel", str(folder)])
    assert code == 0, err
    assert out.strip() == f"wrote {folder / 'funnel.png'}"
    assert (folder / "funnel.png").read_bytes()[:8] == PNG_MAGIC
    target = folder.parent / "slides" / "new-arr.svg"
    code, out, err = _invoke(["new-arr", str(folder), "-o", str(target)])
    assert code == 0, err
    assert "<svg" in target.read_text()[:1000]


def test_chart_command_lists_the_kinds_one_line_each() -> None:
    code, out, _ = _invoke(["--list"])
    assert code == 0
    lines = out.strip().splitlines()
    assert [line.split()[0] for line in lines] == list(CHARTS)
    code, out, _ = _invoke(["--help"])
    assert code == 0
    assert all(name in out for name in CHARTS)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["pie", "{folder}"], "error: unknown chart 'pie': use one of arr, new_arr"),
        (["arr", "{missing}"], "no such results folder or scenario file"),
        (["arr", "{folder}", "-o", "{tmp}/arr.jpg"], "unknown suffix '.jpg'"),
        (["arr", "{folder}", "-o", "{tmp}/arr"], "no suffix: write a chart to .png, .svg"),
        (["arr", "{tmp}"], "not a results folder"),
        (["arr"], "error: give a KIND and a SOURCE"),
        (["arr", "{folder}", "--set", "horizon_months=3"], "a results folder is already"),
    ],
)
def test_chart_command_bad_input_is_one_line_and_exit_2(
    folder: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    names = {"folder": str(folder), "missing": str(tmp_path / "nope"), "tmp": str(tmp_path)}
    code, out, err = _invoke([a.format(**names) for a in args])
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("error: ")
    assert message in err
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_chart_command_runs_a_scenario_file(tmp_path: Path) -> None:
    target = tmp_path / "team.png"
    args = ["team_load", str(SCENARIOS / "base.yaml"), "--set", "horizon_months=2"]
    code, _, err = _invoke([*args, "-n", "1", "-w", "1", "-o", str(target)])
    assert code == 0, err
    assert target.read_bytes()[:8] == PNG_MAGIC


def test_chart_of_a_run_without_ledgers_re_runs_one_for_speed_to_lead() -> None:
    results = run(small(months=2), replications=1, seed=5, workers=1)
    data = chart_data(results)
    assert data.speed_note == "replication 0 of the run, re-run with its seed"
    ax = chart("speed_to_lead", data).axes[0]
    assert ax.get_xscale() == "log"
    assert "touched leads" in ax.get_title()

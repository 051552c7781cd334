"""HTML report: self-contained, complete, and rendered without errors by headless Chromium.

The Chromium tests skip when no Chromium is installed; CI installs it with
``apt-get update && apt-get install -y chromium``. To look at a report by hand:
``revloop report results/base -o report.html --screenshot report.png``.
"""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib.pyplot as plt
import pytest
from click.testing import CliRunner

from sim.analysis import report
from sim.cli.analysis import report_command
from sim.cli.experiment import compare_command
from sim.experiment.runner import run
from tests.helpers import SCENARIOS, small

needs_chromium = pytest.mark.skipif(report.chromium() is None, reason="chromium not installed")

CHARTS_PER_SCENARIO = 6  # ARR, new ARR, funnel, recycle, team load, speed to lead


@pytest.fixture(scope="module")
def html(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("report")
    run(small(months=4), replications=2, seed=4, workers=1).save(folder / "base")
    return report.build_report(
        [str(folder / "base"), str(SCENARIOS / "more_sdrs.yaml")],
        folder / "report.html",
        sets=["horizon_months=4"],
        replications=2,
        seed=4,
        workers=1,
        diagnose_replications=2,
    )


def _images(text: str) -> list[str]:
    return re.findall(r'<img [^>]*src="([^"]+)"', text)


def test_report_is_self_contained(html: Path) -> None:
    text = html.read_text()
    links = re.findall(r'(?:src|href)="([^"]+)"', text)
    assert links
    assert all(link.startswith(("data:image/png;base64,", "#")) for link in links)
    assert "http://" not in text
    assert "https://" not in text
    assert "@import" not in text


def test_report_has_every_section_and_chart(html: Path) -> None:
    text = html.read_text()
    # two scenarios' charts + the diagnosis chart + comparison bars and paired differences
    assert len(_images(text)) == 2 * CHARTS_PER_SCENARIO + 1 + 2
    for heading in ("Diagnosis: base", "Comparison", "<h2>base</h2>", "<h2>more_sdrs</h2>"):
        assert heading in text
    assert re.search(r"Bottleneck: (inside sales|field sales|customer success) \(", text)
    assert text.count("One more ") >= 3
    assert "Headline KPIs" in text
    assert "<td>ending_arr</td>" in text
    assert "Differences against base, replication by replication" in text


def test_report_has_the_stage_reports_of_each_scenario(html: Path) -> None:
    text = html.read_text()
    # the saved folder's CSV files and the scenario file's run both give the four tables
    for heading in ("Waterfall (unique leads by arrival quarter)", "Channels", "Segments",
                    "Opportunity phases", "Quota attainment"):  # fmt: skip
        assert text.count(f"<h3>{heading}</h3>") == 2, heading
    assert text.count('<tr class="total"><td>all</td>') == 2
    assert text.count("<td>2027-Q1</td>") == 2
    assert "<td>organic_search</td>" in text
    assert "<td>starting_book</td>" not in text
    assert "<td>mid_market</td>" in text
    assert "<td>business_issue</td>" in text


@needs_chromium
def test_report_renders_in_chromium_with_every_image_shown(html: Path) -> None:
    check = report.browser_check(html)
    assert check.images == 2 * CHARTS_PER_SCENARIO + 3
    assert check.images_shown == check.images
    assert check.console == []
    assert check.ok


@needs_chromium
def test_browser_check_catches_broken_images_and_script_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.html"
    page = Path(report.__file__).read_text()  # reuse the template's own check script
    script = page[page.index("<script>") : page.index("</script>") + len("</script>")]
    bad.write_text(
        '<html><body><img src="data:image/png;base64,AAAA">'
        f"<script>throw new Error('boom')</script>{script}</body></html>"
    )
    check = report.browser_check(bad)
    assert (check.images_shown, check.images) == (0, 1)
    assert any("Uncaught Error: boom" in line for line in check.console)
    assert not check.ok


@needs_chromium
def test_screenshot_and_pdf(html: Path, tmp_path: Path) -> None:
    png = report.screenshot(html, tmp_path / "shot.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the whole page: the image is as tall as the page laid out at its width
    shot = plt.imread(png)
    assert shot.shape[:2] == (report.page_height(html), 1280)
    assert shot.shape[0] > 3000
    pdf = report.pdf(html, tmp_path / "report.pdf")
    assert pdf.read_bytes()[:5] == b"%PDF-"


def test_report_command_bad_input_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        report_command, [str(tmp_path / "nope"), "-o", str(tmp_path / "r.html")]
    )
    assert result.exit_code == 2
    assert "no such results folder or scenario file" in result.output
    assert "Traceback" not in result.output
    result = CliRunner().invoke(report_command, [str(tmp_path), "-o", str(tmp_path / "r.html")])
    assert result.exit_code == 2
    assert "not a results folder" in result.output
    assert not (tmp_path / "r.html").exists()


def test_report_command_writes_the_file(tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    args = [str(SCENARIOS / "base.yaml"), "--set", "horizon_months=3", "-n", "2", "-w", "1"]
    result = CliRunner().invoke(report_command, [*args, "--diagnose-reps", "0", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.output
    text = out.read_text()
    assert len(_images(text)) == CHARTS_PER_SCENARIO
    assert "Diagnosis" not in text


def test_report_reads_a_compare_folder_as_its_scenarios(tmp_path: Path) -> None:
    cmp = tmp_path / "cmp"
    args = [str(SCENARIOS / "base.yaml"), str(SCENARIOS / "more_sdrs.yaml"), "--reps", "2"]
    args += ["--set", "horizon_months=2", "--executor", "serial", "--out", str(cmp)]
    assert CliRunner().invoke(compare_command, args).exit_code == 0
    out = tmp_path / "r.html"
    result = CliRunner().invoke(report_command, [str(cmp), "--diagnose-reps", "0", "-o", str(out)])
    assert result.exit_code == 0, result.output
    # progress off a terminal: one plain line per step
    assert f"report: loading {cmp / 'base'}" in result.output
    text = out.read_text()
    assert len(_images(text)) == 2 * CHARTS_PER_SCENARIO + 2  # and the comparison's two
    assert "distinguishable from zero at 2 pairs" in text  # each difference's verdict

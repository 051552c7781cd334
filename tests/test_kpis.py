"""The KPI registry and the one number format every table, chart and report shares."""

from __future__ import annotations

from typing import get_args

import pytest

from sim import display
from sim.analysis import plots
from sim.analysis.metrics import KPI_GROUPS, KPIS
from sim.experiment.compare import BETTER
from sim.formats import fmt, format_value
from sim.kpis import GROUPS, KPI_REGISTRY, Kpi, Unit, unit_of


def test_the_registry_covers_exactly_the_kpis() -> None:
    assert list(KPI_REGISTRY) == list(KPIS)
    assert all(name == kpi.name for name, kpi in KPI_REGISTRY.items())


def test_every_kpi_is_fully_described() -> None:
    for kpi in KPI_REGISTRY.values():
        assert kpi.unit in get_args(Unit), kpi.name
        assert kpi.direction in (-1, 0, 1), kpi.name
        assert kpi.description.strip().endswith("."), kpi.name
        assert kpi.group in GROUPS, kpi.name
        assert kpi.label.strip(), kpi.name


def test_the_tables_derive_from_the_registry() -> None:
    assert {name: kpi.direction for name, kpi in KPI_REGISTRY.items()} == BETTER
    assert {name: kpi.description for name, kpi in KPI_REGISTRY.items()} == KPIS
    assert sorted(n for names in KPI_GROUPS.values() for n in names) == sorted(KPI_REGISTRY)
    assert all(KPI_REGISTRY[n].group == g for g, names in KPI_GROUPS.items() for n in names)


def test_a_kpi_with_a_wrong_unit_is_refused() -> None:
    with pytest.raises(ValueError, match="unit"):
        Kpi("x", "euros", "X.", 1, "money", "x")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="direction"):
        Kpi("x", "usd", "X.", 2, "money", "x")


@pytest.mark.parametrize(
    ("value", "unit", "signed", "text"),
    [
        (1_234_567.0, "usd", False, "$1.23M"),
        (15_100_000.0, "usd", False, "$15.10M"),
        (888_800.0, "usd", False, "$888.8k"),
        (-1_490_000.0, "usd", False, "-$1.49M"),
        (999_999.0, "usd", False, "$1.00M"),
        (2_500_000_000.0, "usd", True, "+$2.50B"),
        (4_200.0, "usd", False, "$4,200"),
        (0.2345, "share", False, "23.4%"),
        (-0.05, "share", True, "-5.0%"),
        (1234.0, "count", False, "1,234"),
        (12.0, "count", True, "+12"),
        (3.25, "hours", False, "3.25"),
        (0.5, "ratio", False, "0.5"),
        (float("nan"), "usd", False, "-"),
        (float("inf"), "count", False, "-"),
    ],
)
def test_one_format_per_unit(value: float, unit: str, signed: bool, text: str) -> None:
    assert format_value(value, unit, signed) == text


def test_fmt_reads_the_unit_from_the_registry() -> None:
    assert fmt("ending_arr", 15_100_000.0) == "$15.10M"
    assert fmt("mqls_untouched_share", 0.125) == "12.5%"
    assert fmt("speed_to_lead_hours", 3.25) == "3.25"
    assert fmt("wins", 1234.0) == "1,234"
    # a column that is no KPI is read by its name
    assert unit_of("arr") == "usd"
    assert unit_of("wait_days") == "days"
    assert unit_of("utilisation") == "share"


@pytest.mark.parametrize("kpi", ["ending_arr", "nrr", "wins", "speed_to_lead_hours", "ltv"])
@pytest.mark.parametrize("value", [0.0, 0.4321, 57.0, 888_800.0, -1_490_000.0])
def test_every_formatter_agrees(kpi: str, value: float) -> None:
    expected = fmt(kpi, value)
    assert plots.fmt_value(kpi, value) == expected
    assert display.value(kpi, value) == expected


def test_chart_labels_name_the_kpi_and_its_unit() -> None:
    assert plots.label("ending_arr") == "ending ARR ($)"
    assert plots.label("win_rate") == "win rate (%)"
    assert plots.label("speed_to_lead_hours") == "speed to lead (hours)"
    assert plots.label("speed_to_lead_median_business_hours") == (
        "median speed to lead (working hours)"
    )
    assert plots.label("wins") == "wins"

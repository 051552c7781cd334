"""The contract every command shares: exit statuses and one located line per problem."""

from __future__ import annotations

import errno
import sys

import pytest

from sim.analysis.metrics import KPI_GROUPS
from sim.calibrate.report import CrmError
from sim.cli.common import EXIT_BAD_INPUT, EXIT_INTERNAL, fmt, guard
from sim.errors import (
    InputError,
    InvariantError,
    MissingExtra,
    Problem,
    ResultsError,
    RevloopError,
    ScenarioError,
)
from sim.experiment.executors import _import_distributed
from sim.experiment.plan import PlanError
from sim.experiment.store import StoreError
from sim.experiment.sweep import SweepError


def _exit(error: BaseException, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    def boom() -> None:
        raise error

    with pytest.raises(SystemExit) as stop:
        guard(boom)
    captured = capsys.readouterr()
    assert captured.out == ""  # problems go to stderr only
    code = stop.value.code
    assert isinstance(code, int)
    return code, captured.err.splitlines()


@pytest.mark.parametrize("kind", [ScenarioError, CrmError])
def test_input_errors_print_one_located_line_per_problem(
    kind: type[ScenarioError] | type[CrmError], capsys: pytest.CaptureFixture[str]
) -> None:
    problems = [
        Problem("must be >= 0", "inside_sales.headcount", "a.yaml", 7, -1),
        Problem("unknown field", "marketing.scorng", "a.yaml", 12),
    ]
    code, lines = _exit(kind(problems), capsys)
    assert code == EXIT_BAD_INPUT
    assert lines == [
        "a.yaml:7: inside_sales.headcount: must be >= 0 (got -1)",
        "a.yaml:12: marketing.scorng: unknown field",
        "2 problem(s) found.",
    ]


def test_results_and_file_errors_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, lines = _exit(ResultsError("out/: no such results folder"), capsys)
    assert (code, lines) == (EXIT_BAD_INPUT, ["error: out/: no such results folder"])
    denied = PermissionError(errno.EACCES, "Permission denied", "/root/x.csv")
    code, lines = _exit(denied, capsys)
    assert (code, lines) == (EXIT_BAD_INPUT, ["error: /root/x.csv: permission denied"])


@pytest.mark.parametrize("kind", [PlanError, StoreError, SweepError])
def test_plan_sweep_and_store_errors_are_input_errors_not_scenario_errors(
    kind: type[InputError], capsys: pytest.CaptureFixture[str]
) -> None:
    assert not issubclass(kind, ScenarioError)
    code, lines = _exit(kind([Problem("holds another sweep", file="out.duckdb")]), capsys)
    assert (code, lines) == (
        EXIT_BAD_INPUT,
        ["out.duckdb: holds another sweep", "1 problem(s) found."],
    )


def test_a_missing_extra_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # ``import distributed`` fails
    with pytest.raises(MissingExtra) as caught:
        _import_distributed()
    error = caught.value
    assert isinstance(error, RevloopError)
    assert isinstance(error, ImportError)
    assert not isinstance(error, InputError)
    assert error.extra == "dask"
    code, lines = _exit(error, capsys)
    assert (code, lines) == (
        EXIT_BAD_INPUT,
        ['error: running on Dask needs the optional extra: pip install "revloop[dask]"'],
    )


def test_a_broken_invariant_is_reported_as_a_bug(capsys: pytest.CaptureFixture[str]) -> None:
    code, lines = _exit(InvariantError("leads not conserved"), capsys)
    assert code == EXIT_INTERNAL
    assert lines == ["internal error (please report): leads not conserved"]


def test_other_exceptions_are_not_swallowed() -> None:
    def boom() -> None:
        raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        guard(boom)


@pytest.mark.parametrize(
    ("kpi", "value", "signed", "text"),
    [
        ("ending_arr", 21_345_678.0, False, "$21.35M"),
        ("ending_arr", -250_000.0, True, "-$250.0k"),
        ("cac_blended", 41_250.0, False, "$41.2k"),
        ("win_rate", 0.2345, True, "+23.4%"),
        ("wins", 1234.0, False, "1,234"),
        ("speed_to_lead_hours", 3.25, False, "3.25"),
        ("ending_arr", float("nan"), False, "-"),
    ],
)
def test_numbers_are_formatted_by_kind(kpi: str, value: float, signed: bool, text: str) -> None:
    assert fmt(kpi, value, signed) == text


def test_every_money_kpi_prints_as_money() -> None:
    ratios = {"cac_payback_months", "ltv_to_cac", "magic_number", "nrr", "grr"}
    money = [k for k in (*KPI_GROUPS["money"], *KPI_GROUPS["revenue"]) if k not in ratios]
    assert [k for k in money if not fmt(k, 1.0).startswith("$")] == []
    assert [k for k in ratios if fmt(k, 1.0).startswith("$")] == []

"""The model against theory: every check of ``revloop check-model`` must pass.

Each check asserts the closed-form value computed from its scenario, with a tolerance
from the simulation's own confidence interval (99.9%), never a seeded number.
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from sim.cli import main
from sim.validation.checks import HERE, SUITE, Check, little_check
from tests.helpers import BASE

REPS = 20


def _assert_all_pass(checks: list[Check]) -> None:
    failed = [
        f"{c.check} / {c.quantity}: theory {c.expected:.5g}, simulated {c.simulated:.5g} "
        f"(tolerance {c.tolerance:.3g})"
        for c in checks
        if not c.passed
    ]
    assert not failed, "\n".join(failed)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("function", "scenario"), SUITE, ids=[name.removesuffix(".yaml") for _, name in SUITE]
)
def test_simulation_reproduces_theory(function, scenario) -> None:  # type: ignore[no-untyped-def]
    checks = function(HERE / scenario, REPS, 12345, 2)
    assert checks
    for c in checks:
        # power: the 95% CI must be tight enough to mean something
        assert c.ci95 < 0.1 * max(abs(c.expected), 1e-9) or c.check == "Poisson arrivals"
    _assert_all_pass(checks)


@pytest.mark.slow
def test_littles_law_on_every_queue_of_the_base_scenario() -> None:
    checks = little_check(BASE, 3, 7, 2)
    assert [c.quantity.split(" queue")[0] for c in checks] == [
        "inside sales",
        "field sales",
        "customer success",
    ]
    assert checks[0].expected > 20  # inside sales really queues in the base (nights, weekends)
    _assert_all_pass(checks)


def test_a_wrong_theory_value_fails_the_check() -> None:
    # the verdict is not a formality: shift the theory by 5 CIs and the check fails
    (function, scenario) = SUITE[3]  # Erlang A
    check = function(HERE / scenario, 5, 1, 1)[0]
    assert check.passed
    moved = Check(**{**check.__dict__, "expected": check.expected + 5 * check.tolerance})
    assert not moved.passed


def test_check_model_command_prints_the_table() -> None:
    result = CliRunner().invoke(main, ["check-model", "--help"])
    assert result.exit_code == 0
    assert "Erlang" in result.output

"""The ``revloop`` group, and every command registered on it."""

from __future__ import annotations

import click

from sim.cli.analysis import chart_command, diagnose_command, export_command, report_command
from sim.cli.app import app_command
from sim.cli.calibrate import backtest_command, calibrate_command, forecast_command
from sim.cli.checks import check_model, realism_command
from sim.cli.common import Group
from sim.cli.experiment import (
    compare_command,
    plan_command,
    reverse_funnel_command,
    sweep_command,
)
from sim.cli.run import bench, run_command, validate

__all__ = ["main"]


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="revloop")
def main() -> None:
    """revloop: Monte Carlo simulation of a B2B revenue organisation.

    Leads flow marketing -> inside sales -> field sales -> customer success, and whatever
    falls out is recycled. Bad input exits with status 2 and one line per problem.
    """


for _command in (
    validate,
    run_command,
    bench,
    app_command,
    check_model,
    compare_command,
    sweep_command,
    plan_command,
    reverse_funnel_command,
    diagnose_command,
    report_command,
    chart_command,
    export_command,
    calibrate_command,
    backtest_command,
    forecast_command,
    realism_command,
):
    main.add_command(_command)

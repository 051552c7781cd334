"""The options ``revloop`` commands share, each written once.

Every command that reads a scenario takes ``--set``; those that run replications take
``--reps``, ``--seed`` and ``--workers`` (and, for the experiments, ``--executor`` and
``--scheduler``); most write an ``--out`` folder or file. The decorators here map those flags
to the library's parameters with the same names, defaults and help everywhere.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Literal, TypeVar, cast

import click

__all__ = [
    "AUTO_MIN_REPS",
    "count_option",
    "executor_options",
    "out_option",
    "rep_count_option",
    "reps_options",
    "results_seed_option",
    "scenarios_set_option",
    "seed_option",
    "set_option",
    "stack",
    "workers_option",
]

F = TypeVar("F", bound=Callable[..., Any])


def stack(*options: Callable[[Any], Any]) -> Callable[[F], F]:
    """One decorator applying ``options`` in the order written (the first one listed first
    in ``--help``, as if each were written above the command in turn)."""

    def decorate(command: F) -> F:
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


set_option = click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="PATH=VALUE",
    help="Override a scenario value, e.g. --set inside_sales.headcount=12 (repeatable).",
)
"""The ``--set PATH=VALUE`` option every command that reads a scenario takes."""

scenarios_set_option = click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="PATH=VALUE",
    help="Override a value in every scenario, e.g. --set horizon_months=12 (repeatable).",
)
"""``--set`` of the experiment commands (compare, plan, reverse-funnel): every scenario."""

seed_option = click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0))
"""``--seed``: the root seed, 0 by default."""

results_seed_option = click.option(
    "--seed",
    default=None,
    type=click.IntRange(min=0),
    help="Root seed (default: a results folder's own seed, else 0).",
)
"""``--seed`` of the commands that read a results folder or run a scenario file."""

workers_option = click.option(
    "--workers", "-w", default=None, type=click.IntRange(min=1), help="Default: one per CPU."
)
"""The ``--workers`` option of commands that run replications on local processes."""

_where = stack(
    workers_option,
    click.option(
        "--executor",
        type=click.Choice(["processes", "serial"]),
        default="processes",
        show_default=True,
        help="Local processes or this process (ignored with --scheduler).",
    ),
    click.option(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="Run on a Dask cluster, e.g. tcp://host:8786 (needs revloop[dask]).",
    ),
)


def executor_options(command: F) -> F:
    """``--workers``, ``--executor`` and ``--scheduler``: where an experiment's tasks run.

    ``command`` gets ``workers`` and ``executor``, the library's parameters: the Dask
    scheduler's address if ``--scheduler`` is given, else ``processes`` or ``serial``.
    """

    @functools.wraps(command)
    def where(*args: Any, executor: str, scheduler: str | None, **kwargs: Any) -> Any:
        return command(*args, executor=scheduler or executor, **kwargs)

    return cast(F, _where(where))


def count_option(
    *names: str, default: int, minimum: int, help: str | None = None
) -> Callable[[F], F]:
    """An option taking a whole number, at least ``minimum``, its default shown in help."""
    return click.option(
        *names, default=default, show_default=True, type=click.IntRange(min=minimum), help=help
    )


def rep_count_option(
    default: int, minimum: int = 1, help: str | None = None, short: bool = True
) -> Callable[[F], F]:
    """``--reps`` (and ``-n`` if ``short``): a whole number of replications, at least
    ``minimum``."""
    names = ("--reps", "-n") if short else ("--reps",)
    return count_option(*names, default=default, minimum=minimum, help=help)


def out_option(
    help: str | None = None,
    kind: Literal["folder", "file", "any"] = "folder",
    required: bool = False,
    default: str | None = None,
    metavar: str | None = None,
) -> Callable[[F], F]:
    """``--out``/``-o``: the ``folder`` (or ``file``, or ``any`` path) a command writes."""
    types = {
        "folder": click.Path(file_okay=False),
        "file": click.Path(dir_okay=False),
        "any": click.Path(),
    }
    return click.option(
        "--out",
        "-o",
        required=required,
        default=default,
        show_default=default is not None,
        type=types[kind],
        metavar=metavar,
        help=help,
    )


AUTO_MIN_REPS = 10
"""Replications ``--reps auto`` starts with (fewer if ``--max-reps`` is lower)."""


def _reps(ctx: click.Context, param: click.Parameter, value: Any) -> int | str:
    if value == "auto" or (isinstance(value, int) and value >= 1):
        return value  # type: ignore[no-any-return]
    try:
        reps = int(value)
    except (TypeError, ValueError):
        reps = 0
    if reps < 1:
        raise click.BadParameter(f"must be a positive integer or 'auto' (got {value!r})")
    return reps


def reps_options(default: str, reps_help: str) -> Callable[[F], F]:
    """``--reps N|auto`` and the stopping rule of ``auto``: ``--target-kpi``, ``--target``,
    ``--max-reps`` (passed on as ``reps``, ``target_kpi``, ``target``, ``max_reps``)."""
    return stack(
        click.option(
            "--reps", "-n", default=default, show_default=True, callback=_reps, help=reps_help
        ),
        click.option(
            "--target-kpi", default="ending_arr", show_default=True, help="--reps auto: the KPI."
        ),
        click.option(
            "--target",
            default=0.02,
            show_default=True,
            type=click.FloatRange(min=0, min_open=True),
            help="--reps auto: stop when the 95%% CI half-width of the KPI's mean is below "
            "this share of the mean.",
        ),
        click.option(
            "--max-reps",
            default=200,
            show_default=True,
            type=click.IntRange(min=2),
            help="--reps auto: the most replications it may run.",
        ),
    )

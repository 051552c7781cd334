"""What every ``revloop`` command shares: exit codes, consoles, the bad-input guard, numbers.

Every command turns bad input into one line per problem on stderr and exit status 2 (never a
traceback), a broken conservation law into exit status 3, worker processes that kept dying
into 5, and an interruption into 130; a
check that ran and failed (``check-model``, ``realism``) exits with 1. This module holds that
contract once, so that every command module of :mod:`sim.cli` behaves the same way; the
options the commands share are in :mod:`sim.cli.options`.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click
import rich.table
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TimeRemainingColumn,
)
from rich.text import Text

from sim.errors import (
    InputError,
    InvariantError,
    MissingExtra,
    OutputError,
    ResultsError,
    WorkersLost,
)
from sim.formats import fmt

if TYPE_CHECKING:
    from sim.scenario.schema import Scenario

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_CHECK_FAILED",
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "EXIT_WORKERS_LOST",
    "Group",
    "Table",
    "bundled_scenario",
    "fail",
    "fmt",
    "guard",
    "load",
    "nothing_kept",
    "progress_bar",
    "say",
    "stderr",
    "stdout",
    "steps",
    "wrote",
]

T = TypeVar("T")

EXIT_CHECK_FAILED = 1
"""A check ran and found something outside what it checks (check-model, realism)."""
EXIT_BAD_INPUT = 2
"""Bad input: a scenario, a CRM export, an option or a results folder that cannot be used."""
EXIT_INTERNAL = 3
"""A replication broke a conservation law: a bug, reported as such."""
EXIT_WORKERS_LOST = 5
"""Worker processes kept dying (killed, out of memory) even on fresh pools; what finished
was kept and the message says what is missing."""
EXIT_INTERRUPTED = 130
"""Interrupted (Ctrl-C); whatever was computed has been kept."""


class Table(rich.table.Table):
    """A table that never cuts a value in a narrow terminal (no ``$15.1…``): a cell that
    does not fit wraps onto more lines, so every character of a name or an amount is shown.
    """

    def add_column(self, *args: Any, **kwargs: Any) -> None:
        """Add a column that wraps (never truncates) what does not fit."""
        kwargs["overflow"] = "fold"
        kwargs["no_wrap"] = False
        super().add_column(*args, **kwargs)


PIPED_WIDTH = 240
"""Width of tables written to a pipe or a file (a terminal's own width applies on a
terminal; ``COLUMNS`` overrides both): wide enough that no table is cut."""


def stdout() -> Console:
    """A console on standard output.

    Made per call, not at import, so that it writes to the stream in force (a test's
    ``CliRunner`` swaps them). Off a terminal its width is :data:`PIPED_WIDTH`, so tables
    keep whole names and numbers when piped or logged.
    """
    return _console(stderr=False)


def stderr() -> Console:
    """A console on standard error (progress, warnings, problems)."""
    return _console(stderr=True)


def _console(stderr: bool) -> Console:
    console = Console(stderr=stderr)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = PIPED_WIDTH
    return console


def say(text: str, error: bool = False) -> None:
    """Print ``text`` as is (no markup, no highlighting, no wrapping) on stdout or stderr."""
    (stderr() if error else stdout()).print(text, markup=False, highlight=False, soft_wrap=True)


def fail(message: str) -> NoReturn:
    """Print ``error: message`` as one line on stderr and exit with status 2."""
    say(f"error: {message}", error=True)
    sys.exit(EXIT_BAD_INPUT)


def guard(action: Callable[[], T], flags: Mapping[str, str] | None = None) -> T:
    """Run ``action`` and turn the errors revloop raises on purpose into exit statuses.

    ``flags`` maps the parameter names that library errors are located by to the command's
    options (``{"target_arr": "--target-arr"}``), so the messages name what the user typed.

    - :class:`~sim.errors.InputError` (a scenario, a plan, a CRM export): one
      ``file:line: field: message (got value)`` line per problem, a count, exit 2;
    - :class:`~sim.errors.ResultsError` (a results folder) and
      :class:`~sim.errors.OutputError` (a file that cannot be written): ``error: ...``, exit 2;
    - :class:`~sim.errors.MissingExtra` (an optional extra not installed): ``error: ...``
      naming the ``pip install``, exit 2;
    - :class:`OSError` (a file that cannot be read or written): ``error: ...``, exit 2;
    - :class:`~sim.errors.WorkersLost` (worker processes kept dying): ``error: ...``, exit 5;
    - :class:`~sim.errors.InvariantError`: ``internal error (please report)``, exit 3.
    """
    try:
        return action()
    except InputError as err:
        for problem in err.problems:
            if flags and problem.path in flags:
                problem = dataclasses.replace(problem, path=flags[problem.path])
            say(str(problem), error=True)
        stderr().print(f"{len(err.problems)} problem(s) found.", style="bold red")
        sys.exit(EXIT_BAD_INPUT)
    except (ResultsError, OutputError, MissingExtra) as err:
        fail(str(err))
    except OSError as err:
        fail(_os_message(err))
    except WorkersLost as err:
        say(f"error: {err}; what finished was kept where the command keeps it", error=True)
        sys.exit(EXIT_WORKERS_LOST)
    except InvariantError as err:
        say(f"internal error (please report): {err}", error=True)
        sys.exit(EXIT_INTERNAL)


class Group(click.Group):
    """The ``revloop`` group: Ctrl-C anywhere in a command is one line and exit 130.

    Commands that keep partial work catch :class:`KeyboardInterrupt` themselves; this is the
    net under the rest (loading, saving, printing), in place of click's ``Aborted!`` and 1.
    """

    def invoke(self, ctx: click.Context) -> object:
        """Run the command; a :class:`KeyboardInterrupt` exits with 130 and no traceback."""
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            say("interrupted", error=True)
            sys.exit(EXIT_INTERRUPTED)


PLAIN_EVERY_SECONDS = 5.0
"""Off a terminal (a pipe, a log, CI), progress is a plain line at most this often, plus the
first and the last."""


class _RateColumn(ProgressColumn):
    """Units per second, averaged since the start."""

    def __init__(self, unit: str) -> None:
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        """The rate, or ``-`` before there is one."""
        speed = task.finished_speed or task.speed
        return Text("-" if speed is None else f"{speed:.2f} {self.unit}/s", "progress.data.speed")


@contextmanager
def progress_bar(
    label: str, total: int | None = None, unit: str = "replications"
) -> Iterator[Callable[[int, int], None]]:
    """The ``progress(done, total)`` callback of a long job, shown on stderr.

    On a terminal a live bar (done / total, rate, time left); anywhere else (a pipe, a log,
    CI, ``nohup``) a plain line such as ``compare: 12/40 replications, 0.50 replications/s,
    00:00:56 left`` at most every :data:`PLAIN_EVERY_SECONDS`, and on the first and the last
    call. Work already done when the first call comes (stored simulations) does not count
    towards the rate, so the time left does not jump.
    """
    err = stderr()
    if err.is_terminal:
        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            _RateColumn(unit),
            TimeRemainingColumn(),
            console=err,
            transient=True,
        ) as bar:
            task = bar.add_task(label, total=total)

            def update(done: int, total: int) -> None:
                if bar.tasks[task].total is None:
                    bar.reset(task, total=total, completed=done)
                else:
                    bar.update(task, total=total, completed=done)

            yield update
        return
    start = time.monotonic()
    first: list[int] = []
    last = [-math.inf]
    shown: list[tuple[int, int]] = [(-1, -1)]  # the last step printed

    def line(done: int, total: int) -> None:
        now = time.monotonic()
        if not first:
            first.append(done)
        if now - last[0] < PLAIN_EVERY_SECONDS and done < total and len(first) > 1:
            return
        if shown[0] == (done, total):
            return  # the same step told twice (a month that ends a replication)
        shown[0] = (done, total)
        first.append(done)
        last[0] = now
        rate = (done - first[0]) / (now - start) if now > start else 0.0
        left = (total - done) / rate if rate > 0 else math.inf
        eta = "-" if not math.isfinite(left) else time.strftime("%H:%M:%S", time.gmtime(left))
        say(f"{label}: {done}/{total} {unit}, {rate:.2f} {unit}/s, {eta} left", error=True)

    yield line


@contextmanager
def steps(label: str) -> Iterator[Callable[[str], None]]:
    """The ``progress(step)`` callback of a job made of named steps (report, diagnose): a
    spinner on a terminal, one plain line per step with the time since the start elsewhere.
    """
    err = stderr()
    if err.is_terminal:
        with err.status(label) as status:
            yield lambda step: status.update(f"{label}: {step}")
        return
    start = time.monotonic()

    def line(step: str) -> None:
        elapsed = time.strftime("%H:%M:%S", time.gmtime(time.monotonic() - start))
        say(f"{label}: {step} ({elapsed} in)", error=True)

    yield line


def _os_message(err: OSError) -> str:
    if err.strerror and err.filename:
        return f"{err.filename}: {err.strerror.lower()}"
    return str(err)


def load(path: str | Path, sets: Sequence[str] = ()) -> Scenario:
    """The scenario at ``path`` with the ``--set`` overrides ``sets`` (bad input exits 2)."""
    from sim.scenario import load_scenario

    return guard(lambda: load_scenario(path, sets))


def bundled_scenario(name: str) -> Path:
    """The path of the bundled scenario ``name``; exits 2 if this install lacks it."""
    from sim.scenario import bundled

    here = bundled(name)
    if not here.exists():
        fail(f"no bundled scenario {name}; pass a scenario file")
    return here


@contextmanager
def nothing_kept() -> Iterator[None]:
    """Around a job that keeps nothing if stopped: Ctrl-C says so and exits with 130."""
    try:
        yield
    except KeyboardInterrupt:
        stderr().print("interrupted: nothing kept", style="yellow")
        sys.exit(EXIT_INTERRUPTED)


def wrote(what: str, folder: str | Path) -> None:
    """Say that ``what`` (file names) was written to ``folder``."""
    stdout().print(f"wrote {what} to {folder}/", highlight=False)

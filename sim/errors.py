"""Errors raised by revloop for bad user input.

Every problem names where it was found (file and line when known), the dotted field path,
what is wrong and the offending value, so that the command line can print it without a
traceback and exit with status 2.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

_MISSING: Any = object()


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a scenario, located as precisely as the input allows."""

    message: str
    path: str = ""
    file: str | None = None
    line: int | None = None
    value: Any = field(default=_MISSING)

    def __str__(self) -> str:
        where = self.file or "<input>"
        if self.line is not None:
            where = f"{where}:{self.line}"
        parts = [where]
        if self.path:
            parts.append(self.path)
        text = ": ".join(parts) + f": {self.message}"
        if self.value is not _MISSING:
            text += f" (got {_short(self.value)})"
        return text


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class RevloopError(Exception):
    """Base class of every error revloop raises on purpose."""


class InputError(RevloopError):
    """Input that cannot be used, with every problem found, each located.

    Attributes
    ----------
    problems
        Every problem found, in file order where possible.
    """

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class ScenarioError(InputError):
    """A scenario (or a file it extends, or a ``--set`` override) is invalid."""


class StoreError(InputError):
    """A results store cannot be used: in use, not a store, made by another sweep or search,
    or by other revloop code."""


class ResultsError(RevloopError, ValueError):
    """A results folder is missing, incomplete or unreadable."""


class OutputError(RevloopError, OSError):
    """A file or folder could not be written (a full disk, a folder that is not revloop's).

    The message names the file; what was there before is left as it was.
    """


class MissingExtra(RevloopError, ImportError):
    """An optional part of revloop is not installed; the message says how to install it.

    Attributes
    ----------
    extra
        The extra to install (``dask``, ``app``).
    """

    def __init__(self, extra: str, needed_for: str) -> None:
        self.extra = extra
        super().__init__(f'{needed_for} needs the optional extra: pip install "revloop[{extra}]"')


class InvariantError(RevloopError):
    """A replication broke a conservation law (leads or ARR). This is a bug, never bad input."""


class WorkersLost(RevloopError):
    """Worker processes kept dying: some tasks did not finish even on fresh pools.

    Attributes
    ----------
    missing
        Positions (in the task list) of the tasks that never finished.
    total
        How many tasks there were.
    pools
        How many pools broke.
    """

    def __init__(self, missing: list[int], total: int, pools: int) -> None:
        self.missing = missing
        self.total = total
        self.pools = pools
        super().__init__(
            f"worker processes died: {len(missing)} of {total} task(s) did not finish "
            f"after {pools} pool(s) broke (out of memory, or killed?)"
        )

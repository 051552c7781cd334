"""The jobs that read saved results, reachable from results held in memory too.

:func:`report` and :func:`export` take :class:`~sim.experiment.results.Results` (and, for
the report, a :class:`~sim.experiment.compare.Comparison`) as well as results folders: what
is in memory is saved into a temporary folder with :meth:`Results.save` and read back by the
same code that reads folders, so both give the same report and workbook.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from sim.analysis import export as finance
from sim.analysis.report import build_report
from sim.experiment.compare import Comparison
from sim.experiment.results import Results

__all__ = ["export", "report"]

Saved = Results | Comparison | str | os.PathLike[str]
"""Results in memory, or where they are: a results folder, a compare folder, a scenario file."""


@contextlib.contextmanager
def _folders(sources: Sequence[Saved]) -> Iterator[list[str]]:
    """The sources as paths: results in memory saved into a temporary folder (removed on
    exit), one folder per scenario of a comparison; paths passed through."""
    with tempfile.TemporaryDirectory(prefix="revloop-") as tmp:
        paths = []
        for i, source in enumerate(sources):
            if isinstance(source, Comparison):
                members = list(zip(source.labels, source.results, strict=True))
            elif isinstance(source, Results):
                members = [(source.scenario.name, source)]
            else:
                paths.append(os.fspath(source))
                continue
            for label, results in members:
                folder = Path(tmp, str(i), label)
                results.save(folder)
                paths.append(str(folder))
        yield paths


def report(
    source: Saved | Sequence[Saved],
    out: str | os.PathLike[str],
    *,
    sets: Sequence[str] = (),
    replications: int = 10,
    seed: int = 0,
    workers: int | None = None,
    diagnose_replications: int = 5,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Write the HTML report of one or more runs.

    Parameters
    ----------
    source
        :class:`~sim.experiment.results.Results` or a
        :class:`~sim.experiment.compare.Comparison` held in memory, a results folder, a
        compare folder or a scenario file (run here), or a list of these; the first
        scenario is the baseline.
    out
        The HTML file.
    sets, replications, seed, workers
        Overrides and the run of scenario files (results are reported as they are).
    diagnose_replications
        Replications of each paired run of the first scenario's diagnosis
        (:func:`sim.diagnose`); 0 leaves the diagnosis out.
    progress
        Called with a short description of each step.

    Returns
    -------
    pathlib.Path
        The report written (see :func:`sim.analysis.report.build_report`).

    Raises
    ------
    ResultsError
        If a path is neither a results folder nor a scenario file.
    """
    one = isinstance(source, Results | Comparison | str | os.PathLike)
    sources: list[Saved] = [source] if one else list(source)  # type: ignore[list-item, arg-type]
    with _folders(sources) as folders:
        return build_report(
            folders, out, sets, replications, seed, workers, diagnose_replications, progress
        )


def export(
    source: Results | str | os.PathLike[str],
    out: str | os.PathLike[str] | None = None,
    fmt: finance.Format = "xlsx",
) -> list[Path]:
    """Write the finance tables of a run as one workbook (or as CSV files).

    Parameters
    ----------
    source
        :class:`~sim.experiment.results.Results` held in memory, or a results folder.
    out
        The workbook (or, with ``fmt="csv"``, the folder of CSV files); for a results
        folder, by default ``finance.xlsx`` (``finance/``) in it. Needed for results in
        memory.
    fmt
        ``xlsx`` or ``csv`` (see :func:`sim.analysis.export.export`).

    Returns
    -------
    list[pathlib.Path]
        The workbook, or the CSV files.

    Raises
    ------
    ValueError
        If ``out`` is missing for results in memory.
    ResultsError
        If the folder cannot be read, or the format is unknown.
    """
    if not isinstance(source, Results):
        return finance.export(source, fmt, out)
    if out is None:
        raise ValueError("out is needed to export results held in memory: where to write")
    with _folders([source]) as (folder,):
        return finance.export(folder, fmt, out)

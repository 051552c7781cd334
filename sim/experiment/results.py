"""Results of many replications: tidy tables, summaries, and a folder written as a unit."""

from __future__ import annotations

import datetime as dt
import os
import platform
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sim import display
from sim.analysis import motion
from sim.analysis.metrics import KPIS
from sim.engine.ledger import Ledger
from sim.errors import WorkersLost
from sim.io import csv_writer, write_folder, write_json
from sim.scenario.schema import Scenario
from sim.stats import ci_half_width

if TYPE_CHECKING:
    from matplotlib.figure import Figure

PERCENTILES = (10, 50, 90)


@dataclass
class Replication:
    """What one replication contributes to a run.

    ``motion`` holds the stage reports of :mod:`sim.analysis.motion` (keyed as in
    :data:`~sim.analysis.motion.TABLES`), computed where the replication ran because the
    ledger they come from is not kept by default.
    """

    replication: int
    seed: str
    kpis: dict[str, float]
    monthly: dict[str, np.ndarray[Any, Any]]
    ledger: Ledger | None = None
    motion: dict[str, pd.DataFrame] | None = None


@dataclass(repr=False)
class Results(display.Shown):
    """The replications of one scenario, in replication order.

    ``complete`` is False when the run was interrupted or lost worker processes: the
    finished replications are kept, and ``lost`` lists the replications that worker
    processes kept dying on.

    In a notebook it shows itself as a short table (scenario, replications, seed, horizon,
    ending ARR); :meth:`to_frame` gives the KPIs per replication and :meth:`plot` its charts.
    """

    scenario: Scenario
    seed: int
    requested: int
    replications: list[Replication] = field(default_factory=list)
    months: list[str] = field(default_factory=list)
    complete: bool = True
    lost: list[int] = field(default_factory=list)
    restarts: int = 0
    """How many times a worker process died and its replications ran again on a fresh pool."""
    converged: bool = True
    """With ``replications="auto"``: whether the stopping rule was met before its cap."""

    def whole(self) -> Results:
        """These results if every replication finished; for callers that need all of them.

        Raises
        ------
        WorkersLost
            If worker processes kept dying on some replications (listed in ``lost``).
        KeyboardInterrupt
            If the run was interrupted: the caller stops too.
        """
        if self.lost:
            raise WorkersLost(self.lost, self.requested, self.restarts + 1)
        if not self.complete:
            raise KeyboardInterrupt
        return self

    def _facts(self) -> display.Facts:
        done = f"{len(self.replications)}"
        if len(self.replications) != self.requested:
            done += f" of {self.requested}"
        if not self.complete:
            done += " (incomplete)"
        return f"Results: {self.scenario.name}", [
            ("replications", done),
            ("seed", str(self.seed)),
            ("horizon", display.horizon(self.months)),
            ("ending ARR", display.band("ending_arr", self._kpi("ending_arr"))),
        ]

    def _kpi(self, name: str) -> list[float]:
        return [r.kpis.get(name, np.nan) for r in self.replications]

    def to_frame(self) -> pd.DataFrame:
        """The natural table of a run: one row per replication, one column per KPI.

        Returns
        -------
        pandas.DataFrame
            ``replication``, ``seed`` and every KPI (the same as :meth:`kpis`).
        """
        return self.kpis()

    def plot(self, kind: str = "arr") -> Figure:
        """Draw one of the run's charts.

        Parameters
        ----------
        kind
            A chart of :data:`sim.analysis.charts.CHARTS`: ``arr`` (month-end ARR, P50 and
            P10-P90), ``new_arr``, ``funnel``, ``recycle``, ``team_load``, ``speed_to_lead``,
            ``waterfall``, ``segments`` or ``channels``.

        Returns
        -------
        matplotlib.figure.Figure

        Raises
        ------
        ValueError
            If ``kind`` is unknown (the message lists the kinds).
        """
        from sim.analysis import charts

        return charts.chart(kind, self)

    def finance(
        self, period: str = "monthly", metrics: Sequence[str] | None = None
    ) -> pd.DataFrame:
        """The finance table of one period, as the workbook of :func:`sim.export` has it.

        Parameters
        ----------
        period
            ``monthly``, ``quarterly`` or ``annual``.
        metrics
            Figures to keep (keys of :data:`sim.analysis.export.FINANCE_METRICS`, e.g.
            ``arr``, ``new_arr``, ``bookings``), each with its mean, P10, P50 and P90
            columns; default: every column.

        Returns
        -------
        pandas.DataFrame
            One row per period (indexed by ``Period``), then the ``Total`` row.
        """
        from sim.analysis.export import STATISTICS, column, finance_tables

        table = finance_tables(self.monthly())[period].set_index("Period")
        if metrics is None:
            return table
        return table[[column(m, s) for m in metrics for s in STATISTICS]]

    def kpis(self) -> pd.DataFrame:
        """One row per replication, one column per KPI."""
        rows = [{"replication": r.replication, "seed": r.seed, **r.kpis} for r in self.replications]
        return pd.DataFrame(rows, columns=["replication", "seed", *KPIS])

    def monthly(self) -> pd.DataFrame:
        """Tidy monthly table: scenario, replication, seed, month, metric, value."""
        frames = []
        n = len(self.months)
        for r in self.replications:
            metrics = list(r.monthly)
            frames.append(
                pd.DataFrame(
                    {
                        "scenario": self.scenario.name,
                        "replication": r.replication,
                        "seed": r.seed,
                        "month": np.tile(self.months, len(metrics)),
                        "metric": np.repeat(metrics, n),
                        "value": np.concatenate([r.monthly[m] for m in metrics]),
                    }
                )
            )
        if not frames:
            return pd.DataFrame(
                columns=["scenario", "replication", "seed", "month", "metric", "value"]
            )
        return pd.concat(frames, ignore_index=True)

    def summary(self) -> pd.DataFrame:
        """Per KPI: mean, sd, 95% CI half-width of the mean (Student t), P10, P50, P90, n."""
        table = self.kpis()[list(KPIS)]
        rows = {}
        for name in KPIS:
            x = table[name].dropna().to_numpy(float)
            n = len(x)
            sd = float(x.std(ddof=1)) if n > 1 else float("nan")
            p10, p50, p90 = np.percentile(x, PERCENTILES) if n else [np.nan] * 3
            rows[name] = {
                "mean": float(x.mean()) if n else float("nan"),
                "sd": sd,
                "ci95": ci_half_width(x),
                "p10": float(p10),
                "p50": float(p50),
                "p90": float(p90),
                "n": n,
            }
        return pd.DataFrame.from_dict(rows, orient="index")

    def monthly_summary(self, metrics: Sequence[str] | None = None) -> pd.DataFrame:
        """Per month and metric: mean, P10, P50, P90 across replications."""
        table = self.monthly()
        if metrics is not None:
            table = table[table["metric"].isin(list(metrics))]
        grouped = table.groupby(["metric", "month"], sort=False)["value"]
        out = grouped.agg(
            mean="mean",
            p10=lambda v: v.quantile(0.1),
            p50="median",
            p90=lambda v: v.quantile(0.9),
        )
        return out.reset_index()

    def waterfall(self) -> pd.DataFrame:
        """Unique-lead waterfall by cohort (:func:`sim.analysis.motion.waterfall`).

        Mean over replications of every count, rate and median, with ``_p10`` and ``_p90``
        columns (see :func:`~sim.analysis.motion.across_replications`).
        """
        return self._motion("waterfall")

    def channels(self) -> pd.DataFrame:
        """Per channel (:func:`sim.analysis.motion.channel_table`), mean with P10/P90.

        Channels with no lead in any replication (say, ``outbound`` without BDRs) are left
        out.
        """
        table = self._motion("channels")
        return table[table["leads"] > 0] if len(table) else table

    def segments(self) -> pd.DataFrame:
        """Per segment (:func:`sim.analysis.motion.segment_table`), mean with P10/P90."""
        return self._motion("segments")

    def phases(self) -> pd.DataFrame:
        """Per phase (:func:`sim.analysis.motion.phase_table`), mean with P10/P90."""
        return self._motion("phases")

    def attainment(self) -> pd.DataFrame:
        """Per year, AEs against quota (:func:`sim.analysis.motion.attainment_table`), mean
        with P10/P90 across replications; no rows without a quota."""
        return self._motion("attainment")

    def sdr_attainment(self) -> pd.DataFrame:
        """Per year, SDRs against their SQL targets
        (:func:`sim.analysis.motion.sdr_attainment_table`), mean with P10/P90 across
        replications; no rows without a target."""
        return self._motion("sdr_attainment")

    def retention(self) -> pd.DataFrame:
        """Per year, renewals, churn, health and upsell
        (:func:`sim.analysis.motion.retention_table`), mean with P10/P90 across
        replications."""
        return self._motion("retention")

    def ae_teams(self) -> pd.DataFrame:
        """Per AE team (:func:`sim.analysis.motion.ae_team_table`), mean with P10/P90 across
        replications; no rows without ``field_sales.teams``."""
        return self._motion("ae_teams")

    def stage_reports(self) -> dict[str, pd.DataFrame]:
        """The tables above, keyed as in :data:`~sim.analysis.motion.TABLES`."""
        return {
            "waterfall": self.waterfall(),
            "channels": self.channels(),
            "segments": self.segments(),
            "phases": self.phases(),
            "attainment": self.attainment(),
            "sdr_attainment": self.sdr_attainment(),
            "retention": self.retention(),
            "ae_teams": self.ae_teams(),
        }

    def _motion(self, name: str) -> pd.DataFrame:
        # replications stored by an earlier version may lack a later table
        tables = [
            r.motion[name] for r in self.replications if r.motion is not None and name in r.motion
        ]
        return motion.across_replications(tables, motion.FIXED_COLUMNS[name])

    def manifest(self, command: str | None = None) -> dict[str, Any]:
        """Provenance: scenario hash, seed, replications, versions, command, completeness."""
        from sim import __version__

        return {
            "scenario": self.scenario.name,
            "scenario_sha256": self.scenario.digest(),
            "seed": self.seed,
            "replications_requested": self.requested,
            "replications_done": [r.replication for r in self.replications],
            "complete": self.complete,
            "replications_lost": self.lost,
            "pool_restarts": self.restarts,
            "command": command,
            "revloop_version": __version__,
            "python": platform.python_version(),
            "numpy": np.__version__,
            "created_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }

    def save(self, out_dir: str | os.PathLike[str], command: str | None = None) -> list[Path]:
        """Write the results into ``out_dir`` as a unit (:func:`sim.io.write_folder`).

        Files: monthly.csv and monthly.parquet (tidy, every replication), monthly_summary.csv
        (mean and P10/P50/P90 per metric and month), kpis.csv, summary.json, scenario.json,
        manifest.json, checksums.sha256 (every file's SHA-256, checked by every reader), and
        the stage reports (mean, P10 and P90 over replications; see
        docs/reports.md): waterfall.csv (by cohort, :meth:`waterfall`), channels.csv
        (:meth:`channels`), segments.csv (:meth:`segments`), phases.csv (:meth:`phases`).
        """
        monthly = self.monthly()
        summary = self.summary()
        writers: dict[str, Callable[[Path], None]] = {
            "monthly.csv": csv_writer(monthly, index=False),
            "monthly.parquet": lambda p: monthly.to_parquet(p, index=False),
            "monthly_summary.csv": csv_writer(self.monthly_summary(), index=False),
            "kpis.csv": csv_writer(self.kpis(), index=False),
            "summary.json": lambda p: write_json(
                p,
                {
                    name: {k: _finite(v) for k, v in row.items()}
                    for name, row in summary.to_dict(orient="index").items()
                },
            ),
            "scenario.json": lambda p: write_json(
                p, self.scenario.model_dump(mode="json", by_alias=True)
            ),
            "manifest.json": lambda p: write_json(p, self.manifest(command)),
        }
        writers.update({f"{name}.csv": csv_writer(t) for name, t in self.stage_reports().items()})
        return write_folder(out_dir, writers)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value

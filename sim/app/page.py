"""The what-if page, built with Panel: controls, YAML, live charts, comparison, files.

:class:`WhatIfPage` is one page (one browser tab, or one notebook cell: ``page.view()``);
:func:`serve` starts the local server ``revloop app`` runs. The page uses no template and no
extension that loads from the internet: Bokeh and Panel serve their own scripts and styles
from the local server, charts are PNG images drawn by :mod:`sim.analysis.charts`, and tables
are plain HTML, so the page makes no external request.
"""

from __future__ import annotations

import io
import os
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import panel as pn

from sim.analysis.charts import CHARTS, NoChartData, chart
from sim.errors import ScenarioError
from sim.experiment.results import Results
from sim.scenario import load_scenario
from sim.scenario.loader import MAX_FILE_BYTES
from sim.scenario.schema import Scenario

from .state import (
    QUEUE_POLICIES,
    REASONS,
    TEAMS,
    Job,
    Levers,
    ReplicationCache,
    Snapshot,
    band_text,
    comparison_table,
    export_chart,
    export_report,
    export_workbook,
    kpi_table,
    load_text,
    save_scenario,
    stages,
)

__all__ = ["LIVE_CHARTS", "WhatIfPage", "serve"]

LIVE_CHARTS = {
    "arr": "ARR by month (P50, P10-P90)",
    "new_arr": "Bookings: new ARR by month",
    "waterfall": "Conversion waterfall",
    "team_load": "Team utilisation and queues",
}
"""The charts the page redraws as replications arrive (kinds of :data:`CHARTS`)."""

TEAM_LABELS = {"inside_sales": "SDRs", "field_sales": "AEs", "customer_success": "CSMs"}
REDRAW_SECONDS = 1.0
"""Charts are redrawn at most this often while replications arrive (and at every stage end)."""


def _png(results: Results, kind: str) -> bytes | str:
    """A chart as PNG bytes, or why it cannot be drawn yet."""
    try:
        fig = chart(kind, results)
    except NoChartData as err:
        return str(err)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=72)
    return buffer.getvalue()


class WhatIfPage:
    """One what-if page on the scenario file ``path``.

    Parameters
    ----------
    path
        The scenario file opened first; its saved content is the base of every comparison.
    cache
        Replications already simulated (shared by every page of a server).
    seed
        Root seed of every run (replication ``r`` seeded from ``(seed, r)``).
    replications
        Replications of the full run (after the quick one).
    workers
        Worker processes of the full run.
    quick
        Run a quick rough answer first (:func:`sim.app.state.stages`).

    Nothing runs before :meth:`start` (the server calls it once the page is shown in a
    browser; in a notebook, call it after ``view()``).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        cache: ReplicationCache | None = None,
        seed: int = 0,
        replications: int = 20,
        workers: int = 2,
        quick: bool = True,
    ) -> None:
        self.cache = cache or ReplicationCache()
        self.replications = replications
        self.workers = workers
        self.quick = quick
        self.job: Job | None = None
        self.scenario: Scenario | None = None
        self.base: Scenario | None = None
        self.data: dict[str, Any] = {}
        self._syncing = False
        self._lock = threading.Lock()
        self._view: dict[str, Any] = {}
        self._version = self._shown = 0
        self._last_draw = 0.0
        self._live = False
        self._pending: Scenario | None = None
        self._build_widgets(seed)
        self.open(path)

    # --- layout ---------------------------------------------------------------------------

    def _build_widgets(self, seed: int) -> None:
        self.path_input = pn.widgets.TextInput(name="Scenario file", css_classes=["path-input"])
        self.open_button = pn.widgets.Button(name="Open", css_classes=["open-button"])
        self.open_button.on_click(lambda _: self.open(self.path_input.value or ""))
        self.seed_input = pn.widgets.IntInput(name="Seed", value=seed, start=0)
        self.headcount = {
            team: pn.widgets.IntInput(
                name=f"{TEAM_LABELS[team]} on day one", start=0, css_classes=[f"{team}-headcount"]
            )
            for team in TEAMS
        }
        self.plans = {
            team: pn.widgets.TextInput(
                name=f"{TEAM_LABELS[team]} hiring plan (month:+hires, month:-leavers)",
                css_classes=[f"{team}-plan"],
            )
            for team in TEAMS
        }
        self.mql = pn.widgets.FloatInput(name="MQL threshold (points)")
        self.fast_pass = pn.widgets.FloatInput(name="Fast-pass threshold (points)")
        self.queue = pn.widgets.Select(name="SDR queue policy", options=list(QUEUE_POLICIES))
        self.pauses = {
            reason: pn.widgets.FloatInput(
                name=f"Recycle pause, {reason.replace('_', ' ')} (mean days)", start=0
            )
            for reason in REASONS
        }
        self.volume = pn.widgets.FloatSlider(
            name="Channel volume / spend (x)", start=0.5, end=2.0, step=0.05, value=1.0
        )
        self.horizon = pn.widgets.IntInput(name="Horizon (months)", start=1, end=120)
        self.lever_widgets: list[Any] = [
            *self.headcount.values(),
            *self.plans.values(),
            self.mql,
            self.fast_pass,
            self.queue,
            *self.pauses.values(),
            self.horizon,
            self.seed_input,
        ]
        for widget in self.lever_widgets:
            widget.param.watch(self._lever_moved, "value")
        self.volume.param.watch(self._lever_moved, "value_throttled")

        self.status = pn.pane.Markdown("", css_classes=["run-status"])
        self.progress = pn.indicators.Progress(value=0, max=1, width=300)
        self.band = pn.pane.Markdown("", css_classes=["ending-arr-band"])
        self.problems = pn.pane.Markdown("", css_classes=["problems"])
        self.chart_panes = {
            kind: pn.pane.PNG(None, width=480, height=270, sizing_mode="fixed")
            for kind in LIVE_CHARTS
        }
        self.chart_notes = {kind: pn.pane.Markdown("") for kind in LIVE_CHARTS}
        self.kpis = pn.pane.DataFrame(None, index=False, css_classes=["kpi-table"])
        self.compare = pn.pane.DataFrame(None, index=False, css_classes=["compare-table"])
        self.compare_note = pn.pane.Markdown("")
        self.yaml = pn.widgets.TextAreaInput(
            name="Scenario YAML",
            height=520,
            sizing_mode="stretch_width",
            css_classes=["yaml"],
            max_length=MAX_FILE_BYTES,  # the widget's default (5,000 characters) cuts files
        )
        self.apply_button = pn.widgets.Button(
            name="Apply YAML", button_type="primary", css_classes=["apply-yaml"]
        )
        self.apply_button.on_click(lambda _: self.apply_yaml(self.yaml.value or ""))
        self.save_path = pn.widgets.TextInput(name="Save as", css_classes=["save-path"], width=500)
        self.save_button = pn.widgets.Button(name="Save scenario", css_classes=["save-button"])
        self.save_button.on_click(lambda _: self.save(self.save_path.value or ""))
        self.saved = pn.pane.Markdown("", css_classes=["saved"])
        self.chart_kind = pn.widgets.Select(name="Chart", options=list(CHARTS))
        self.downloads = [
            self._download("Report (HTML)", "report.html", self._report_file),
            self._download("Workbook (xlsx)", "finance.xlsx", self._workbook_file),
            self._download("Chart (PNG)", "chart.png", self._chart_file),
        ]

    def _download(self, label: str, name: str, make: Callable[[], str]) -> pn.widgets.FileDownload:
        return pn.widgets.FileDownload(callback=make, filename=name, label=label, embed=False)

    def view(self) -> pn.viewable.Viewable:
        """The page's layout (served by :func:`serve`, or shown in a notebook cell)."""
        levers = pn.Column(
            "### Scenario",
            self.path_input,
            self.open_button,
            "### Teams",
            *self.headcount.values(),
            *self.plans.values(),
            "### Marketing and inside sales",
            self.mql,
            self.fast_pass,
            self.queue,
            self.volume,
            "### Recycling",
            *self.pauses.values(),
            "### Run",
            self.horizon,
            self.seed_input,
            width=340,
        )
        chart_grid = pn.GridBox(
            *(
                pn.Column(f"**{title}**", self.chart_panes[k], self.chart_notes[k])
                for k, title in LIVE_CHARTS.items()
            ),
            ncols=2,
        )
        tabs = pn.Tabs(
            ("Charts", pn.Column(self.band, chart_grid)),
            ("KPIs", self.kpis),
            ("Compare with base", pn.Column(self.compare_note, self.compare)),
            ("YAML", pn.Column(self.yaml, self.apply_button)),
            (
                "Save and export",
                pn.Column(
                    self.save_path,
                    self.save_button,
                    self.saved,
                    self.chart_kind,
                    pn.Row(*self.downloads),
                ),
            ),
            dynamic=False,
        )
        main = pn.Column(
            "## revloop what-if",
            self.progress,
            self.status,
            self.problems,
            tabs,
            sizing_mode="stretch_width",
        )
        return pn.Row(levers, main, sizing_mode="stretch_width")

    # --- scenario and levers --------------------------------------------------------------

    def open(self, path: str | os.PathLike[str]) -> None:
        """Open a scenario file: it becomes the base, its text the YAML, its values the
        controls; then run it."""
        self.path = os.fspath(path)
        self.path_input.value = self.path
        stem = Path(self.path).stem
        self.save_path.value = str(Path(self.path).with_name(f"{stem}_edited.yaml"))
        try:
            text = Path(self.path).read_text(encoding="utf-8")
        except OSError as err:
            self._show_problems([f"{self.path}: cannot read file: {err.strerror}"])
            return
        try:
            self.base = load_scenario(self.path)
        except ScenarioError:
            self.base = None
        self.yaml.value = text
        self.apply_yaml(text)

    def apply_yaml(self, text: str) -> None:
        """Take ``text`` as the scenario (controls reset to its values) if it is valid;
        otherwise show its problems, located, and keep running what was there."""
        try:
            scenario, data = load_text(text, self.path)
        except ScenarioError as err:
            self._show_problems([str(p) for p in err.problems])
            return
        self.text, self.data = text, data
        self._sync_levers(Levers.of(data))
        self._start(scenario)

    def _sync_levers(self, levers: Levers) -> None:
        self._syncing = True
        try:
            for team in TEAMS:
                self.headcount[team].value = levers.headcount.get(team, 0)
                self.plans[team].value = levers.plan.get(team, "")
            self.mql.value = levers.mql_threshold
            self.fast_pass.value = levers.fast_pass_threshold
            self.queue.value = levers.queue_policy
            for reason in REASONS:
                self.pauses[reason].value = levers.pause_days.get(reason)
                self.pauses[reason].disabled = reason not in levers.pause_days
            self.volume.value = 1.0
            self.horizon.value = levers.horizon_months
        finally:
            self._syncing = False

    def levers(self) -> Levers:
        """The controls' current values."""
        return Levers(
            headcount={team: int(w.value or 0) for team, w in self.headcount.items()},
            plan={team: str(w.value or "") for team, w in self.plans.items()},
            mql_threshold=float(self.mql.value or 0),
            fast_pass_threshold=float(self.fast_pass.value or 0),
            queue_policy=str(self.queue.value),
            pause_days={r: float(v) for r, w in self.pauses.items() if (v := w.value) is not None},
            volume=float(self.volume.value or 1.0),
            horizon_months=int(self.horizon.value or 1),
        )

    def _lever_moved(self, _event: Any) -> None:
        if self._syncing:
            return
        try:
            scenario, _ = load_text(self.text, self.path, self.levers().sets(self.data))
        except ScenarioError as err:
            self._show_problems([str(p) for p in err.problems])
            return
        self._start(scenario)

    def _show_problems(self, lines: list[str]) -> None:
        self.problems.object = "**Not valid, nothing run:**\n\n" + "\n".join(
            f"- `{line}`" for line in lines
        )

    # --- runs -----------------------------------------------------------------------------

    def start(self) -> None:
        """Start running: the scenario opened, and every edit from now on."""
        self._live = True
        if self._pending is not None:
            self._start(self._pending)

    def stop(self) -> None:
        """Cancel the run under way, if any (the page was closed)."""
        if self.job is not None:
            self.job.cancel()

    def _start(self, scenario: Scenario) -> None:
        """Cancel the run under way (if any) and run ``scenario``."""
        self.problems.object = ""
        self.scenario = self._pending = scenario
        if not self._live:
            return
        if self.job is not None:
            self.job.cancel()
        plan = stages(self.replications, self.quick, self.workers)
        seed = int(self.seed_input.value or 0)
        self.job = Job(scenario, self.base, self.cache, seed, plan, self._arrived)
        self.status.object = "Starting..."
        self.job.start()

    def _arrived(self, snapshot: Snapshot) -> None:
        """From the job's thread: draw what changed (not too often) for :meth:`refresh`."""
        job = self.job
        if job is None or snapshot is not job.snapshot or job.cancelled:
            return
        results = snapshot.results
        stage_done = results is not None and results.complete and snapshot.done == snapshot.total
        now = time.monotonic()
        view: dict[str, Any] = {"status": _status(snapshot), "done": snapshot}
        draw = stage_done or snapshot.finished or now - self._last_draw >= REDRAW_SECONDS
        if results is not None and results.replications and draw:
            self._last_draw = now
            view["charts"] = {kind: _png(results, kind) for kind in LIVE_CHARTS}
            view["kpis"] = kpi_table(results)
            view["band"] = f"**{snapshot.stage}**: {band_text(results)}"
        comparison = snapshot.comparison
        if comparison is not None and (stage_done or snapshot.finished):
            view["compare"] = comparison_table(comparison)
            view["compare_note"] = (
                f"Edited scenario minus the saved base ({self.path}), paired on "
                f"{comparison.replications} replications of seed {comparison.seed} "
                f"({snapshot.stage} run)."
            )
        with self._lock:
            if job is self.job:
                self._view.update(view)
                self._version += 1

    def refresh(self) -> None:
        """Show what the job found since the last call (called periodically by the server)."""
        with self._lock:
            if self._version == self._shown:
                return
            self._shown = self._version
            view, self._view = self._view, {}
        self.status.object = view.get("status", self.status.object)
        snapshot: Snapshot | None = view.get("done")
        if snapshot is not None:
            self.progress.max = max(snapshot.total, 1)
            self.progress.value = min(snapshot.done, self.progress.max)
        for kind, image in view.get("charts", {}).items():
            if isinstance(image, bytes):
                self.chart_panes[kind].object = image
                self.chart_notes[kind].object = ""
            else:
                self.chart_notes[kind].object = image
        if "kpis" in view:
            self.kpis.object = view["kpis"]
            self.band.object = view["band"]
        if "compare" in view:
            self.compare.object = view["compare"]
            self.compare_note.object = view["compare_note"]

    # --- files ----------------------------------------------------------------------------

    def save(self, path: str) -> None:
        """Save the scenario as run (controls applied) as a self-contained YAML file."""
        if self.scenario is None or not path:
            self.saved.object = "Nothing to save: no valid scenario."
            return
        try:
            target = save_scenario(self.scenario, path, source=self.path)
        except OSError as err:
            self.saved.object = f"Cannot save to {path}: {err.strerror}"
            return
        self.saved.object = f"Saved to `{target}` (sha256 {self.scenario.digest()[:12]})."

    def _results(self) -> Results:
        snapshot = self.job.snapshot if self.job else None
        if snapshot is None or snapshot.results is None or not snapshot.results.replications:
            raise RuntimeError("no run yet: wait for the first replications")
        return snapshot.results

    def _out(self, name: str) -> str:
        return os.path.join(tempfile.mkdtemp(prefix="revloop-app-"), name)

    def _report_file(self) -> str:
        snapshot = self.job.snapshot if self.job else None
        base = snapshot.comparison.results[0] if snapshot and snapshot.comparison else None
        return str(export_report(self._results(), self._out("report.html"), base))

    def _workbook_file(self) -> str:
        return str(export_workbook(self._results(), self._out("finance.xlsx")))

    def _chart_file(self) -> str:
        kind = str(self.chart_kind.value)
        self.downloads[2].filename = f"{kind}.png"
        return str(export_chart(self._results(), kind, self._out(f"{kind}.png")))


def _status(snapshot: Snapshot) -> str:
    if snapshot.error:
        return f"**Run failed:** {snapshot.error}"
    if snapshot.finished:
        word = "cancelled" if snapshot.cancelled else "finished"
        return f"**Run {word}**: {snapshot.stage} run, {snapshot.done} of {snapshot.total} done."
    label = "quick run (rough answer)" if snapshot.stage == "quick" else "full run"
    return f"Running the {label}: {snapshot.done} of {snapshot.total} replications..."


def serve(
    path: str | os.PathLike[str],
    port: int = 5006,
    show: bool = True,
    seed: int = 0,
    replications: int = 20,
    workers: int = 2,
    quick: bool = True,
    store: str | os.PathLike[str] | None = None,
) -> None:
    """Serve the page on ``http://localhost:PORT`` until interrupted (``revloop app``).

    Every browser tab gets its own page; they share one :class:`ReplicationCache` (kept in
    ``store`` on disk if given), so a scenario simulated once is never simulated again.
    """
    cache = ReplicationCache(store)

    def page() -> pn.viewable.Viewable:
        what_if = WhatIfPage(path, cache, seed, replications, workers, quick)
        pn.state.onload(what_if.start)
        pn.state.add_periodic_callback(what_if.refresh, period=300)
        pn.state.on_session_destroyed(lambda _: what_if.stop())
        return what_if.view()

    pn.serve(
        {"/": page},
        port=port,
        address="127.0.0.1",
        websocket_origin=[f"localhost:{port}", f"127.0.0.1:{port}"],
        show=show,
        title="revloop what-if",
        threaded=False,
    )

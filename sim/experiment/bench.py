"""Speed benchmark: the full model against a bare SimPy event loop, in one process.

Machines are shared and noisy, so the figures that matter are *ratios* to a bare loop timed in
the same run: the model's time per event over the bare loop's, and the time of one replication
over a bare loop of :data:`REFERENCE_EVENTS` events (the speed goal: at most 1.5x).
"""

from __future__ import annotations

import math
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import simpy
from scipy import stats
from simpy.events import Timeout

from sim.engine.core import Clock
from sim.engine.streams import Streams, replication_seed
from sim.engine.world import World
from sim.experiment.controls import Controls, controlled_difference, controls
from sim.experiment.executors import default_workers, make_executor
from sim.experiment.runner import Progress, run
from sim.scenario.schema import Scenario
from sim.stats import ControlledMean

REFERENCE_EVENTS = 500_000
"""Size of the bare loop one replication is compared with as a whole."""

GOAL_REPLICATION_RATIO = 1.5
"""Speed goal: one replication at most this many times a bare loop of
:data:`REFERENCE_EVENTS` events."""
GOAL_SCALE_SPREAD = 1.2
"""Scale goal: the cost per lead at every size within 20% of the smallest size's."""
GOAL_PEAK_RSS_MB = 1024.0
"""Scale goal: a replication of a million leads in under 1 GB."""
GOAL_PAIRING = 10.0
"""Pairing goal: the variance ratio of ending ARR and of wins at least this."""
GOAL_PAIRING_KPIS = ("ending_arr", "wins")
"""The KPIs :data:`GOAL_PAIRING` is asked of."""
GOAL_PAIRING_MIN_PAIRS = 30
"""The pairing goal is judged on at least this many pairs: a bootstrap over fewer is not to
be trusted (over 3 pairs, a CI of 90x to 14,700x)."""


def goal_words(met: bool | None) -> str:
    """``met``, ``not met`` or, for a figure whose interval straddles the goal, ``unsettled``."""
    return "unsettled" if met is None else "met" if met else "not met"


@dataclass(frozen=True)
class BenchResult:
    """Figures of one benchmark run (medians over the repeats)."""

    leads: int
    events: int
    model_seconds: float
    """Seconds of the event loop and the ledger (``World.run``)."""
    bare_seconds: float
    reference_seconds: float
    """Bare-loop seconds for :data:`REFERENCE_EVENTS` events."""
    build_seconds: float = 0.0
    """Seconds of building the world before the loop (teams, starting book, the nurture
    database of leads already known on day one)."""
    clock_seconds: float = 0.0
    """Seconds the engine's own clock takes for the replication's number of events, each a
    callback that does nothing but schedule the next (:func:`clock_loop`)."""
    draws: int = 0
    """Per-lead draws the replication made (a dial's four numbers count as one call)."""
    draw_seconds: float = 0.0
    """Seconds those per-lead draws take alone (:func:`draw_seconds`)."""

    @property
    def floor_ratio(self) -> float:
        """The replication's events on the engine's clock and its per-lead draws, with none
        of the organisation's logic, over a bare loop of :data:`REFERENCE_EVENTS` events:
        what the model would cost if its logic took no time at all."""
        return (self.clock_seconds + self.draw_seconds) / self.reference_seconds

    @property
    def replication_seconds(self) -> float:
        """One replication as :func:`~sim.engine.world.simulate` runs it: build and run."""
        return self.build_seconds + self.model_seconds

    @property
    def leads_per_second(self) -> float:
        """Leads simulated per second of a whole replication (building the world included)."""
        return self.leads / self.replication_seconds

    @property
    def events_per_lead(self) -> float:
        """Events processed per lead created (the starting book's included)."""
        return self.events / self.leads

    @property
    def events_per_second(self) -> float:
        """Model events processed per second."""
        return self.events / self.model_seconds

    @property
    def bare_events_per_second(self) -> float:
        """Bare-loop events per second."""
        return self.events / self.bare_seconds

    @property
    def ratio(self) -> float:
        """Model time per event over bare-loop time per event (1 = no overhead at all)."""
        return self.model_seconds / self.bare_seconds

    @property
    def replication_ratio(self) -> float:
        """One replication's time (building the world included) over a bare loop of
        :data:`REFERENCE_EVENTS` events."""
        return self.replication_seconds / self.reference_seconds


def bare_loop(events: int, pending: int = 10_000) -> float:
    """Seconds SimPy takes to process ``events`` timeouts with callbacks and nothing else.

    ``pending`` events are kept in the queue at all times, as a model keeps many.
    """
    env = simpy.Environment()
    left = [events]

    def tick(event: simpy.Event) -> None:
        if left[0] > 0:
            left[0] -= 1
            Timeout(env, 1.0 + (left[0] % 97) * 0.01).callbacks.append(tick)

    for i in range(pending):
        Timeout(env, i * 0.001).callbacks.append(tick)
    start = time.perf_counter()
    env.run()
    return time.perf_counter() - start


def clock_loop(events: int, pending: int = 10_000) -> float:
    """Seconds the engine's own clock (:class:`~sim.engine.core.Clock`) takes to process
    ``events`` callbacks that do nothing but schedule the next, ``pending`` kept waiting.

    The model's events go through the same clock, so this is the least they can cost.
    """
    env = Clock()
    left = [events]

    def tick(_: Any) -> None:
        if left[0] > 0:
            left[0] -= 1
            env.call(1.0 + (left[0] % 97) * 0.01, tick, None)

    for i in range(pending):
        env.call(i * 0.001, tick, None)
    start = time.perf_counter()
    env.advance(1e9)  # far past the last tick: the loop ends when the ticks do
    return time.perf_counter() - start


def draw_seconds(single: int, quads: int, leads: int = 100_000) -> float:
    """Seconds ``single`` per-lead draws and ``quads`` draws of four take alone, spread over
    ``leads`` leads' substreams, less the loop that makes the calls."""
    streams = Streams(0)
    keys = [streams.lead_key(0, rank) for rank in range(leads)]
    one, four = streams.lead_uniforms(keys, "bench.one"), streams.lead_quads(keys, "bench.four")
    start = time.perf_counter()
    for i in range(single):
        one(i % leads)
    for i in range(quads):
        four(i % leads)
    calls = time.perf_counter() - start
    start = time.perf_counter()
    for i in range(single + quads):  # the same loop without the calls, taken off
        i % leads
    return max(0.0, calls - (time.perf_counter() - start))


def bench(scenario: Scenario, seed: int = 0, repeats: int = 3) -> BenchResult:
    """Time ``repeats`` replications of ``scenario``, as many bare loops of equal size and as
    many of :data:`REFERENCE_EVENTS` events, interleaved; and, for the floor, the
    replication's events on the engine's clock with empty callbacks and its per-lead draws
    alone."""
    model, bare, reference, build, clock, drawing = [], [], [], [], [], []
    leads = events = made = 0
    for r in range(repeats):
        start = time.perf_counter()
        world = World(scenario, seed + r)
        built = time.perf_counter()
        ledger = world.run()
        model.append(time.perf_counter() - built)
        build.append(built - start)
        events = int(ledger.totals["events"])
        leads = len(ledger.leads["state"])
        single, quads = world.ctx.streams.lead_draws_made()
        made = single + quads
        del world, ledger
        bare.append(bare_loop(events))
        reference.append(bare_loop(REFERENCE_EVENTS))
        clock.append(clock_loop(events))
        drawing.append(draw_seconds(single, quads))
    return BenchResult(
        leads=leads,
        events=events,
        model_seconds=statistics.median(model),
        bare_seconds=statistics.median(bare),
        reference_seconds=statistics.median(reference),
        build_seconds=statistics.median(build),
        clock_seconds=statistics.median(clock),
        draws=made,
        draw_seconds=statistics.median(drawing),
    )


PAIRING_KPIS = ("ending_arr", "wins", "mqls", "sqls")
"""KPIs whose paired-difference variance :func:`pairing` reports."""


@dataclass(frozen=True)
class PairingResult:
    """How much common random numbers cut the variance of a difference, per KPI.

    ``ratio`` is var(A) + var(B) (the variance of the difference with independent seeds)
    over var(B - A) on paired replications; ``low`` and ``high`` bound it (95% percentile
    bootstrap over the pairs).
    """

    kpi: str
    pairs: int
    ratio: float
    low: float
    high: float
    mean_difference: float
    controlled_ratio: float = math.nan
    """The same with the team capacities of both runs as control variates
    (:mod:`sim.experiment.controls`): var(A) + var(B) over ``pairs`` times the squared
    standard error of the controlled mean difference."""
    controlled_low: float = math.nan
    controlled_high: float = math.nan
    controlled_r2: float = math.nan
    """The share of the paired difference's variance the capacities explain."""

    @property
    def meets_goal(self) -> bool | None:
        """Is the ratio at least :data:`GOAL_PAIRING`: True or False when its whole CI is
        on one side, None (unsettled) when the CI straddles it or when there are fewer than
        :data:`GOAL_PAIRING_MIN_PAIRS` pairs."""
        return self._goal(self.low, self.high)

    @property
    def controlled_meets_goal(self) -> bool | None:
        """:attr:`meets_goal` for :attr:`controlled_ratio` (None if not measured)."""
        return self._goal(self.controlled_low, self.controlled_high)

    def _goal(self, low: float, high: float) -> bool | None:
        if self.pairs < GOAL_PAIRING_MIN_PAIRS or math.isnan(low):
            return None
        if low >= GOAL_PAIRING:
            return True
        if high < GOAL_PAIRING:
            return False
        return None


def pairing(
    base: Scenario,
    variant: Scenario,
    pairs: int = 30,
    seed: int = 0,
    kpis: Sequence[str] = PAIRING_KPIS,
    workers: int | None = None,
    resamples: int = 2000,
    progress: Progress | None = None,
    control_runs: int = 0,
) -> list[PairingResult]:
    """Run ``pairs`` paired replications of ``base`` and ``variant`` (replication ``r`` of
    both seeded ``(seed, r)``) and measure the variance ratio of each KPI's difference.

    With ``control_runs`` > 0, also with the team capacities of both runs of a pair as
    control variates, their means from that many roster-only runs
    (:func:`sim.experiment.controls.controls`).
    """
    a = run(base, replications=pairs, seed=seed, workers=workers, progress=progress).kpis()
    b = run(variant, replications=pairs, seed=seed, workers=workers, progress=progress).kpis()
    found = controls(base, seed, range(pairs), control_runs, variant) if control_runs else None
    rng = np.random.default_rng(seed)
    index = rng.integers(0, pairs, (resamples, pairs))
    out = []
    for kpi in kpis:
        x, y = a[kpi].to_numpy(float), b[kpi].to_numpy(float)
        ratio = _variance_ratio(x, y)
        boot = _variance_ratio(x[index], y[index])
        boot = boot[np.isfinite(boot)]
        low, high = np.percentile(boot, [2.5, 97.5]) if len(boot) else (np.nan, np.nan)
        row = PairingResult(
            kpi, pairs, float(ratio), float(low), float(high), float(np.mean(y - x))
        )
        if found is not None:
            row = _with_controls(row, x, y, found, index)
        out.append(row)
    return out


def _with_controls(
    row: PairingResult, x: np.ndarray, y: np.ndarray, found: Controls, index: np.ndarray
) -> PairingResult:
    """``row`` with its ratio under control variates and a bootstrap CI over the pairs
    (the controls' slopes fitted again in each resample, their means held)."""

    def ratio(xs: np.ndarray, ys: np.ndarray, fit: ControlledMean) -> float:
        independent = xs.var(ddof=1) + ys.var(ddof=1)
        return float(independent / fit.variance) if fit.variance > 0 else math.inf

    def resampled(i: np.ndarray) -> float:
        sub = Controls(found.teams, found.values[i], found.means, found.means_cov, found.runs)
        try:
            return ratio(x[i], y[i], controlled_difference(x[i], y[i], sub))
        except (ValueError, np.linalg.LinAlgError):  # a resample too alike to fit
            return math.nan

    try:
        whole = controlled_difference(x, y, found)
    except ValueError:  # fewer pairs than the controls need: no second ratio
        return row
    boot = np.array([resampled(i) for i in index])
    boot = boot[np.isfinite(boot)]
    low, high = np.percentile(boot, [2.5, 97.5]) if len(boot) else (np.nan, np.nan)
    return replace(
        row,
        controlled_ratio=ratio(x, y, whole),
        controlled_low=float(low),
        controlled_high=float(high),
        controlled_r2=whole.r2,
    )


def _variance_ratio(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(var x + var y) / var(y - x) along the last axis (inf where the difference is constant)."""
    independent = x.var(axis=-1, ddof=1) + y.var(axis=-1, ddof=1)
    paired = (y - x).var(axis=-1, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(paired > 0, independent / paired, np.inf)


COUPLING_MILESTONES = {"sqls": "first_sql_at", "wins": "won_at"}
"""Lead-level milestones :func:`coupling` compares: qualified by inside sales, won."""

COUPLING_DRIVERS = {
    "inside sales": "inside_sales_hours",
    "field sales": "field_sales_slot_days",
    "customer success": "customer_success_account_days",
}
"""Each team's capacity over the horizon in the base run (``Ledger.capacity``): what its
turnover, vacancies and ramps left of it. :meth:`CouplingResult.follows` asks whether the
lever's worth varies with it."""


@dataclass(frozen=True)
class CouplingResult:
    """Which leads reach a milestone in one scenario of a pair and not in the other.

    Per replication, ``only_variant`` leads reach it in the variant only and
    ``only_base`` in the base only (leads matched by their key, so the same lead in both);
    the difference in leads reaching it is ``only_variant - only_base``. Under perfect
    coupling of a lever that only helps, ``only_base`` would be nothing but the lever's
    own knock-on effects; what is left of the difference's spread is then how much the
    lever's reach varies from one future to the next, which pairing cannot remove.
    """

    milestone: str
    pairs: int
    only_variant: np.ndarray[Any, Any]
    only_base: np.ndarray[Any, Any]
    drivers: dict[str, np.ndarray[Any, Any]] = field(default_factory=dict)
    """Per team of :data:`COUPLING_DRIVERS`, its capacity in the base run of each pair."""

    @property
    def difference(self) -> np.ndarray[Any, Any]:
        """Leads reaching the milestone, variant less base, per replication."""
        return np.asarray(self.only_variant - self.only_base)

    def sd(self, what: str) -> float:
        """Standard deviation over the pairs of ``only_variant``, ``only_base`` or
        ``difference``."""
        return float(np.std(getattr(self, what), ddof=1))

    @property
    def mostly_reach(self) -> bool:
        """Is the difference's spread mostly the lever's reach: do the leads reached in the
        base only account for under a quarter of its variance?"""
        return self.sd("only_base") ** 2 < 0.25 * self.sd("difference") ** 2

    def follows(self, level: float = 0.95) -> list[tuple[str, float, float]]:
        """The teams whose capacity in the base run the difference varies with.

        ``(team, r, p)`` for each team whose capacity (what its turnover, vacancies and
        ramps left of it) is correlated with the difference over the pairs at ``level``
        (Pearson's ``r``, two-sided ``p``, Bonferroni over the teams looked at), strongest
        first. ``r ** 2`` is the share of the difference's variance a straight line in that
        capacity explains: a lever whose worth depends on the team's turnover in each
        future, a spread that pairing cannot remove.
        """
        diff = self.difference
        varying = {  # a constant says nothing (no turnover, or no difference)
            team: capacity
            for team, capacity in self.drivers.items()
            if len(capacity) >= 3 and np.ptp(capacity) > 0 and np.ptp(diff) > 0
        }
        found = []
        for team, capacity in varying.items():
            r, p = stats.pearsonr(capacity, diff)
            if p < (1.0 - level) / len(varying):
                found.append((team, float(r), float(p)))
        return sorted(found, key=lambda row: -abs(row[1]))


def coupling(
    base: Scenario,
    variant: Scenario,
    pairs: int = 10,
    seed: int = 0,
    workers: int | None = None,
    progress: Progress | None = None,
) -> list[CouplingResult]:
    """Run ``pairs`` paired replications (replication ``r`` of both seeded as
    :func:`pairing` seeds it) and count, per milestone of :data:`COUPLING_MILESTONES`, the
    leads that reach it in one scenario and not the other."""
    workers = min(default_workers() if workers is None else workers, pairs)
    tasks = [(base, variant, seed, r) for r in range(pairs)]
    found: dict[int, tuple[dict[str, tuple[int, int]], dict[str, float]]] = {}
    with make_executor("serial" if workers == 1 else None, workers) as pool:
        for r, row in pool.imap_unordered(_one_coupling, tasks):
            found[r] = row
            if progress is not None:
                progress(len(found), pairs)
    counts = [found[r][0] for r in range(pairs)]
    drivers = {
        team: np.array([found[r][1][team] for r in range(pairs)], dtype=float)
        for team in found[0][1]
    }
    return [
        CouplingResult(
            name,
            pairs,
            np.array([c[name][0] for c in counts], dtype=float),
            np.array([c[name][1] for c in counts], dtype=float),
            drivers,
        )
        for name in COUPLING_MILESTONES
    ]


def _one_coupling(
    base: Scenario, variant: Scenario, seed: int, r: int
) -> tuple[dict[str, tuple[int, int]], dict[str, float]]:
    ledger = World(base, replication_seed(seed, r)).run()
    a = ledger.leads
    b = World(variant, replication_seed(seed, r)).run().leads
    capacity = {
        team: float(np.sum(ledger.capacity[column]))
        for team, column in COUPLING_DRIVERS.items()
        if column in ledger.capacity
    }
    out = {}
    for name, column in COUPLING_MILESTONES.items():
        in_a = set(a["key"][np.isfinite(a[column])].tolist())
        in_b = set(b["key"][np.isfinite(b[column])].tolist())
        out[name] = (len(in_b - in_a), len(in_a - in_b))
    return out, capacity


SCALES = (0.1, 1.0, 10.0)
"""Default sizes of :func:`scales`, relative to the scenario (the base: ~10k, ~100k, ~1M leads)."""


def scaled(scenario: Scenario, factor: float) -> Scenario:
    """``scenario`` with every lead flow, team and starting book times ``factor``.

    Channel volumes, head counts, hiring plans and targets, and the starting book are scaled
    (head counts rounded, at least one where there was one); rates, odds and delays are
    not, so a scaled company is the same company, bigger or smaller.
    """

    def times(n: float) -> int:
        return max(1, round(n * factor)) if n > 0 else 0

    data = scenario.model_dump(by_alias=True)
    for ch in data["marketing"]["channels"].values():
        if ch.get("spend") is not None:  # the same spend brings `factor` times the leads
            for key in ("reference_leads", "max_leads"):
                if ch["spend"][key] is not None:
                    ch["spend"][key] *= factor
        else:
            ch["monthly_leads"] *= factor
    for team in ("inside_sales", "field_sales", "customer_success", "outbound"):
        cfg = data.get(team)
        if cfg is None:
            continue
        cfg["headcount"] = times(cfg["headcount"])
        for move in cfg.get("plan") or []:
            move["hire"], move["leave"] = times(move["hire"]), times(move["leave"])
        for target in cfg.get("targets") or []:
            target["headcount"] = times(target["headcount"])
    book = data["starting_book"]
    book["customers"] = {k: times(v) for k, v in book["customers"].items()}
    book["arr"] *= factor
    for key in ("open_opportunities", "booked_meetings", "inside_sales_leads", "nurture_leads"):
        book[key] = times(book[key])
    return Scenario.model_validate(data)


@dataclass(frozen=True)
class ScaleResult:
    """One replication at one size: its cost per lead and its peak memory."""

    factor: float
    leads: int
    events: int
    seconds: float
    """Wall time of the replication: building its world and running it."""
    peak_rss_mb: float

    @property
    def us_per_lead(self) -> float:
        """Microseconds of wall time per lead."""
        return 1e6 * self.seconds / self.leads


def scale_goals(sized: Sequence[ScaleResult]) -> tuple[float, bool, bool]:
    """The largest cost per lead over the smallest size's, whether that is within
    :data:`GOAL_SCALE_SPREAD`, and whether every size stayed under :data:`GOAL_PEAK_RSS_MB`."""
    first = sized[0].us_per_lead
    spread = max(s.us_per_lead for s in sized) / first
    return spread, spread <= GOAL_SCALE_SPREAD, all(s.peak_rss_mb < GOAL_PEAK_RSS_MB for s in sized)


def scales(
    scenario: Scenario, factors: Sequence[float] = SCALES, seed: int = 0, repeats: int = 1
) -> list[ScaleResult]:
    """One replication of ``scenario`` scaled by each factor, each in a fresh process (so its
    peak resident memory is its own).

    With ``repeats`` above 1, the sizes are timed in turn (all of them, then all again), so
    a slow spell of a shared machine falls on every size alike; each size reports its
    median time and its largest peak memory.
    """
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    runs: list[list[ScaleResult]] = [[] for _ in factors]
    for _ in range(repeats):
        for i, factor in enumerate(factors):
            with ctx.Pool(1) as pool:
                runs[i].append(pool.apply(_one_scale, (scenario, factor, seed)))
    return [
        replace(
            timed[0],
            seconds=float(np.median([r.seconds for r in timed])),
            peak_rss_mb=max(r.peak_rss_mb for r in timed),
        )
        for timed in runs
    ]


def peak_rss_mb() -> float:
    """This process's peak resident memory, in MB.

    On Linux, the high-water mark of the process's own memory (``VmHWM``): a process
    started by fork and exec (as ``multiprocessing``'s spawn starts one) would otherwise
    inherit, in ``getrusage``'s ``ru_maxrss``, the peak of its parent at the fork.
    """
    import resource

    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0  # kB
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # bytes on macOS, else kB
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024.0


def _one_scale(scenario: Scenario, factor: float, seed: int) -> ScaleResult:
    sized = scaled(scenario, factor)
    start = time.perf_counter()  # building the world (its day-one leads among them) and running it
    ledger = World(sized, seed).run()
    seconds = time.perf_counter() - start
    rss = peak_rss_mb()
    return ScaleResult(
        factor, len(ledger.leads["state"]), int(ledger.totals["events"]), seconds, rss
    )


PLANNER_EXAMPLE: dict[str, Any] = {
    "target": "27M",
    "by": "2028-12",
    "confidence": 0.8,
    "hires": ("sdr=0..2", "ae=0..4:2", "csm=0..2:2"),
    "quarters": "2027Q1,2027Q3",
}
"""The README's planning question, as ``revloop plan`` takes it (``README.md`` shows
:func:`planner_command`; a test keeps the two in step)."""


def planner_command(target: str | None = None) -> str:
    """The ``revloop plan`` command of :data:`PLANNER_EXAMPLE` (``target`` replacing its ARR)."""
    ex = PLANNER_EXAMPLE
    hires = " ".join(f"--hire {h}" for h in ex["hires"])
    return (
        f"revloop plan scenarios/base.yaml --target-arr {target or ex['target']} "
        f"--by {ex['by']} --confidence {ex['confidence']} {hires} --quarters {ex['quarters']}"
    )


@dataclass(frozen=True)
class PlannerResult:
    """What one planning search cost: simulations foreseen and run, and its wall time."""

    target: str
    plans: int
    foreseen_most: int
    foreseen_expected: int
    simulations: int
    seconds: float
    answer: tuple[str, ...]

    @property
    def seconds_per_simulation(self) -> float:
        """Wall seconds per simulation (all workers together)."""
        return self.seconds / max(self.simulations, 1)


def planner(
    scenario: Scenario,
    target: str | None = None,
    seed: int = 0,
    workers: int | None = None,
    progress: Progress | None = None,
) -> PlannerResult:
    """Run the README's planning search (:data:`PLANNER_EXAMPLE`, ``target`` replacing its
    target ARR) on ``scenario`` from an empty store and time it."""
    import tempfile
    from pathlib import Path

    from sim.experiment import plan as planner_module

    example = PLANNER_EXAMPLE
    space = planner_module.PlanSpace.parse(
        scenario, example["by"], example["hires"], example["quarters"]
    )
    money = target or example["target"]
    arr = planner_module.parse_money(money)
    cost = planner_module.search_cost(
        scenario, example["by"], confidence=example["confidence"], space=space
    )
    with tempfile.TemporaryDirectory(prefix="revloop-bench-") as folder:
        start = time.perf_counter()
        result = planner_module.plan_search(
            scenario,
            arr,
            example["by"],
            confidence=example["confidence"],
            space=space,
            seed=seed,
            workers=workers,
            store=Path(folder) / "plan.duckdb",
            progress=progress,
        )
        seconds = time.perf_counter() - start
    return PlannerResult(
        target=money,
        plans=len(result.candidates),
        foreseen_most=cost.most,
        foreseen_expected=cost.expected,
        simulations=result.simulations,
        seconds=seconds,
        answer=tuple(result.sentences()),
    )

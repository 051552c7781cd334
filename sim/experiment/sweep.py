"""Parameter sweeps: the design is data, the results go to a DuckDB store, runs resume.

A sweep file names a base scenario, the parameters to vary (dotted paths, as ``--set``
takes them) with a list of values or a range, the design (``grid``, ``lhs``, ``sobol`` or
``morris``; the last three sampled through SALib), replications per point, the seed, the KPIs
to keep and, optionally, monthly series to keep::

    name: levers
    base: ../base.yaml                  # relative to this file
    set: [horizon_months=24]            # fixed overrides for every point (optional)
    parameters:
      inside_sales.headcount: [8, 10, 14]
      marketing.scoring.mql_threshold: {low: 15, high: 25, num: 3}
      recycle.lost.pause_days.mean: {low: 60, high: 180, step: 60}
    design: grid
    replications: 20
    seed: 1
    kpis: [ending_arr, new_arr, wins]
    monthly: [arr]

**Seeds.** Replication ``r`` of *every* point uses ``replication_seed(seed, r)``: the seed
of (point, replication) is a pure function of (sweep seed, replication), so points are
compared on common random numbers, exactly like :func:`sim.experiment.compare.compare`, and
the rows are the same whatever the executor, the number of workers or the order tasks finish.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator
from scipy import stats

from sim import display
from sim.analysis.metrics import KPIS
from sim.errors import InputError, Problem, ScenarioError
from sim.experiment.executors import ExecutorLike, make_executor
from sim.experiment.runner import Progress, replicate
from sim.experiment.store import ResultStore
from sim.scenario.loader import SET_FILE, SourceMap, apply_overrides, read_layered, validate
from sim.scenario.schema import Scenario
from sim.stats import ci_half_width

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "Sweep",
    "SweepError",
    "SweepRun",
    "SweepSpec",
    "TaskResult",
    "load_sweep",
    "monthly_metrics",
    "run_task",
    "sensitivity",
    "sweep",
    "sweep_summary",
]

MAX_PROBLEMS = 20
"""Point validation stops reporting after this many distinct problems."""


class SweepError(InputError):
    """A sweep file is invalid, or a results store cannot take this sweep (bad input)."""


# --- the sweep file -------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class Range(_Strict):
    """A numeric range: ``{low, high}`` plus ``num`` or ``step`` in a grid.

    Integer ``low``, ``high`` (and ``step``) give integer values: a grid's values, or the
    values a sampled design draws uniformly between ``low`` and ``high`` inclusive.
    """

    low: int | float
    high: int | float
    num: int | None = Field(None, ge=2, description="grid: this many evenly spaced values")
    step: int | float | None = Field(None, gt=0, description="grid: low, low + step, ... <= high")

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if not self.high > self.low:
            raise ValueError(f"high: must be above low ({self.low})")
        return self

    @property
    def integer(self) -> bool:
        """Whether the range holds whole numbers only."""
        bounds = (self.low, self.high) if self.step is None else (self.low, self.high, self.step)
        return all(isinstance(b, int) for b in bounds)


def _parameter_kind(value: Any) -> str | None:
    if isinstance(value, list):
        return "values"
    if isinstance(value, dict | Range):  # Range: when serialising a validated spec
        return "range"
    return None


ParameterSpec = Annotated[
    Annotated[list[Any], Field(min_length=1), Tag("values")] | Annotated[Range, Tag("range")],
    Discriminator(
        _parameter_kind,
        custom_error_type="parameter",
        custom_error_message="expected a list of values or a range {low, high, num or step}",
    ),
]


class SweepSpec(_Strict):
    """A sweep file, validated (see the module docstring)."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="the sweep's name")
    description: str = ""
    base: str = Field(description="the base scenario file, relative to the sweep file")
    fixed: list[str] = Field(
        default_factory=list, alias="set", description="dotted.path=value for every point"
    )
    parameters: dict[str, ParameterSpec] = Field(min_length=1)
    design: Literal["grid", "lhs", "sobol", "morris"] = "grid"
    samples: int | None = Field(
        None,
        ge=1,
        description="lhs: points; sobol: base samples N (N x (k + 2) points); "
        "morris: trajectories (r x (k + 1) points)",
    )
    levels: int | None = Field(None, ge=2, description="morris: grid levels (default 4)")
    replications: int = Field(ge=1)
    seed: int = Field(0, ge=0)
    kpis: list[str] = Field(default_factory=lambda: list(KPIS), min_length=1)
    monthly: list[str] = Field(default_factory=list)


# --- a loaded sweep -------------------------------------------------------------------------


@dataclass(frozen=True)
class Sweep:
    """A validated sweep: its definition, base scenario, points and their scenarios.

    Attributes
    ----------
    spec
        The sweep file's content.
    file
        The sweep file as the user named it.
    base
        The base scenario with the sweep's fixed ``set`` overrides.
    points
        Parameter values of each point, in point-id order.
    scenarios
        The validated scenario of each point.
    unit
        Sampled designs: each point's coordinates in the unit cube (SALib's sample).
    digest
        SHA-256 of the definition and the base scenario: a store made by a sweep with
        another digest is refused.
    """

    spec: SweepSpec
    file: str
    base: Scenario
    points: list[dict[str, Any]]
    scenarios: list[Scenario]
    unit: np.ndarray[Any, Any] | None
    digest: str

    @property
    def id(self) -> str:
        """``name-<first 12 hex digits of the digest>``: unique per definition."""
        return f"{self.spec.name}-{self.digest[:12]}"

    @property
    def parameters(self) -> list[str]:
        """The swept parameters' dotted paths, in file order."""
        return list(self.spec.parameters)

    @property
    def tasks(self) -> int:
        """Points x replications."""
        return len(self.points) * self.spec.replications

    def definition(self) -> dict[str, Any]:
        """What the digest covers: the sweep file's content and the resolved base scenario."""
        return {
            "sweep": self.spec.model_dump(mode="json", by_alias=True),
            "base_scenario": self.base.model_dump(mode="json", by_alias=True),
        }


def load_sweep(path: str | os.PathLike[str]) -> Sweep:
    """Read and validate a sweep file, its base scenario, and the scenario of every point.

    Parameters
    ----------
    path
        The sweep YAML file.

    Returns
    -------
    Sweep

    Raises
    ------
    SweepError, ScenarioError
        Every problem found, each as ``file:line: field: message (got value)``: in the sweep
        file (unknown keys, empty lists, bad ranges, unknown KPIs ...), in its base scenario,
        or a parameter value the scenario schema rejects (reported against the sweep file's
        line for that parameter).
    """
    file = os.fspath(path)
    data, sources = read_layered(file)
    spec = validate(SweepSpec, data, sources)
    shown = sources[()][0]
    problems = _check(spec, shown, sources)
    if problems:
        raise SweepError(problems)
    base_path = os.path.join(os.path.dirname(file), spec.base)
    if not os.path.isfile(base_path):
        raise SweepError(
            [
                Problem(
                    f"base scenario not found: {base_path}", "base", *sources[("base",)], spec.base
                )
            ]
        )
    base_data, base_sources = read_layered(base_path)
    base_data, base_sources, base = _fixed_base(spec, shown, sources, base_data, base_sources)
    if spec.monthly:
        problems = _names(spec.monthly, set(monthly_metrics(base)), "monthly", shown, sources)
        if problems:
            raise SweepError(problems)
    unit = None if spec.design == "grid" else _unit_sample(spec)
    points = _grid(spec) if unit is None else _sampled(spec, unit)
    scenarios = _point_scenarios(spec, shown, sources, base_data, base_sources, points)
    canonical = json.dumps(
        {"sweep": spec.model_dump(mode="json", by_alias=True), "base": base.digest()},
        sort_keys=True,
    )
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    return Sweep(spec, shown, base, points, scenarios, unit, digest)


def _check(spec: SweepSpec, file: str, sources: SourceMap) -> list[Problem]:
    """Cross-field checks pydantic cannot locate precisely (parameter names hold dots)."""
    problems: list[Problem] = []

    def add(message: str, path: tuple[str | int, ...], value: Any) -> None:
        line = sources.get(path, sources.get(path[:2], (file, None)))[1]
        problems.append(Problem(message, ".".join(map(str, path)), file, line, value))

    grid = spec.design == "grid"
    if grid and spec.samples is not None:
        add("a grid has no samples: its points are every combination", ("samples",), spec.samples)
    if not grid and spec.samples is None:
        problems.append(
            Problem(f"a {spec.design} design needs samples", "samples", file, sources[()][1])
        )
    if spec.design == "sobol" and spec.samples is not None and spec.samples & (spec.samples - 1):
        add("sobol needs a power of 2 (Saltelli's scheme)", ("samples",), spec.samples)
    if spec.levels is not None and spec.design != "morris":
        add("levels applies to morris designs only", ("levels",), spec.levels)
    for name, param in spec.parameters.items():
        where = ("parameters", name)
        if not isinstance(param, Range):
            continue
        if grid and (param.num is None) == (param.step is None):
            add("a grid range needs num or step (one of them)", where, _plain(param))
        elif grid and param.step is not None and param.step > param.high - param.low:
            add("step is larger than the range", (*where, "step"), param.step)
        elif not grid and (param.num is not None or param.step is not None):
            key = "num" if param.num is not None else "step"
            message = f"{key} applies to grids; {spec.design} draws values in [low, high]"
            add(message, (*where, key), getattr(param, key))
    problems += _names(spec.kpis, set(KPIS), "kpis", file, sources)
    return problems


def _names(
    names: Sequence[str], known: set[str], key: str, file: str, sources: SourceMap
) -> list[Problem]:
    """Problems with a list of KPI or series names: unknown, or listed twice."""
    what, allowed = ("KPI", "KPIs") if key == "kpis" else ("monthly series", "series")
    problems = []
    seen: set[str] = set()
    for index, name in enumerate(names):
        line = sources.get((key, index), (file, None))[1]
        if name in seen:
            problems.append(Problem("listed twice", f"{key}.{index}", file, line, name))
        elif name not in known:
            message = f"unknown {what}; {allowed}: {', '.join(sorted(known))}"
            problems.append(Problem(message, f"{key}.{index}", file, line, name))
        seen.add(name)
    return problems


def _plain(param: Range) -> dict[str, Any]:
    return param.model_dump(exclude_none=True)


def _fixed_base(
    spec: SweepSpec,
    file: str,
    sources: SourceMap,
    data: dict[str, Any],
    base_sources: SourceMap,
) -> tuple[dict[str, Any], SourceMap, Scenario]:
    """Apply the sweep's ``set`` items to the base; locate their problems in the sweep file."""
    lines: dict[int, tuple[tuple[str | int, ...], Any]] = {
        i + 1: (("set", i), None) for i in range(len(spec.fixed))
    }
    try:
        data, base_sources = apply_overrides(data, base_sources, spec.fixed)
        base = validate(Scenario, data, base_sources)
    except ScenarioError as err:
        raise SweepError(_relocate(err.problems, file, sources, lines)) from None
    # From here on, problems these overrides cause point at the sweep file's set: lines.
    moved = {
        key: ((file, sources[lines[src[1]][0]][1]) if src[0] == SET_FILE else src)
        for key, src in base_sources.items()
    }
    return data, moved, base


def _relocate(
    problems: Sequence[Problem],
    file: str,
    sources: SourceMap,
    lines: dict[int, tuple[tuple[str | int, ...], Any]],
) -> list[Problem]:
    """Point problems of ``--set``-style overrides at the sweep file line that made them.

    ``lines`` maps an override's position to its source-map key in the sweep file and the
    value it set (``None`` for the ``set:`` items, whose text is the clearer value to show).
    """
    out = []
    for p in problems:
        if p.file != SET_FILE or p.line not in lines:
            out.append(p)
            continue
        key, value = lines[p.line]
        name = key[1] if key[0] == "parameters" else None
        message = p.message if p.path == name else f"{p.path}: {p.message}"
        if name is not None and isinstance(p.value, str) and p.value.startswith(f"{name}="):
            p = Problem(p.message, p.path, p.file, p.line, value)  # the value, not the item
        line = sources.get(key, (file, None))[1]
        out.append(Problem(message, ".".join(map(str, key[:2])), file, line, p.value))
    return out


def _point_scenarios(
    spec: SweepSpec,
    file: str,
    sources: SourceMap,
    data: dict[str, Any],
    base_sources: SourceMap,
    points: list[dict[str, Any]],
) -> list[Scenario]:
    """Validate every point's scenario, locating problems in the sweep file.

    A path that cannot be set (an index out of range, a key inside a single value) is found
    first, parameter by parameter, so it does not hide the other parameters' problems; then
    every point is validated and distinct problems are kept. A cross-field check that fails
    (reported by the schema at a field of the base scenario) names the point's values.
    """
    problems: dict[str, Problem] = {}
    good: list[str] = []
    for name, param in spec.parameters.items():
        value = _levels(param)[0] if spec.design == "grid" else _from_unit(param, 0.0)
        item = [f"{name}={_yaml(value)}"]
        try:
            apply_overrides(data, base_sources, item)
            good.append(name)
        except ScenarioError as err:
            lines = {1: (_value_key(spec, name, value), value)}
            problems.update((str(p), p) for p in _relocate(err.problems, file, sources, lines))
    scenarios: list[Scenario] = []
    tried: set[tuple[str, ...]] = set()
    across: dict[tuple[str, str, str], tuple[Problem, str, int]] = {}
    for point in points:
        values = {name: point[name] for name in good}
        sets = [f"{name}={_yaml(value)}" for name, value in values.items()]
        if problems and tuple(sets) in tried:
            continue
        tried.add(tuple(sets))
        lines = {
            i + 1: (_value_key(spec, name, value), value)
            for i, (name, value) in enumerate(values.items())
        }
        try:
            point_data, point_sources = apply_overrides(data, base_sources, sets)
            scenarios.append(validate(Scenario, point_data, point_sources))
        except ScenarioError as err:
            for p in _relocate(err.problems, file, sources, lines):
                if p.file == file:
                    problems.setdefault(str(p), p)
                    continue
                # A check across fields, located in the base scenario: report it once, with
                # the first point that fails it and how many do.
                combo = ", ".join(f"{n}={v!r}" for n, v in values.items())
                key = (p.path, p.message, repr(p.value))
                first, shown, count = across.get(key, (p, combo, 0))
                across[key] = (first, shown, count + 1)
        if len(problems) + len(across) >= MAX_PROBLEMS:
            break
    where = sources.get(("parameters",), (file, None))[1]
    for p, combo, count in across.values():
        at = f"{p.file}:{p.line}" if p.line is not None else str(p.file)
        points_text = "1 point" if count == 1 else f"{count} points, e.g."
        message = f"fails at {points_text} {combo}: {p.path}: {p.message} (at {at})"
        problems.setdefault(message, Problem(message, "parameters", file, where, p.value))
    if problems:
        raise SweepError(sorted(problems.values(), key=lambda p: (p.file != file, p.line or 0)))
    return scenarios


def _value_key(spec: SweepSpec, name: str, value: Any) -> tuple[str | int, ...]:
    """The source-map key of the list item that gave ``value`` (else the parameter's key)."""
    param = spec.parameters[name]
    if isinstance(param, list):
        for index, item in enumerate(param):
            if item == value and type(item) is type(value):
                return ("parameters", name, index)
    return ("parameters", name)


def _yaml(value: Any) -> str:
    """``value`` as one line of YAML that reads back as exactly ``value``."""
    text: str = yaml.safe_dump(value, default_flow_style=True, width=1 << 30)
    return text.removesuffix("\n...\n").strip()


# --- designs --------------------------------------------------------------------------------


def _range_values(param: Range) -> list[Any]:
    if param.num is not None:
        values = np.linspace(param.low, param.high, param.num).tolist()
    else:
        assert param.step is not None  # _check guarantees num or step in a grid
        count = math.floor((param.high - param.low) / param.step + 1e-9)
        values = [param.low + param.step * k for k in range(count + 1)]
    # 12 significant digits: 0.1 + 2 x 0.1 is 0.3, not 0.30000000000000004
    out = [float(f"{v:.12g}") for v in values]
    if param.integer:
        return [int(v) if v.is_integer() else v for v in out]
    return out


def _levels(param: list[Any] | Range) -> list[Any]:
    return list(param) if isinstance(param, list) else _range_values(param)


def _grid(spec: SweepSpec) -> list[dict[str, Any]]:
    names = list(spec.parameters)
    levels = [_levels(spec.parameters[name]) for name in names]
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*levels)]


def _salib_problem(spec: SweepSpec) -> dict[str, Any]:
    # Every parameter lives in [0, 1] for SALib and is mapped to its values afterwards, so
    # lists (discrete levels) and integer ranges sample like continuous ones.
    names = list(spec.parameters)
    return {"num_vars": len(names), "names": names, "bounds": [[0.0, 1.0]] * len(names)}


def _unit_sample(spec: SweepSpec) -> np.ndarray[Any, Any]:
    """The design's points in the unit cube, from SALib, seeded with the sweep seed."""
    from SALib.sample import latin, morris, sobol

    problem = _salib_problem(spec)
    n = spec.samples or 1
    if spec.design == "lhs":
        unit = latin.sample(problem, n, seed=spec.seed)
    elif spec.design == "sobol":
        unit = sobol.sample(problem, n, calc_second_order=False, seed=spec.seed)
    else:
        unit = morris.sample(problem, n, num_levels=spec.levels or 4, seed=spec.seed)
    return np.asarray(unit, dtype=float)


def _sampled(spec: SweepSpec, unit: np.ndarray[Any, Any]) -> list[dict[str, Any]]:
    points: list[dict[str, Any]] = [{} for _ in range(len(unit))]
    for j, (name, param) in enumerate(spec.parameters.items()):
        for point, u in zip(points, unit[:, j], strict=True):
            point[name] = _from_unit(param, float(u))
    return points


def _from_unit(param: list[Any] | Range, u: float) -> Any:
    if isinstance(param, list):
        return param[min(int(u * len(param)), len(param) - 1)]
    if param.integer:
        low, high = int(param.low), int(param.high)
        return min(low + int(u * (high - low + 1)), high)
    return param.low + u * (param.high - param.low)


# --- running --------------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskResult:
    """What one (point, replication) task sends back: the KPIs and series the sweep keeps."""

    replication: int
    seed: str
    kpis: dict[str, float]
    monthly: dict[str, np.ndarray[Any, Any]]


def run_task(
    scenario: Scenario,
    seed: int,
    replication: int,
    kpis: Sequence[str],
    series: Sequence[str],
) -> TaskResult:
    """Run one replication and keep only what the sweep stores (runs on any worker).

    Parameters
    ----------
    scenario
        The point's scenario.
    seed, replication
        The sweep's seed and the replication index: the replication is seeded from
        ``(seed, replication)``, whatever the point.
    kpis, series
        The KPIs and monthly series to return.
    """
    rep = replicate(scenario, seed, replication)
    return TaskResult(
        replication=replication,
        seed=rep.seed,
        kpis={k: rep.kpis[k] for k in kpis},
        monthly={m: rep.monthly[m] for m in series},
    )


@dataclass(repr=False)
class SweepRun(display.Shown):
    """What one call of :func:`sweep` did, and a way to its results.

    In a notebook it shows itself as a short table (design, points, replications, seed,
    ending ARR across points); :meth:`to_frame` gives the per-point summary from the store
    and :meth:`plot` the sensitivity, response curve, heatmap or tornado chart.

    Attributes
    ----------
    total
        Points x replications.
    skipped
        Tasks already in the store (not recomputed).
    computed
        Tasks run and stored by this call.
    seconds
        Wall time spent running tasks (after validation and store setup).
    complete
        False if interrupted (Ctrl-C): what finished is stored; run again to resume.
    executor
        The executor's name (empty if nothing was left to run).
    code_changed
        Always False: a store started by other revloop code (another version or a local
        edit) is refused (:class:`StoreError`), as its rows may differ from what this code
        computes. Kept for callers that read it.
    definition
        The sweep that ran.
    """

    sweep_id: str
    out: str
    total: int
    skipped: int
    computed: int = 0
    seconds: float = 0.0
    complete: bool = True
    executor: str = ""
    code_changed: bool = False
    definition: Sweep | None = None

    @property
    def tasks_per_second(self) -> float:
        """Tasks computed per second of wall time."""
        return self.computed / self.seconds if self.seconds > 0 else math.nan

    def _facts(self) -> display.Facts:
        done = f"{self.computed} computed, {self.skipped} already stored, of {self.total}"
        rows = [("tasks", done + ("" if self.complete else " (interrupted)"))]
        sw = self.definition
        if sw is not None:
            spec = sw.spec
            rows[:0] = [
                ("design", f"{spec.design}: {', '.join(sw.parameters)}"),
                ("points", f"{len(sw.points)} x {spec.replications} replications"),
                ("seed", str(spec.seed)),
                ("horizon", f"{sw.base.horizon_months} months from {sw.base.start_date:%Y-%m}"),
            ]
            if "ending_arr" in spec.kpis:
                try:
                    means = self.to_frame(["ending_arr"])["mean"]
                except Exception:  # a repr never raises: the store may be busy or gone
                    means = None
                if means is not None:
                    rows.append(("ending ARR (point means)", display.band("ending_arr", means)))
        return f"Sweep: {self.sweep_id}", rows

    def to_frame(self, kpis: Sequence[str] | None = None) -> pd.DataFrame:
        """The per-point summary of the store (:func:`sweep_summary`).

        Parameters
        ----------
        kpis
            KPIs to summarise (default: every KPI stored).
        """
        return sweep_summary(self.out, kpis)

    def sensitivity(self, kpi: str = "ending_arr") -> pd.DataFrame:
        """How much each parameter moves ``kpi`` (:func:`sensitivity` of the store)."""
        return sensitivity(self.out, kpi)

    def plot(
        self,
        kind: str = "sensitivity",
        kpi: str = "ending_arr",
        x: str | None = None,
        y: str | None = None,
    ) -> Figure:
        """Draw the sweep's results.

        Parameters
        ----------
        kind
            ``sensitivity``: :meth:`sensitivity` as bars with 95% CIs; ``curve``: the KPI's
            mean against parameter ``x``, one line per value of ``y``; ``heatmap``: the
            KPI's mean over ``x`` and ``y``; ``tornado`` (grid designs): the KPI's swing
            when each parameter moves to its first and last level, the others at the base
            scenario's values.
        kpi
            The KPI.
        x, y
            Parameters of the curve and heatmap (default: the first two swept).

        Returns
        -------
        matplotlib.figure.Figure

        Raises
        ------
        ValueError
            On an unknown kind, or a chart the sweep cannot give.
        """
        from sim.analysis import plots

        if kind == "sensitivity":
            return plots.sensitivity_chart(self.sensitivity(kpi), kpi)
        points = self.to_frame([kpi]).rename(columns={"mean": kpi, "ci95": f"{kpi}_ci95"})
        names = self.definition.parameters if self.definition else []
        x = x or (names[0] if names else None)
        y = y or (names[1] if len(names) > 1 else None)
        if kind == "curve" and x:
            return plots.response_curve(points, x, kpi, by=y)
        if kind == "heatmap" and x and y:
            return plots.response_heatmap(points, x, y, kpi)
        if kind == "tornado" and self.definition and self.definition.spec.design == "grid":
            return _tornado(self.definition, points, kpi)
        raise ValueError(
            f"cannot draw {kind!r} of this sweep: use sensitivity, curve (one parameter), "
            "heatmap (two) or tornado (a grid)"
        )


def _tornado(sw: Sweep, points: pd.DataFrame, kpi: str) -> Figure:
    """Tornado chart of a grid: each parameter at its first and last level, the others at
    the base scenario's values (where the grid has them)."""
    from sim.analysis import plots

    base = {name: functools.reduce(getattr, name.split("."), sw.base) for name in sw.parameters}

    def mean_at(setting: dict[str, Any]) -> float:
        at = np.logical_and.reduce([points[p] == v for p, v in setting.items()])
        return float(points.loc[at, kpi].mean())

    rows = []
    for name in sw.parameters:
        levels = list(dict.fromkeys(points[name]))
        low, high = levels[0], levels[-1]
        rows.append(
            {
                "parameter": name,
                "low": mean_at(base | {name: low}),
                "high": mean_at(base | {name: high}),
                "low_label": low,
                "high_label": high,
            }
        )
    return plots.tornado_chart(pd.DataFrame(rows), kpi, mean_at(base))


def sweep(
    definition: Sweep | str | os.PathLike[str],
    out: str | os.PathLike[str],
    executor: ExecutorLike = None,
    workers: int | None = None,
    progress: Progress | None = None,
) -> SweepRun:
    """Run every (point, replication) task of a sweep not yet in the store ``out``.

    Each task's rows are committed to the DuckDB file ``out`` as it finishes, so a killed run
    loses only the tasks in flight; calling again with the same sweep resumes, and the final
    tables are identical to an uninterrupted run's.

    Parameters
    ----------
    definition
        A :class:`Sweep` or the path of a sweep file.
    out
        The DuckDB results file (created if missing).
    executor, workers
        Where tasks run (see :func:`sim.experiment.executors.make_executor`): local processes
        by default, ``"serial"``, a Dask scheduler address or ``dask.distributed.Client``.
    progress
        Optional callback ``progress(done, total)``, called after each commit (``done``
        counts tasks already stored too).

    Returns
    -------
    SweepRun

    Raises
    ------
    SweepError, ScenarioError, StoreError
        Bad sweep file or base scenario, or ``out`` holds a different sweep, was started by
        other revloop code, or is not a revloop store.
    """
    sw = definition if isinstance(definition, Sweep) else load_sweep(definition)
    spec = sw.spec
    with ResultStore(out) as store:
        store.prepare(sw)  # refuses a store started by other revloop code
        finished = store.finished()
        # Replication-major: an interrupted sweep has every point at about the same depth.
        todo = [
            (p, r)
            for r in range(spec.replications)
            for p in range(len(sw.points))
            if (p, r) not in finished
        ]
        run = SweepRun(sw.id, os.fspath(out), sw.tasks, sw.tasks - len(todo), definition=sw)
        if progress:
            progress(run.skipped, run.total)
        if not todo:
            return run
        tasks = [(sw.scenarios[p], spec.seed, r, spec.kpis, spec.monthly) for p, r in todo]
        start = time.perf_counter()
        try:
            with make_executor(executor, workers) as pool:
                run.executor = pool.name
                for index, result in pool.imap_unordered(run_task, tasks):
                    store.add(sw, todo[index][0], result)
                    run.computed += 1
                    if progress:
                        progress(run.skipped + run.computed, run.total)
        except KeyboardInterrupt:
            run.complete = False
        finally:
            run.seconds = time.perf_counter() - start
        return run


# --- reading results ------------------------------------------------------------------------


def sweep_summary(out: str | os.PathLike[str], kpis: Sequence[str] | None = None) -> pd.DataFrame:
    """Per point and KPI: mean, sd, 95% CI half-width of the mean, P10, P50, P90, n.

    Parameters
    ----------
    out
        A DuckDB results file written by :func:`sweep`.
    kpis
        KPIs to summarise (default: every KPI stored).

    Returns
    -------
    pandas.DataFrame
        Tidy: ``point_id``, one column per parameter, ``kpi``, ``n``, ``mean``, ``sd``,
        ``ci95``, ``p10``, ``p50``, ``p90``; sorted by point and KPI (in the sweep's order).
    """
    with ResultStore(out, read_only=True) as store:
        table = store.kpis()
        points = store.points()
        order = store.spec()["kpis"]
    if kpis is not None:
        _known(kpis, order)
        table = table[table["kpi"].isin(list(kpis))]
        order = [k for k in order if k in kpis]
    grouped = table.groupby(["point_id", "kpi"], sort=False)["value"]
    stats_ = grouped.agg(n="count", mean="mean", sd="std")
    bands = grouped.quantile(np.array([0.1, 0.5, 0.9])).unstack()
    bands.columns = ["p10", "p50", "p90"]
    out_ = stats_.join(bands).reset_index()
    n = out_["n"].to_numpy(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.where(n > 1, stats.t.ppf(0.975, np.maximum(n - 1, 1)), np.nan)
        out_["ci95"] = t * out_["sd"].to_numpy(float) / np.sqrt(n)
    out_ = points.drop(columns=["sweep_id"]).merge(out_, on="point_id")
    out_["kpi"] = pd.Categorical(out_["kpi"], categories=order, ordered=True)
    out_ = out_.sort_values(["point_id", "kpi"]).reset_index(drop=True)
    out_["kpi"] = out_["kpi"].astype(str)
    columns = [*points.columns.drop("sweep_id"), "kpi", "n", "mean", "sd", "ci95"]
    return out_[[*columns, "p10", "p50", "p90"]]


def sensitivity(out: str | os.PathLike[str], kpi: str = "ending_arr") -> pd.DataFrame:
    """How much each parameter moves a KPI, by the method that fits the sweep's design.

    The KPI of a point is its mean over the stored replications.

    - ``grid``: main effects. ``effect`` is the paired difference between the parameter's
      last and first level (each level's KPI averaged over the other parameters' points),
      with ``effect_ci95`` from its spread across replications (common random numbers pair
      them); ``swing`` is the largest minus the smallest level average; ``share`` is the
      share of the variance of point means that the parameter's levels explain alone.
    - ``sobol``: first-order and total Sobol indices ``S1``, ``ST`` with 95% CIs
      (``S1_ci95``, ``ST_ci95``, SALib's bootstrap).
    - ``morris``: ``mu``, ``mu_star`` (mean absolute elementary effect per full range of
      the parameter), ``mu_star_ci95`` and ``sigma``.
    - ``lhs``: Spearman rank correlation ``rho`` with a 95% CI (Fisher z).

    Parameters
    ----------
    out
        A DuckDB results file written by :func:`sweep`.
    kpi
        The KPI.

    Returns
    -------
    pandas.DataFrame
        One row per parameter, most influential first.

    Raises
    ------
    ValueError
        If the KPI was not stored, or a point has no finished replication yet.
    """
    with ResultStore(out, read_only=True) as store:
        table = store.kpis()
        points = store.points()
        spec = SweepSpec.model_validate(store.spec())
    _known([kpi], spec.kpis)
    table = table[table["kpi"] == kpi]
    y = table.pivot(index="point_id", columns="replication", values="value")
    missing = len(points) - len(y)
    if missing:
        raise ValueError(
            f"{missing} of {len(points)} points have no finished replication yet: "
            "run the sweep to completion first"
        )
    y = y.reindex(points["point_id"])
    names = list(spec.parameters)
    if spec.design == "grid":
        frame = _main_effects(points, y, names)
        frame = frame.sort_values("share", ascending=False)
    elif spec.design == "lhs":
        frame = _rank_correlation(points, y, names)
        frame = frame.sort_values("rho", key=np.abs, ascending=False)
    else:
        frame = _salib_indices(spec, y.mean(axis=1).to_numpy(float))
        frame = frame.sort_values("ST" if spec.design == "sobol" else "mu_star", ascending=False)
    frame.insert(0, "kpi", kpi)
    return frame.reset_index(drop=True)


def _known(kpis: Sequence[str], stored: Sequence[str]) -> None:
    unknown = [k for k in kpis if k not in stored]
    if unknown:
        raise ValueError(f"KPI(s) {unknown} not stored by this sweep; it keeps {list(stored)}")


def _main_effects(points: pd.DataFrame, y: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    complete = y.dropna(axis=1, how="any")  # replications every point has
    point_means = y.mean(axis=1).to_numpy(float)
    total_var = float(np.var(point_means))
    rows = []
    for name in names:
        levels = list(dict.fromkeys(points[name]))
        by_level = [complete[(points[name] == lv).to_numpy()].mean(axis=0) for lv in levels]
        means = [float(point_means[(points[name] == lv).to_numpy()].mean()) for lv in levels]
        diff = (by_level[-1] - by_level[0]).to_numpy(float)
        between = float(np.var(means))
        rows.append(
            {
                "parameter": name,
                "first": levels[0],
                "last": levels[-1],
                "effect": float(diff.mean()) if len(diff) else math.nan,
                "effect_ci95": ci_half_width(diff),
                "swing": max(means) - min(means),
                "share": between / total_var if total_var > 0 else math.nan,
            }
        )
    return pd.DataFrame(rows)


def _rank_correlation(points: pd.DataFrame, y: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    means = y.mean(axis=1).to_numpy(float)
    n = len(means)
    rows = []
    for name in names:
        values = points[name].to_numpy()
        rho = float(stats.spearmanr(values, means).statistic) if n > 2 else math.nan
        half = 1.96 * 1.03 / math.sqrt(n - 3) if n > 3 else math.nan
        z = math.atanh(max(min(rho, 0.999999), -0.999999)) if math.isfinite(rho) else math.nan
        rows.append(
            {
                "parameter": name,
                "rho": rho,
                "rho_low": math.tanh(z - half),
                "rho_high": math.tanh(z + half),
            }
        )
    return pd.DataFrame(rows)


def _salib_indices(spec: SweepSpec, y: np.ndarray[Any, Any]) -> pd.DataFrame:
    from SALib.analyze import morris, sobol

    problem = _salib_problem(spec)
    if spec.design == "sobol":
        res = sobol.analyze(problem, y, calc_second_order=False, conf_level=0.95, seed=spec.seed)
        return pd.DataFrame(
            {
                "parameter": problem["names"],
                "S1": res["S1"],
                "S1_ci95": res["S1_conf"],
                "ST": res["ST"],
                "ST_ci95": res["ST_conf"],
            }
        )
    unit = _unit_sample(spec)
    res = morris.analyze(
        problem, unit, y, conf_level=0.95, num_levels=spec.levels or 4, seed=spec.seed
    )
    return pd.DataFrame(
        {
            "parameter": problem["names"],
            "mu": res["mu"],
            "mu_star": res["mu_star"],
            "mu_star_ci95": res["mu_star_conf"],
            "sigma": res["sigma"],
        }
    )


def monthly_metrics(scenario: Scenario) -> tuple[str, ...]:
    """Names of the monthly series a replication of ``scenario`` produces.

    Read off a one-month replication, so the list can never drift from what a replication
    returns (it takes a fraction of a second).
    """
    one_month = scenario.model_copy(update={"horizon_months": 1})
    return tuple(replicate(one_month, 0, 0).monthly)

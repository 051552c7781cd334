"""A sweep file: its schema, its checks, its design (grid or SALib samples) and the
scenarios of its points."""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

from sim.analysis.metrics import KPIS
from sim.errors import InputError, Problem, ScenarioError
from sim.experiment.runner import replicate
from sim.scenario.loader import SET_FILE, SourceMap, apply_overrides, read_layered, validate
from sim.scenario.schema import Scenario

if TYPE_CHECKING:
    pass


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
    unit = None if spec.design == "grid" else unit_sample(spec)
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


def salib_problem(spec: SweepSpec) -> dict[str, Any]:
    # Every parameter lives in [0, 1] for SALib and is mapped to its values afterwards, so
    # lists (discrete levels) and integer ranges sample like continuous ones.
    names = list(spec.parameters)
    return {"num_vars": len(names), "names": names, "bounds": [[0.0, 1.0]] * len(names)}


def unit_sample(spec: SweepSpec) -> np.ndarray[Any, Any]:
    """The design's points in the unit cube, from SALib, seeded with the sweep seed."""
    from SALib.sample import latin, morris, sobol

    problem = salib_problem(spec)
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


def monthly_metrics(scenario: Scenario) -> tuple[str, ...]:
    """Names of the monthly series a replication of ``scenario`` produces.

    Read off a one-month replication, so the list can never drift from what a replication
    returns (it takes a fraction of a second).
    """
    one_month = scenario.model_copy(update={"horizon_months": 1})
    return tuple(replicate(one_month, 0, 0).monthly)

"""Control variates for paired comparisons: the teams' capacity, known from the rosters alone.

Two scenarios that differ in one lever, run on the same seeds, share most of their luck
(common random numbers), but not what the lever's worth depends on. Adding SDRs is worth
more in a future where the desk loses people than in one where it keeps them, so the paired
difference still varies with the base's turnover. That part is known: each team's capacity
(effective person-days over the horizon: turnover, vacancies, backfills, ramp and coaching)
depends only on the seats' own random numbers, never on the leads, so
:func:`~sim.engine.world.roster_days` gives it for any seed in milliseconds, and its mean
from a few thousand such runs. :func:`controlled_difference` then takes out of the paired
difference the part a straight line in those capacities explains
(:func:`sim.stats.control_variates`): the same mean, a narrower interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.engine.streams import replication_seed
from sim.engine.world import roster_days
from sim.scenario.schema import Scenario
from sim.stats import ControlledMean, control_variates

CONTROL_OFFSET = 2_000_000
"""The replications that estimate the controls' means are ``CONTROL_OFFSET + j``: never a
replication of a run or a comparison (the plan search's confirmations start at 10**6)."""

CONTROL_RUNS = 2000
"""Roster-only runs behind the controls' means by default (about 8 ms each on the base)."""


@dataclass(frozen=True)
class Controls:
    """Each team's capacity in given replications, and its mean over many others.

    ``values`` is ``(replications, teams)``, ``means`` and ``means_cov`` the teams' mean
    capacity and the covariance of that estimate (from ``runs`` roster-only runs).
    """

    teams: tuple[str, ...]
    values: np.ndarray[Any, Any]
    means: np.ndarray[Any, Any]
    means_cov: np.ndarray[Any, Any]
    runs: int


@dataclass(frozen=True)
class Capacity:
    """One scenario's team capacities: in the replications compared (``values``) and in
    ``runs`` roster-only replications of their own (``pool``), teams in the order of
    :func:`~sim.engine.world.roster_days`."""

    teams: tuple[str, ...]
    values: np.ndarray[Any, Any]
    pool: np.ndarray[Any, Any]


def team_capacity(scenario: Scenario, seed: int, replications: Sequence[int]) -> np.ndarray:
    """``(len(replications), teams)``: each team's effective person-days over the horizon
    in those replications (seeded as :func:`sim.run` seeds them), teams in the order of
    :func:`~sim.engine.world.roster_days`."""
    rows = [list(roster_days(scenario, replication_seed(seed, r)).values()) for r in replications]
    return np.asarray(rows, dtype=float)


def capacity(
    scenario: Scenario, seed: int, replications: Sequence[int], runs: int = CONTROL_RUNS
) -> Capacity:
    """``scenario``'s team capacities in ``replications`` and in ``runs`` replications of
    their own (``CONTROL_OFFSET + j``), from its rosters alone."""
    if runs < 2:
        raise ValueError("the controls' means need at least 2 runs")
    teams = tuple(roster_days(scenario, replication_seed(seed, CONTROL_OFFSET)))
    pool = team_capacity(scenario, seed, range(CONTROL_OFFSET, CONTROL_OFFSET + runs))
    return Capacity(teams, team_capacity(scenario, seed, replications), pool)


def paired(base: Capacity, variant: Capacity | None = None) -> Controls:
    """The controls of a pair: each team's capacity in the base, and in the variant too
    where it differs (the seats a lever adds have turnover of their own), labelled
    ``team (variant)``. The means come from the same roster-only replications, so their
    estimates' covariance is taken across both."""
    teams, pool, values = list(base.teams), base.pool, base.values
    if variant is not None:
        new = [
            j
            for j, name in enumerate(variant.teams)
            if name not in teams
            or not np.array_equal(variant.pool[:, j], pool[:, teams.index(name)])
            or not np.array_equal(variant.values[:, j], values[:, teams.index(name)])
        ]
        teams += [f"{variant.teams[j]} (variant)" for j in new]
        pool = np.hstack([pool, variant.pool[:, new]])
        values = np.hstack([values, variant.values[:, new]])
    runs = len(pool)
    cov = np.atleast_2d(np.cov(pool, rowvar=False)) / runs
    return Controls(tuple(teams), values, pool.mean(axis=0), cov, runs)


def controls(
    scenario: Scenario,
    seed: int,
    replications: Sequence[int],
    runs: int = CONTROL_RUNS,
    variant: Scenario | None = None,
) -> Controls:
    """The teams' capacity in ``replications`` of ``scenario`` and its mean over ``runs``
    replications of their own (``CONTROL_OFFSET + j``); with ``variant``, the controls of
    the pair (:func:`paired`)."""
    other = None if variant is None else capacity(variant, seed, replications, runs)
    return paired(capacity(scenario, seed, replications, runs), other)


def controlled_difference(
    base: Any, other: Any, found: Controls, level: float = 0.95
) -> ControlledMean:
    """The mean of ``other - base`` (aligned with ``found.values``) with the part that the
    team capacities of ``found`` explain taken out: an estimate of the same mean
    difference, with a narrower interval when the lever's worth varies with the teams'
    turnover."""
    d = np.asarray(other, dtype=float) - np.asarray(base, dtype=float)
    keep = ~np.isnan(d)  # as sim.stats.paired_difference: a pair with a NaN is dropped
    return control_variates(d[keep], found.values[keep], found.means, found.means_cov, level)

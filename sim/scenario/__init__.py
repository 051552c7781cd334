"""Scenarios: the schema, distributions, and loading YAML files with precise errors."""

from __future__ import annotations

import os
from collections.abc import Sequence

from sim.scenario.loader import load
from sim.scenario.schema import Scenario


def load_scenario(path: str | os.PathLike[str], sets: Sequence[str] = ()) -> Scenario:
    """Read, merge (``extends:``), override (``--set`` items) and validate a scenario file.

    Parameters
    ----------
    path
        The YAML file.
    sets
        Overrides such as ``"inside_sales.headcount=12"``, applied after ``extends``.

    Raises
    ------
    ScenarioError
        With every problem found, each located as ``file:line: dotted.path: message``.
    """
    return load(Scenario, path, sets)


__all__ = ["Scenario", "load_scenario"]

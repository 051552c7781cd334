"""Scenarios: the schema, distributions, and loading YAML files with precise errors."""

from __future__ import annotations

import os
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

from sim.scenario.loader import apply_overrides, load, validate
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


def as_scenario(source: Scenario | str | os.PathLike[str], sets: Sequence[str] = ()) -> Scenario:
    """A scenario given as an object or as the path of a scenario file.

    Parameters
    ----------
    source
        A validated :class:`Scenario`, or a YAML file (or a results folder's
        ``scenario.json``) read with :func:`load_scenario`.
    sets
        Overrides such as ``"inside_sales.headcount=12"``, applied to either.

    Raises
    ------
    ScenarioError
        If the file or the overrides do not give a valid scenario.
    """
    if not isinstance(source, Scenario):
        return load_scenario(source, sets)
    if not sets:
        return source
    data, sources = apply_overrides(source.model_dump(mode="json", by_alias=True), {}, sets)
    return validate(Scenario, data, sources)


def bundled(*parts: str) -> Path:
    """A path among the bundled scenarios (the project's ``scenarios/`` folder).

    In a source checkout (or an editable install) that is the checkout's own folder; an
    installed revloop ships the same files as package data, ``sim/_scenarios`` (see
    ``setup.py``), found with :mod:`importlib.resources` -- from any working directory.
    """
    return _bundled_root().joinpath(*parts)


def _bundled_root() -> Path:
    """The folder of the bundled scenarios: the checkout's, else the installed package data."""
    checkout = Path(__file__).resolve().parent.parent.parent
    if (checkout / "pyproject.toml").is_file() and (checkout / "scenarios").is_dir():
        return checkout / "scenarios"
    # an installed package is a folder of files, so its resources are paths
    return Path(str(resources.files("sim").joinpath("_scenarios")))


__all__ = ["Scenario", "bundled", "load_scenario"]

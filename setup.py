"""Packaging beyond ``pyproject.toml``: the bundled scenarios ship inside the package.

The top-level ``scenarios/`` folder is installed as the package ``sim._scenarios`` (its
files are package data, listed in ``pyproject.toml``), so :func:`sim.scenario.bundled`
finds them with :mod:`importlib.resources` wherever revloop is installed. A ``packages``
list needs code (discovery plus the mapped folder), hence this file.
"""

from setuptools import find_namespace_packages, find_packages, setup

# scenarios/ and its sub-folders (calibrated, sweeps, validation ...) are data packages
SCENARIOS = [
    "sim._scenarios",
    *(f"sim._scenarios.{p}" for p in find_namespace_packages("scenarios")),
]

setup(
    packages=[*find_packages(include=["sim", "sim.*"]), *SCENARIOS],
    package_dir={"sim._scenarios": "scenarios"},
)

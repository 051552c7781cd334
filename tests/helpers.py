"""Shared test helpers: small, fast variants of the bundled scenarios."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sim import Scenario, load_scenario

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"
BASE = SCENARIOS / "base.yaml"


def small(path: Path = BASE, months: int = 6, sets: Sequence[str] = ()) -> Scenario:
    """A bundled scenario cut to a short horizon, for fast tests."""
    return load_scenario(path, [f"horizon_months={months}", *sets])

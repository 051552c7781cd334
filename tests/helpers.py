"""Shared test helpers: small, fast variants of the bundled scenarios."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pytest

from sim import Scenario, load_scenario

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"
BASE = SCENARIOS / "base.yaml"

OLIST = ROOT.parent / "shared" / "data" / "olist"
"""The public Olist marketing-funnel data, beside the project (docs/guides/finance-forecast.md:
Calibrating)."""

needs_olist = pytest.mark.skipif(
    not OLIST.is_dir() and not os.environ.get("CI"),
    reason=f"Olist data not present: put it in {OLIST} "
    "(docs/guides/finance-forecast.md: Calibrating)",
)
"""For tests on the Olist data: skipped on a machine without it, never in CI, where a
missing folder fails the tests instead of hiding them."""


def small(path: Path = BASE, months: int = 6, sets: Sequence[str] = ()) -> Scenario:
    """A bundled scenario cut to a short horizon, for fast tests."""
    return load_scenario(path, [f"horizon_months={months}", *sets])

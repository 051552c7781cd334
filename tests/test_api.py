"""The top-level API: every public name resolves, and ``import sim`` itself stays light."""

from __future__ import annotations

import subprocess
import sys

import pytest

import sim


def test_every_public_name_resolves_to_its_home() -> None:
    names = set(sim.__all__) - {"__version__"}
    assert names == set(sim._HOMES)
    for name in names:
        value = getattr(sim, name)
        assert value is not None
        assert name in dir(sim)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_thing"):
        sim.no_such_thing  # type: ignore[attr-defined]  # noqa: B018


def test_import_sim_loads_no_heavy_library() -> None:
    # workers and notebooks pay for scipy, pandas and the engine only when they use them
    code = (
        "import sys, sim\n"
        "heavy = [m for m in ('scipy', 'pandas', 'simpy', 'matplotlib', 'sim.engine') "
        "if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""

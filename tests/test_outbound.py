"""Outbound prospecting: capacity, a finite market that runs dry, cooldowns."""

from __future__ import annotations

import numpy as np
import pytest

from sim import simulate
from sim.engine.staff import DAYS_PER_MONTH
from tests.helpers import SCENARIOS, small

OUTBOUND = SCENARIOS / "outbound.yaml"


def test_bdrs_prospect_what_their_capacity_allows() -> None:
    sets = ["outbound.attrition_per_year=0", "outbound.ramp=[1.0]"]
    sc = small(OUTBOUND, months=6, sets=[*sets, "outbound.target_accounts=100000"])
    ledger = simulate(sc, 1)
    capacity = 4 * 150 * ledger.month_days / DAYS_PER_MONTH
    prospected = ledger.flows["outbound_prospected"]
    assert np.all(np.abs(prospected - capacity) <= 1.0)
    assert 0 < ledger.flows["outbound_meetings"].sum() < ledger.flows["outbound_engaged"].sum()


def test_a_small_market_runs_dry() -> None:
    sets = ["outbound.target_accounts=1000", "outbound.cooldown_days=10000"]
    ledger = simulate(small(OUTBOUND, months=6, sets=sets), 2)
    prospected = ledger.flows["outbound_prospected"]
    assert prospected.sum() == 1000  # every account tried once, none comes back
    assert prospected[-1] == 0
    assert ledger.stocks["outbound_available"][-1] == 0


def test_cooled_down_accounts_are_prospected_again() -> None:
    sets = ["outbound.target_accounts=1000", "outbound.cooldown_days=45"]
    ledger = simulate(small(OUTBOUND, months=6, sets=sets), 2)
    prospected = ledger.flows["outbound_prospected"]
    assert prospected.sum() > 1000
    engaged = ledger.flows["outbound_engaged"].sum()
    # accounts that engaged became leads and never return to the list
    assert ledger.stocks["outbound_available"][-1] <= 1000 - engaged


def test_outbound_leads_are_counted_and_conserved() -> None:
    ledger = simulate(small(OUTBOUND, months=4), 3)  # the engine checks conservation itself
    channel = ledger.channels.index("outbound")
    assert (ledger.leads["channel"] == channel).sum() == ledger.flows["outbound_engaged"].sum()
    assert ledger.staff["outbound"]["cost"].sum() > 0


@pytest.mark.parametrize(
    "field", ["outbound.engage_probability=1.5", "outbound.target_accounts=-1"]
)
def test_bad_outbound_settings_are_rejected(field: str) -> None:
    from sim import ScenarioError, load_scenario

    with pytest.raises(ScenarioError):
        load_scenario(OUTBOUND, [field])

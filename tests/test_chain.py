"""The funnel's absorbing chain under the per-reason recycle cap of the engine.

A lead falling out for a reason is retired once it has been recycled ``max_cycles`` times for
that reason (``Recycler.receive``), whatever its recycles for other reasons. The chain must
follow that rule, not the former one that capped the lead's total recycles; the slow test
shows the simulation tells the two apart.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

import pytest

import sim.validation.chain as chain
from sim import Scenario, load_scenario
from sim.validation.chain import Counts, funnel_chain
from sim.validation.checks import chain_check
from tests.helpers import SCENARIOS

FUNNEL = SCENARIOS / "validation" / "funnel.yaml"
REPS = 20

# every target lead an MQL, one attempt; not now and unreached go straight back to inside
# sales (no scoring after a pause), a rejected or lost lead retires at once
_BY_HAND = [
    "marketing.scoring.fit=[]",
    "marketing.scoring.behaviour=[]",
    "marketing.scoring.mql_threshold=0",
    "marketing.scoring.fast_pass_threshold=null",
    "inside_sales.max_attempts=1",
    "recycle.not_now.reenter=inside_sales",
    "recycle.unreached.max_cycles=3",
    "recycle.not_now.max_cycles=1",
    "recycle.rejected.max_cycles=0",
    "recycle.lost.max_cycles=0",
]


class _TotalCapBuilder(chain._Builder):
    """The former rule: retire once the lead's total recycles reach the reason's cap."""

    def retires(self, reason: str, counts: Counts) -> bool:
        if reason not in self.reasons:
            return True
        return sum(counts) >= self.caps[reason]


def _total_cap_chain(sc: Scenario, monkeypatch: pytest.MonkeyPatch) -> chain.ChainFigures:
    with monkeypatch.context() as m:
        m.setattr(chain, "_Builder", _TotalCapBuilder)
        return funnel_chain(sc)


def _by_type(sc: Scenario, state: Literal["active", "never"], rule: str) -> tuple[float, float]:
    """P(win) and expected cycles of one lead type of the ``_BY_HAND`` scenario, by hand.

    An inside-sales pass is unreached (u), not now (m), or ends the path. Under the
    per-reason rule, the lead passes through every (i unreached, j not now) with i <= 3 and
    j <= 1, in any order: C(i + j, i) u^i m^j. Under the total rule, a not now recycles only
    as the first fall-out and an unreached only below 3 recycles in all.
    """
    is_, fs = sc.inside_sales, sc.field_sales
    p = is_.contact_probability
    u, m = 1 - p, p * is_.outcome[state].not_now
    win = (
        p
        * is_.outcome[state].qualified
        * fs.acceptance_probability[state]
        * math.prod(ph.advance_probability for ph in fs.phases)
    )
    if rule == "per_reason":
        visits = {(i, j): math.comb(i + j, i) * u**i * m**j for i in range(4) for j in range(2)}
    else:
        visits = {(i, 0): u**i for i in range(4)} | {(i, 1): m * u**i for i in range(3)}
    reach = sum(visits.values())
    return win * reach, reach - 1.0  # every state but the first is one recycle entry


def _expected(sc: Scenario, rule: str) -> tuple[float, float]:
    p_win = cycles = 0.0
    weights = {"web": 1000 / 1500, "events": 500 / 1500}
    for name, ch in sc.marketing.channels.items():
        mix = ch.intent or sc.intent
        types: list[tuple[Literal["active", "never"], float]] = [
            ("active", mix.now),
            ("never", mix.never),
        ]
        for state, share in types:
            w, c = _by_type(sc, state, rule)
            p = weights[name] * (1 - ch.non_target_share) * share
            p_win += p * w
            cycles += p * c
    return p_win, cycles


def test_chain_by_hand_with_per_reason_caps(monkeypatch: pytest.MonkeyPatch) -> None:
    sc = load_scenario(FUNNEL, _BY_HAND)
    figures = funnel_chain(sc)
    p_win, cycles = _expected(sc, "per_reason")
    assert figures.p_win == pytest.approx(p_win, rel=1e-12)
    assert figures.expected_cycles == pytest.approx(cycles, rel=1e-12)
    # the former total cap gives other figures: the example tells the rules apart
    old = _total_cap_chain(sc, monkeypatch)
    old_win, old_cycles = _expected(sc, "total")
    assert old.p_win == pytest.approx(old_win, rel=1e-12)
    assert old.expected_cycles == pytest.approx(old_cycles, rel=1e-12)
    assert old.expected_cycles < 0.9 * figures.expected_cycles


def test_a_lead_never_reached_recycles_max_cycles_of_unreached_times() -> None:
    # whatever the other caps (not now 1 here): three recycles for unreached, then retired
    sets = [*_BY_HAND, "inside_sales.contact_probability=0"]
    assert funnel_chain(load_scenario(FUNNEL, sets)).expected_cycles == pytest.approx(
        3 * 0.9 * 1000 / 1500 + 3 * 500 / 1500
    )


def test_chain_stays_small() -> None:
    # caps 2, 1, 1, 2: 36 count vectors, a dozen stages each at most
    assert funnel_chain(load_scenario(FUNNEL)).transient_states < 500


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (
            ["buying_window={open_days: 30, bought_elsewhere_share: 1.0}"],
            r"buying_window must be null",
        ),
        (
            ["marketing.scoring.engagement={events_per_month: {active: 1, dormant: 1, never: 1}}"],
            r"marketing\.scoring\.engagement must be null",
        ),
        (["marketing.channels.events.hand_raiser=true"], r"channels\.events\.hand_raiser"),
        (
            ["customer_success.churn_probability=0.1", "recycle.churned.max_cycles=1"],
            r"recycle\.churned\.max_cycles must be 0",
        ),
        (
            [
                "recycle.lost.alert_on_reengage=true",
                "recycle.lost.reset_intent={probability: 1, active_after_days: 10}",
            ],
            r"recycle\.lost\.reset_intent must be null",
        ),
    ],
)
def test_chain_refuses_mechanisms_it_does_not_model(sets: list[str], message: str) -> None:
    sc = load_scenario(FUNNEL, sets)
    with pytest.raises(ValueError, match=message):
        funnel_chain(sc)


@pytest.mark.slow
def test_simulation_follows_the_per_reason_cap_not_the_total(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # caps where the rules part: unreached 3, not now 1 (rejected 1, lost 2 as in funnel.yaml)
    variant = tmp_path / "funnel_caps.yaml"
    variant.write_text(
        f"extends: {FUNNEL}\n"
        "name: funnel_caps\n"
        "recycle:\n"
        "  unreached: {max_cycles: 3}\n"
        "  not_now: {max_cycles: 1}\n"
    )
    checks = chain_check(variant, REPS, 12345, 2)
    old = _total_cap_chain(load_scenario(variant), monkeypatch)
    for c, former in zip(checks, (old.p_win, old.expected_cycles), strict=True):
        # power: the 95% CI must be tight enough to mean something
        assert c.ci95 < 0.1 * abs(c.expected)
        assert c.passed, (
            f"{c.quantity}: theory {c.expected:.5g}, simulated {c.simulated:.5g} "
            f"(tolerance {c.tolerance:.3g})"
        )
        # the former rule's value lies far outside the same interval
        assert abs(c.simulated - former) > 5 * c.tolerance, f"{c.quantity}: {former:.5g}"

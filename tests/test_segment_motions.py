"""Segments with a sales motion of their own (``inside_sales.segments``, ``field_sales.segments``).

A segment's deals may have their own phases (their number too), meeting acceptance and
delay, and no-decision share; its leads their own contact odds and outcomes. Segments left
out keep the team's values, so existing scenarios run exactly as before.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import sim
from sim.analysis.motion import phase_table
from sim.scenario.loader import ScenarioError
from sim.validation.chain import funnel_chain
from sim.validation.checks import chain_check
from tests.helpers import BASE, SCENARIOS, small

MOTIONS = SCENARIOS / "validation" / "segment_motions.yaml"
FUNNEL = SCENARIOS / "validation" / "funnel.yaml"

_TEAM_AS_OWN = [
    # the enterprise segment given the team's own values as a motion of its own
    "field_sales.segments={enterprise: {appointment_delay_days: "
    "{dist: lognormal, mean: 5, sd: 3}, acceptance_probability: "
    "{active: 0.60, dormant: 0.10, never: 0.03}, no_decision_share: 0.3, phases: ["
    "{name: business_issue, advance_probability: 0.70, "
    "duration_days: {dist: lognormal, mean: 15, sd: 8}}, "
    "{name: evaluation, advance_probability: 0.60, "
    "duration_days: {dist: lognormal, mean: 20, sd: 10}}, "
    "{name: negotiation, advance_probability: 0.75, "
    "duration_days: {dist: lognormal, mean: 15, sd: 8}}, "
    "{name: approval, advance_probability: 0.80, "
    "duration_days: {dist: lognormal, mean: 10, sd: 5}}]}}",
    "inside_sales.segments={enterprise: {contact_probability: 0.14}}",
]


def test_a_segment_without_a_motion_of_its_own_gets_the_teams() -> None:
    sc = sim.load_scenario(SCENARIOS / "by_segment.yaml")
    fs, is_ = sc.field_sales, sc.inside_sales
    team, mid = fs.for_segment(None), fs.for_segment("mid_market")
    assert not mid.own
    assert mid == team
    assert mid.phases == tuple(fs.phases)
    enterprise = fs.for_segment("enterprise")
    assert enterprise.own
    assert len(enterprise.phases) == 5
    # what the segment leaves out is the team's
    assert enterprise.acceptance_probability == fs.acceptance_probability
    assert enterprise.win_probability == pytest.approx(0.65 * 0.55 * 0.70 * 0.75 * 0.80)
    assert is_.for_segment("enterprise").contact_probability == 0.10
    assert is_.for_segment("enterprise").outcome == is_.outcome
    assert is_.for_segment("mid_market").contact_probability == is_.contact_probability


def test_no_motions_keep_the_scenario_hash() -> None:
    # a scenario that gives no segment a motion hashes as it did before motions existed, so
    # stored runs of existing scenarios stay valid; one that gives one hashes differently
    base = sim.load_scenario(BASE)
    data = base.model_dump(mode="json", by_alias=True)
    assert data["field_sales"]["segments"] == {}
    assert data["inside_sales"]["segments"] == {}
    same = sim.load_scenario(BASE, ["field_sales.segments={}"])
    assert same.digest() == base.digest()
    assert sim.load_scenario(BASE, _TEAM_AS_OWN).digest() != base.digest()


def test_the_teams_values_as_a_segments_own_change_no_outcome() -> None:
    # the same purposes feed every motion, so a segment given the team's very values as its
    # own draws the same numbers: every lead's fate is unchanged, only the counters part
    # (the starting pipeline is laid out per motion then, with draws of its own: none here)
    empty = ["starting_book.open_opportunities=0", "starting_book.booked_meetings=0"]
    base = sim.simulate(small(BASE, 12, empty), seed=3)
    own = sim.simulate(small(BASE, 12, [*empty, *_TEAM_AS_OWN]), seed=3)
    for column in ("won_at", "new_arr", "state", "first_opp_at", "cycles"):
        assert np.array_equal(base.leads[column], own.leads[column]), column
    assert np.array_equal(base.flows["wins"], own.flows["wins"])
    assert list(base.phases) == [
        "business_issue",
        "evaluation",
        "negotiation",
        "approval",
    ]
    assert list(own.phases)[4:] == [f"enterprise: {p}" for p in base.phases]
    for name, counts in base.phases.items():
        split = own.phases[name], own.phases[f"enterprise: {name}"]
        for key in ("entered", "advanced", "failed"):
            assert counts[key] == split[0][key] + split[1][key]
        assert split[1]["entered"] > 0


def test_phase_table_reaches_from_each_motions_first_phase() -> None:
    ledger = sim.simulate(small(SCENARIOS / "by_segment.yaml", 12), seed=1)
    table = phase_table(ledger)
    smb = table.loc[[i for i in table.index if i.startswith("smb: ")]]
    assert list(smb.index) == ["smb: discovery", "smb: demo", "smb: close"]
    assert smb["reach"].iloc[0] == pytest.approx(smb["close_rate"].iloc[0])
    assert smb["reach"].iloc[-1] == pytest.approx(smb["close_rate"].prod())
    # mid-market keeps the team's phases, under their plain names
    assert "evaluation" in table.index
    assert "enterprise: approval" in table.index


def test_segment_motions_show_in_the_segment_table() -> None:
    # the enterprise motion is slower and closes less often than the team's
    results = sim.run(sim.load_scenario(SCENARIOS / "by_segment.yaml"), replications=2, seed=0)
    segments = results.segments()
    rate, cycle = segments["win_rate"], segments["cycle_median_days"]
    assert rate["enterprise"] < rate["mid_market"] < rate["smb"]
    assert cycle["smb"] < cycle["mid_market"] < cycle["enterprise"]
    assert cycle["enterprise"] > 90


def test_the_chain_follows_each_segments_motion() -> None:
    plain, own = funnel_chain(sim.load_scenario(FUNNEL)), funnel_chain(sim.load_scenario(MOTIONS))
    # the small segment keeps the team's motion: the same odds; the large one has its own
    assert own.p_win_by_segment["small"] == pytest.approx(plain.p_win_by_segment["small"])
    assert own.p_win_by_segment["large"] < 0.7 * plain.p_win_by_segment["large"]


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["field_sales.segments={giant: {no_decision_share: 0.5}}"], "unknown segment"),
        (
            ["field_sales.segments={enterprise: {acceptance_probability: {active: 0.5}}}"],
            "needs every intent state",
        ),
        (["field_sales.segments={enterprise: {phases: []}}"], "at least 1 item"),
        (["inside_sales.segments={giant: {contact_probability: 0.5}}"], "unknown segment"),
        (["inside_sales.segments={smb: {contact_probability: 1.5}}"], "less than or equal"),
    ],
)
def test_bad_motions_are_located(sets: list[str], message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        sim.load_scenario(BASE, sets)


@pytest.mark.slow
def test_simulation_reproduces_each_segments_absorbing_chain_odds(tmp_path: Path) -> None:
    checks = chain_check(MOTIONS, 12, 2024, 2)
    by_segment = {c.quantity: c for c in checks}
    team = funnel_chain(sim.load_scenario(FUNNEL))
    for c in checks:
        assert c.ci95 < 0.1 * abs(c.expected), c.quantity  # tight enough to mean something
        assert c.passed, (
            f"{c.quantity}: theory {c.expected:.5g}, simulated {c.simulated:.5g} "
            f"(tolerance {c.tolerance:.3g})"
        )
    # the large segment's own motion is told apart from the team's it replaces
    large = by_segment["P(win), large target lead"]
    assert abs(large.simulated - team.p_win_by_segment["large"]) > 5 * large.tolerance

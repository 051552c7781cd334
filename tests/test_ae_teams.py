"""AE teams of their own by segment (``field_sales.teams``) and the planner hiring into them.

A segment's deals go to the AE team that claims it (the AEs of field sales itself take the
rest), wait in that team's queue and are owned by its AEs; each team has its own headcount
plan, cap on open deals and quota.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import sim
from sim.analysis.motion import ae_team_table
from sim.experiment.plan import HiringPlan, PlanError, PlanSpace, RoleRange, _dominance
from sim.scenario.loader import ScenarioError
from sim.scenario.schema import Scenario
from sim.scenario.summary import summarize
from tests.helpers import BASE, SCENARIOS, small

THE_MODEL = SCENARIOS / "the_model.yaml"
ALL_SEGMENTS = "[smb, mid_market, enterprise]"

# no attrition, no planned hires: the people of a team are the same whatever its name
_STILL = ["field_sales.attrition_per_year=0", "field_sales.plan=[]"]

# two teams: mid-market and enterprise AEs; the field-sales AEs keep SMB
_TWO_TEAMS = [
    "field_sales.headcount=6",
    "field_sales.teams={mid: {segments: [mid_market], headcount: 3, "
    "plan: [{month: 4, hire: 1}], quota_per_ae_per_year: 500000}, "
    "ent: {segments: [enterprise], headcount: 1, max_open_opportunities_per_ae: 4}}",
]


def _two_teams(months: int = 12, extra: list[str] | None = None) -> Scenario:
    return small(BASE, months, [*_TWO_TEAMS, *(extra or [])])


def test_one_team_with_every_segment_works_as_field_sales_itself() -> None:
    # the same AEs, routing and queue under another name: every lead's fate is the same
    plain = sim.simulate(small(BASE, 12, _STILL), seed=5)
    team = sim.simulate(
        small(
            BASE,
            12,
            [
                *_STILL,
                "field_sales.headcount=0",
                f"field_sales.teams={{all: {{segments: {ALL_SEGMENTS}, headcount: 10}}}}",
            ],
        ),
        seed=5,
    )
    for column in ("state", "won_at", "new_arr", "first_opp_at", "cycles"):
        assert np.array_equal(plain.leads[column], team.leads[column]), column
    assert np.array_equal(plain.areas["fs_open"], team.areas["fs_open"])
    np.testing.assert_allclose(
        plain.capacity["field_sales_slot_days"], team.capacity["field_sales_slot_days"]
    )
    assert list(team.ae_teams) == ["all"]
    assert team.ae_team_segments["all"] == ["smb", "mid_market", "enterprise"]
    assert not plain.ae_teams


def test_teams_add_up_to_field_sales() -> None:
    ledger = sim.simulate(_two_teams(), seed=2)
    assert list(ledger.ae_teams) == ["field_sales", "mid", "ent"]
    assert ledger.ae_team_segments == {
        "field_sales": ["smb"],
        "mid": ["mid_market"],
        "ent": ["enterprise"],
    }
    staff = ledger.staff["field_sales"]
    for name in ("headcount", "person_days", "effective_days", "cost"):
        total = sum(figures[name] for figures in ledger.ae_teams.values())
        np.testing.assert_allclose(staff[name], total, err_msg=name)
    slots = sum(figures["slot_days"] for figures in ledger.ae_teams.values())
    np.testing.assert_allclose(ledger.capacity["field_sales_slot_days"], slots)
    areas = sum(figures["open_days"] for figures in ledger.ae_teams.values())
    np.testing.assert_allclose(ledger.areas["fs_open"], areas)
    # every booking is credited to one AE of one team (each team with a quota here)
    q = ledger.quota
    assert set(np.unique(q["team"])) == {0.0, 1.0, 2.0}
    booked = np.bincount(q["month"].astype(int), weights=q["booked"], minlength=12)
    assert booked == pytest.approx(ledger.flows["new_arr"], rel=1e-12, abs=1e-6)
    # AE numbers run on across teams: no two teams share one
    owners = {int(t): set(q["ae"][q["team"] == t].astype(int)) for t in np.unique(q["team"])}
    assert not owners[0] & owners[1]
    assert not owners[1] & owners[2]
    # each team's own plan: the mid-market team grows by one AE in month 4 (no attrition
    # before it in most replications: check the plan's step, not the level)
    mid = ledger.ae_teams["mid"]["headcount"]
    assert mid[3] - mid[2] >= 1 - ledger.staff["field_sales"]["attrition"][3]


def test_a_starved_team_queues_its_own_deals_only() -> None:
    # one enterprise AE with room for 4 deals: enterprise deals wait, the others do not
    table = ae_team_table(sim.simulate(_two_teams(), seed=1))
    assert table.loc["ent", "wait_days"] > 10 * max(table.loc["mid", "wait_days"], 0.5)
    assert table.loc["ent", "utilisation"] > 0.9
    assert table.loc["mid", "utilisation"] < table.loc["ent", "utilisation"]
    assert set(table.loc[:, "segments"]) == {"smb", "mid_market", "enterprise"}


def test_more_enterprise_aes_win_more_enterprise_deals_paired() -> None:
    # the lever a CRO pulls: two more enterprise AEs, paired on the same seeds
    starved = sim.run(_two_teams(9), replications=3, seed=0, workers=1)
    staffed = sim.run(
        HiringPlan.parse("ae.ent=2@2027Q1", _two_teams(9)).apply(_two_teams(9)),
        replications=3,
        seed=0,
        workers=1,
    )
    gain = [
        b.motion["ae_teams"].loc["ent", "wins"] - a.motion["ae_teams"].loc["ent", "wins"]
        for a, b in zip(starved.replications, staffed.replications, strict=True)
        if a.motion is not None and b.motion is not None
    ]
    assert len(gain) == 3
    assert min(gain) > 0
    waits = staffed.ae_teams()["wait_days"], starved.ae_teams()["wait_days"]
    assert waits[0]["ent"] < waits[1]["ent"]


def test_quota_per_team() -> None:
    ledger = sim.simulate(_two_teams(24, ["field_sales.quota_per_ae_per_year=null"]), seed=3)
    # only the mid-market team has a quota: its AEs alone are measured against one
    assert set(np.unique(ledger.quota["team"])) == {1.0}
    table = ae_team_table(ledger)
    assert math.isnan(table.loc["ent", "at_quota_share"])
    assert 0.0 <= table.loc["mid", "at_quota_share"] <= 1.0


def test_scenarios_without_teams_keep_their_hash() -> None:
    base = sim.load_scenario(BASE)
    assert sim.load_scenario(BASE, ["field_sales.teams={}"]).digest() == base.digest()
    assert _two_teams(36).digest() != base.digest()


def test_a_team_inherits_what_it_leaves_out() -> None:
    sc = _two_teams()
    ent = sc.field_sales.team("ent")
    assert ent.headcount == 1
    assert ent.max_open_opportunities_per_ae == 4
    assert ent.ramp == sc.field_sales.ramp
    assert ent.cost_per_head_per_year == sc.field_sales.cost_per_head_per_year
    assert ent.plan == []
    assert sc.field_sales.team("mid").quota_per_ae_per_year == 500000


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (
            ["field_sales.teams={ent: {segments: [giant], headcount: 1}}"],
            r"field_sales\.teams\.ent\.segments\.0.*unknown segment 'giant'",
        ),
        (
            [
                "field_sales.teams={a: {segments: [enterprise], headcount: 1}, "
                "b: {segments: [smb, enterprise], headcount: 1}}"
            ],
            r"field_sales\.teams\.b\.segments\.1.*already worked by team 'a'",
        ),
        (
            [
                "inside_sales.segments={smb: {closes: true}}",
                "field_sales.teams={s: {segments: [smb], headcount: 1}}",
            ],
            "inside sales closes 'smb' itself",
        ),
        (
            [f"field_sales.teams={{all: {{segments: {ALL_SEGMENTS}, headcount: 10}}}}"],
            "these AEs would have no deals",
        ),
        (
            ["field_sales.teams={field_sales: {segments: [smb], headcount: 1}}"],
            "the name of the AEs of field_sales itself",
        ),
        (
            [
                "field_sales.teams={ent: {segments: [enterprise], headcount: 1, "
                "plan: [{month: 2, leave: 2}]}}"
            ],
            "headcount would go negative",
        ),
        (["field_sales.teams={ent: {segments: [], headcount: 1}}"], "at least 1 item"),
    ],
)
def test_bad_teams_are_located(sets: list[str], message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        sim.load_scenario(BASE, sets)


def test_the_model_has_a_team_per_segment_and_inside_sales_closes_smb() -> None:
    sc = sim.load_scenario(THE_MODEL)
    assert sc.field_sales.team_of(sc.segments) == ["field_sales", "mid_market", "enterprise"]
    ledger = sim.simulate(small(THE_MODEL, 6), seed=0)
    assert list(ledger.ae_teams) == ["mid_market", "enterprise"]
    lines = "\n".join(summarize(sc))
    assert "team enterprise: 3 AEs x 20 open opportunities for enterprise" in lines


# -- the planner ---------------------------------------------------------------------------


def test_a_plan_hires_into_an_ae_team() -> None:
    sc = sim.load_scenario(THE_MODEL)
    plan = HiringPlan.parse("sdr=1@2027Q1, ae.enterprise=2@2027Q2", sc)
    assert plan.describe(sc) == "1 SDR in 2027Q1 + 2 enterprise AEs in 2027Q2"
    assert plan.key == "sdr:1@1,ae.enterprise:2@4"
    after = plan.apply(sc)
    assert after.field_sales.teams["enterprise"].plan[-1].month == 4
    assert after.field_sales.teams["enterprise"].plan[-1].hire == 2
    assert after.field_sales.teams["mid_market"] == sc.field_sales.teams["mid_market"]
    # its cost is the team's loaded cost (field sales' own, which the team inherits)
    per_month = sc.field_sales.cost_per_head_per_year / 12 + sc.finance.tools_per_head_per_month
    alone = HiringPlan.parse("ae.enterprise=2@2027Q2", sc)
    assert alone.cost(sc, 12) == pytest.approx(2 * 9 * per_month)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ae.giant=2@2027Q1", "unknown AE team; the scenario's AE teams are ae.mid_market"),
        ("ae=2@2027Q1", "field sales' own AEs work no segment"),
        ("sdr.x=1@2027Q1", "unknown role"),
    ],
)
def test_bad_team_hires_are_reported(text: str, message: str) -> None:
    sc = sim.load_scenario(THE_MODEL)
    with pytest.raises(PlanError, match=message):
        HiringPlan.parse(text, sc)


def test_the_default_space_hires_into_each_working_team() -> None:
    sc = sim.load_scenario(THE_MODEL)
    roles = [r.role for r in PlanSpace.default(sc, 24).roles]
    assert roles == ["sdr", "ae.mid_market", "ae.enterprise", "csm"]
    assert [r.role for r in PlanSpace.default(sim.load_scenario(BASE), 24).roles] == [
        "sdr",
        "ae",
        "csm",
    ]
    assert RoleRange.parse("ae.enterprise=1..3").counts == [1, 2, 3]


def test_dominance_tells_teams_apart() -> None:
    sc = sim.load_scenario(THE_MODEL)
    space = PlanSpace(
        (RoleRange("ae.mid_market", 2, step=2), RoleRange("ae.enterprise", 2, step=2)), (1,)
    )
    plans = space.plans()
    keys = [p.key for p in plans]

    class _C:
        def __init__(self, plan: HiringPlan) -> None:
            self.plan = plan

    below = _dominance([_C(p) for p in plans])  # type: ignore[misc]
    mid, ent = keys.index("ae.mid_market:2@1"), keys.index("ae.enterprise:2@1")
    both = keys.index("ae.enterprise:2@1,ae.mid_market:2@1")
    assert not below[mid, ent]
    assert not below[ent, mid]
    assert below[both, mid]
    assert below[both, ent]
    assert sc.field_sales.teams  # the roles name the scenario's teams

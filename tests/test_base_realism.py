"""The bundled base runs like a healthy company, and its levers answer as a business would.

Slow: whole-horizon runs of the base. The realism test is a seeded regression test of the
bundled scenario (it pins the scenario's tuning to the published ranges, not a theory); the
lever tests compare scenarios on common random numbers and judge every difference by its
paired 95% confidence interval, never by a pinned number.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim import Results, load_scenario
from sim.experiment.compare import compare, paired_difference
from sim.stats import mean_ci
from sim.validation.realism import realism_check
from tests.helpers import BASE, SCENARIOS

pytestmark = pytest.mark.slow

REPS = 8
LEVER_REPS = 16  # the lever differences are judged on paired 95% CIs; 8 left one unsettled
MONTHS = ["horizon_months=24"]


def test_the_bundled_base_is_inside_every_published_range() -> None:
    report = realism_check(load_scenario(BASE), replications=REPS, seed=0, workers=2)
    outside = [f"{f.label}: {f.words}" for f in report.outside]
    assert report.inside, "outside the published ranges: " + "; ".join(outside)


@pytest.mark.parametrize("name", ["by_segment.yaml", "retention.yaml", "the_model.yaml"])
def test_the_bundled_companies_are_inside_every_published_range(name: str) -> None:
    sc = load_scenario(SCENARIOS / name)
    report = realism_check(sc, replications=REPS, seed=0, workers=2)
    outside = [f"{f.label}: {f.words}" for f in report.outside]
    assert report.inside, "outside the published ranges: " + "; ".join(outside)


def _kpi(results: Results, name: str) -> np.ndarray:
    return results.kpis()[name].to_numpy(dtype=float)


def _diff(base: Results, other: Results, name: str) -> dict[str, float]:
    return paired_difference(_kpi(base, name), _kpi(other, name))


@pytest.fixture(scope="module")
def levers() -> dict[str, Results]:
    """The base and one variant per lever, paired on the same seeds."""
    variants = {
        "base": [],
        "mql_15": ["marketing.scoring.mql_threshold=15"],
        "mql_25": ["marketing.scoring.mql_threshold=25"],
        "leads_x1.3": [
            f"marketing.channels.{name}.monthly_leads={channel.monthly_leads * 1.3}"
            for name, channel in load_scenario(BASE).marketing.channels.items()
        ],
    }
    scenarios = [load_scenario(BASE, [*MONTHS, *sets]) for sets in variants.values()]
    scenarios += [
        load_scenario(SCENARIOS / "is_bottleneck.yaml", MONTHS),
        load_scenario(SCENARIOS / "more_sdrs.yaml", MONTHS),
    ]
    result = compare(scenarios, replications=LEVER_REPS, seed=3, workers=2)
    names = [*variants, "two_sdrs", "five_sdrs"]
    return dict(zip(names, result.results, strict=True))


def test_a_higher_mql_bar_hands_over_less_and_leaves_more_buyers_unworked(
    levers: dict[str, Results],
) -> None:
    base, strict = levers["base"], levers["mql_25"]
    fewer = _diff(base, strict, "mqls")
    assert fewer["diff_high"] < 0, fewer
    missed = _diff(base, strict, "buyers_missed")
    assert missed["diff_low"] > 0, missed  # the cost of the bar: good leads left waiting
    lax = _diff(base, levers["mql_15"], "mqls")
    assert lax["diff_low"] > 0, lax  # and a lower bar hands over more


def _channel_wins(results: Results) -> np.ndarray:
    """Wins of each replication from the leads of the scenario's own channels."""
    channels = list(results.scenario.marketing.channels)
    return np.array(
        [
            rep.motion["channels"].loc[channels, "wins"].sum()
            for rep in results.replications
            if rep.motion is not None
        ]
    )


def test_more_leads_raise_wins_less_than_in_proportion_as_the_desk_fills(
    levers: dict[str, Results],
) -> None:
    base, more = levers["base"], levers["leads_x1.3"]
    for team in ("is_utilisation", "fs_utilisation"):
        assert np.nanmax(_kpi(more, team)) < 0.95, team  # busier, not saturated
    # the wins of the channels' own leads (the starting book and its database do not grow)
    ratio = _channel_wins(more) / _channel_wins(base)
    mean, half = mean_ci(ratio)
    # 30% more leads: more wins from them, but less than 30% more (a busier desk reaches
    # fewer buyers before they move on); on 8 replications it was 1.22 +- 0.09, a CI
    # crossing 1.3, hence LEVER_REPS
    assert mean - half > 1.0, ratio
    assert mean + half < 1.3, ratio


def test_more_sdrs_help_with_diminishing_returns(levers: dict[str, Results]) -> None:
    two, three, five = levers["two_sdrs"], levers["base"], levers["five_sdrs"]
    first = _diff(two, three, "wins")  # the third SDR
    assert first["diff_low"] > 0, first
    more = _diff(three, five, "wins")  # the fourth and the fifth, together
    assert more["diff_low"] > -first["diff_low"], more
    # per head, the next two SDRs add less than the third did
    per_head = (_kpi(five, "wins") - _kpi(three, "wins")) / 2 - (
        _kpi(three, "wins") - _kpi(two, "wins")
    )
    mean, half = mean_ci(per_head)
    assert mean + half < 0, per_head

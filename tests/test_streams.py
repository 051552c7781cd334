"""Random streams: named streams, and each lead's own substream (common random numbers)."""

from __future__ import annotations

import numpy as np
from scipy import stats

from sim.engine.streams import LeadDraws, LeadQuads, Streams, mix64
from sim.scenario.distributions import Exponential


def test_a_leads_draws_do_not_depend_on_the_order_leads_draw_in() -> None:
    s = Streams(5)
    keys = [s.lead_key(0, r) for r in range(500)]
    forward, backward = LeadDraws(keys, "x"), LeadDraws(keys, "x")
    a = {(lead, k): forward(lead) for k in range(3) for lead in range(500)}
    b = {(lead, k): backward(lead) for k in range(3) for lead in reversed(range(500))}
    assert a == b
    # purposes are separate: another name, other numbers
    other = LeadDraws(keys, "y")
    assert other(0) != a[(0, 0)]


def test_lead_keys_depend_on_channel_rank_and_replication_only() -> None:
    s, same, other = Streams(5), Streams(5), Streams(6)
    assert s.lead_key(2, 17) == same.lead_key(2, 17)
    assert s.lead_key(2, 17) != other.lead_key(2, 17)
    assert len({s.lead_key(c, r) for c in range(5) for r in range(2000)}) == 10_000


def test_lead_draws_are_uniform_and_independent() -> None:
    s = Streams(11)
    keys = [s.lead_key(c, r) for c in range(4) for r in range(5000)]
    u = LeadDraws(keys, "is.contact")
    draws = np.array([[u(lead) for lead in range(len(keys))] for _ in range(4)])  # k = 0..3
    assert draws.min() > 0
    assert draws.max() < 1
    # uniform on (0, 1): Kolmogorov-Smirnov at 0.1% for each draw index, and overall
    for row in draws:
        assert stats.kstest(row, "uniform").pvalue > 0.001
    # independent across a lead's successive draws and across neighbouring leads: every
    # correlation within 4 standard errors of 0 (se = 1 / sqrt(n))
    n = draws.shape[1]
    for k in range(3):
        assert abs(np.corrcoef(draws[k], draws[k + 1])[0, 1]) < 4 / np.sqrt(n)
    assert abs(np.corrcoef(draws[0][:-1], draws[0][1:])[0, 1]) < 4 / np.sqrt(n)
    # and from another purpose's draws for the same leads
    v = LeadDraws(keys, "is.outcome")
    other = np.array([v(lead) for lead in range(len(keys))])
    assert abs(np.corrcoef(draws[0], other)[0, 1]) < 4 / np.sqrt(n)
    # pairs of successive draws fill the unit square evenly (chi-square on a 10 x 10 grid)
    cells = np.histogram2d(draws[0], draws[1], bins=10, range=[[0, 1], [0, 1]])[0]
    assert stats.chisquare(cells.ravel()).pvalue > 0.001


def test_four_at_once_are_a_leads_draws_4k_to_4k_plus_3() -> None:
    s = Streams(7)
    keys = [s.lead_key(1, r) for r in range(300)]
    quads, single = LeadQuads(keys, "is.touch"), LeadDraws(keys, "is.touch")
    for lead in reversed(range(300)):  # any order: no state shared between leads
        for _ in range(2):
            assert quads(lead) == tuple(single(lead) for _ in range(4))
    # and the four of one call are independent of each other and uniform
    u = np.array([quads(lead) for lead in range(300) for _ in range(20)])
    for j in range(4):
        assert stats.kstest(u[:, j], "uniform").pvalue > 0.001
    corr = np.corrcoef(u.T)[np.triu_indices(4, 1)]
    assert np.all(np.abs(corr) < 4 / np.sqrt(len(u)))


def test_mix64_is_a_bijection_on_a_sample() -> None:
    xs = np.random.default_rng(0).integers(0, 2**63, 10_000).tolist()
    assert len({mix64(x) for x in xs}) == len(set(xs))


def test_a_looks_points_follow_the_signals_exact_distribution() -> None:
    from itertools import product

    from sim.engine.marketing import _points_table

    signals = [(10.0, 0.3), (5.0, 0.5), (10.0, 0.2), (20.0, 0.05)]
    cdf, values = _points_table(signals)
    brute: dict[float, float] = {}
    for shown in product((0, 1), repeat=len(signals)):
        p = np.prod([q if s else 1 - q for s, (_, q) in zip(shown, signals, strict=True)])
        total = sum(pts for s, (pts, _) in zip(shown, signals, strict=True) if s)
        brute[total] = brute.get(total, 0.0) + p
    assert values == sorted(brute)
    probs = np.diff([0.0, *cdf])
    assert np.allclose(probs, [brute[v] for v in values])


def test_batch_keys_and_first_draws_are_the_scalar_ones() -> None:
    s = Streams(5)
    ranks = np.array([0, 1, 7, 2**40 + 3, 2**41 + 12_345], dtype=np.uint64)
    keys = s.lead_keys(3, ranks)
    assert keys.tolist() == [s.lead_key(3, int(r)) for r in ranks]
    one_by_one = LeadDraws(keys.tolist(), "mk.attr.x")
    assert s.first_uniforms(keys, "mk.attr.x").tolist() == [one_by_one(i) for i in range(5)]


def test_arrivals_are_a_poisson_process_and_more_volume_keeps_the_first_ones() -> None:
    from sim.engine.marketing import arrival_times

    root = np.random.SeedSequence(11)
    counts, shares = [], []
    for child in root.spawn(2000):
        times = arrival_times(np.random.Generator(np.random.PCG64(child)), 40.0, 10.0, 40.0)
        assert np.all(np.diff(times) >= 0)
        assert np.all((times >= 10.0) & (times < 40.0))
        counts.append(len(times))
        shares.extend(((times - 10.0) / 30.0).tolist())
    # counts are Poisson(40): mean and variance 40 (dispersion test), times uniform (KS)
    n = np.asarray(counts)
    dispersion = ((n - 40.0) ** 2).sum() / 40.0
    assert 0.001 < stats.chi2(len(n)).cdf(dispersion) < 0.999
    assert abs(n.mean() - 40.0) < 4 * np.sqrt(40.0 / len(n))
    assert stats.kstest(shares, "uniform").pvalue > 0.001
    # the same stream with 30% more volume: the first arrivals are the same points, scaled
    gen = lambda: np.random.Generator(np.random.PCG64(np.random.SeedSequence(3)))  # noqa: E731
    a, b = arrival_times(gen(), 40.0, 0.0, 30.0), arrival_times(gen(), 52.0, 0.0, 30.0)
    assert len(b) > len(a)
    np.testing.assert_allclose(b[: len(a)] * 52.0, a * 40.0, rtol=1e-12)
    # exactly k: sorted uniform order statistics
    exact = [
        arrival_times(np.random.Generator(np.random.PCG64(c)), 7.3, 0.0, 1.0, exact=7)
        for c in root.spawn(500)
    ]
    assert {len(e) for e in exact} == {7}
    assert stats.kstest(np.concatenate(exact), "uniform").pvalue > 0.001


def test_streams_count_the_calls_made_to_their_per_lead_streams() -> None:
    s = Streams(2)
    keys = [s.lead_key(0, r) for r in range(10)]
    one, four = s.lead_uniforms(keys, "a"), s.lead_quads(keys, "b")
    sampled = s.lead_sampler(keys, "c", Exponential(mean=2.0))
    for lead in (3, 3, 3, 7):
        one(lead)
    for lead in (1, 9):
        four(lead)
    sampled(5)
    assert s.lead_draws_made() == (5, 2)

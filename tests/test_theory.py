"""The closed forms themselves, each checked against an independent method."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim import load_scenario
from sim.validation.chain import funnel_chain
from sim.validation.theory import absorption, erlang_a, erlang_c, renewal_survivors
from tests.helpers import SCENARIOS


def test_erlang_c_with_one_server_is_mm1() -> None:
    lam, mu = 0.7, 1.0
    figures = erlang_c(lam, mu, 1)
    assert figures.p_wait == pytest.approx(lam / mu)
    assert figures.mean_wait == pytest.approx(lam / (mu * (mu - lam)))


def test_erlang_c_matches_the_textbook_sum() -> None:
    lam, mu, c = 8.5, 1.0, 10
    a = lam / mu
    tail = a**c / math.factorial(c) * c / (c - a)
    p_wait = tail / (sum(a**k / math.factorial(k) for k in range(c)) + tail)
    figures = erlang_c(lam, mu, c)
    assert figures.p_wait == pytest.approx(p_wait, rel=1e-12)
    assert figures.mean_wait == pytest.approx(p_wait / (c * mu - lam), rel=1e-12)


def test_erlang_c_refuses_an_unstable_queue() -> None:
    with pytest.raises(ValueError, match="unstable"):
        erlang_c(10.0, 1.0, 10)


def _birth_death_generator(lam: float, mu: float, c: int, theta: float, n: int) -> np.ndarray:
    q = np.zeros((n, n))
    for k in range(n):
        if k + 1 < n:
            q[k, k + 1] = lam
        if k > 0:
            q[k, k - 1] = min(k, c) * mu + max(k - c, 0) * theta
        q[k, k] = -q[k].sum()
    return q


def test_erlang_a_matches_balance_equations_solved_by_linear_algebra() -> None:
    lam, mu, c, theta = 96.0, 24.0, 4, 48.0
    q = _birth_death_generator(lam, mu, c, theta, 200)
    a = np.vstack([q.T, np.ones(len(q))])
    b = np.zeros(len(q) + 1)
    b[-1] = 1.0
    pi = np.linalg.lstsq(a, b, rcond=None)[0]
    lq = float(np.dot(np.maximum(np.arange(len(pi)) - c, 0), pi))
    figures = erlang_a(lam, mu, c, theta)
    assert figures.mean_queue == pytest.approx(lq, rel=1e-9)
    assert figures.p_abandon == pytest.approx(theta * lq / lam, rel=1e-9)
    assert figures.p_wait == pytest.approx(pi[c:].sum(), rel=1e-9)


def test_erlang_a_tends_to_erlang_c_as_patience_grows() -> None:
    a, c = erlang_a(8.0, 1.0, 10, 1e-9), erlang_c(8.0, 1.0, 10)
    assert a.mean_wait == pytest.approx(c.mean_wait, rel=1e-6)
    assert a.p_wait == pytest.approx(c.p_wait, rel=1e-6)


def test_absorption_of_a_gamblers_ruin() -> None:
    # fair coin, states 1..3 transient, absorbing at 0 and 4: P(reach 4 from k) = k / 4
    q = np.array([[0, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0]])
    r = np.array([[0.5, 0], [0, 0], [0, 0.5]])
    fundamental, absorbed = absorption(q, r)
    np.testing.assert_allclose(absorbed[:, 1], [0.25, 0.5, 0.75])
    # expected steps to absorption from k: k (4 - k)
    np.testing.assert_allclose(fundamental.sum(axis=1), [3, 4, 3])


def test_renewal_survivors_integrates_over_first_renewal_dates() -> None:
    customers, p, term, t = 1000, 0.1, 91.3125, 250.0
    u = (np.arange(200_000) + 0.5) / 200_000 * term  # midpoint rule over (0, term]
    renewals = np.floor((t - u) / term) + 1
    expected = customers * np.mean((1 - p) ** renewals)
    assert renewal_survivors(customers, p, term, t) == pytest.approx(expected, rel=1e-6)
    assert renewal_survivors(customers, p, term, 0.0) == customers


def test_chain_by_hand_without_recycling() -> None:
    # no recycle, no signals: every target lead is an MQL; the funnel is a product of odds
    sets = [f"recycle.{r}.max_cycles=0" for r in ("not_now", "unreached", "rejected", "lost")]
    sets += ["marketing.scoring.fit=[]", "marketing.scoring.behaviour=[]"]
    sets += ["marketing.scoring.mql_threshold=0", "marketing.scoring.fast_pass_threshold=null"]
    sc = load_scenario(SCENARIOS / "validation" / "funnel.yaml", sets)
    figures = funnel_chain(sc)
    is_, fs = sc.inside_sales, sc.field_sales
    reach = 1 - (1 - is_.contact_probability) ** is_.max_attempts
    close = math.prod(p.advance_probability for p in fs.phases)
    channels = sc.marketing.channels
    weights = {"web": 1000 / 1500, "events": 500 / 1500}
    p_win = 0.0
    for name, ch in channels.items():
        mix = ch.intent or sc.intent
        per_now = reach * is_.outcome["active"].qualified * fs.acceptance_probability["active"]
        p_win += weights[name] * (1 - ch.non_target_share) * mix.now * per_now * close
    assert figures.p_win == pytest.approx(p_win, rel=1e-12)
    assert figures.expected_cycles == 0


def test_chain_refuses_time_dependent_intent() -> None:
    sc = load_scenario(SCENARIOS / "base.yaml")
    with pytest.raises(ValueError, match=r"intent\.later must be 0"):
        funnel_chain(sc)

"""Scenario distributions: sampling matches the declared mean/variance, and bad ones are refused."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pytest
from pydantic import TypeAdapter, ValidationError

from sim.scenario.distributions import (
    Distribution,
    Duration,
    Empirical,
    Exponential,
    Fixed,
    Gamma,
    LogNormal,
    Triangular,
    Uniform,
)

DISTRIBUTION = TypeAdapter(Distribution)
DURATION = TypeAdapter(Duration)
N = 200_000

# (input as a scenario would write it, expected class, expected repr)
KINDS = [
    pytest.param(7, Fixed, "Fixed(value=7)", id="fixed-bare"),
    pytest.param({"dist": "fixed", "value": -2.5}, Fixed, "Fixed(value=-2.5)", id="fixed"),
    pytest.param(
        {"dist": "exponential", "mean": 2.5}, Exponential, "Exponential(mean=2.5)", id="exponential"
    ),
    pytest.param(
        {"dist": "lognormal", "mean": 60, "sd": 30},
        LogNormal,
        "LogNormal(mean=60, sd=30)",
        id="lognormal",
    ),
    pytest.param(
        {"dist": "gamma", "mean": 3, "sd": 1.5}, Gamma, "Gamma(mean=3, sd=1.5)", id="gamma"
    ),
    pytest.param(  # shape 0.25 < 1: a different regime of the sampler
        {"dist": "gamma", "mean": 2, "sd": 4}, Gamma, "Gamma(mean=2, sd=4)", id="gamma-skewed"
    ),
    pytest.param(
        {"dist": "triangular", "low": 2, "mode": 3, "high": 10},
        Triangular,
        "Triangular(low=2, mode=3, high=10)",
        id="triangular",
    ),
    pytest.param(
        {"dist": "uniform", "low": -1, "high": 3}, Uniform, "Uniform(low=-1, high=3)", id="uniform"
    ),
    pytest.param(
        {"dist": "empirical", "values": [1, 2, 5]},
        Empirical,
        "Empirical(n=3, mean=2.66667)",
        id="empirical",
    ),
    pytest.param(  # weights need not sum to 1: they are normalised
        {"dist": "empirical", "values": [1, 2, 5], "weights": [1, 1, 2]},
        Empirical,
        "Empirical(n=3, mean=3.25)",
        id="empirical-weighted",
    ),
]


@pytest.mark.parametrize(("raw", "cls", "text"), KINDS)
def test_sample_moments_match_theory(raw: Any, cls: type, text: str) -> None:
    d = DISTRIBUTION.validate_python(raw)
    assert type(d) is cls
    x = d.sample(np.random.default_rng(20240521), N)
    assert x.shape == (N,)
    assert x.dtype == np.float64
    # Mean: within 4 standard errors of the theoretical mean.
    assert abs(x.mean() - d.mean) <= 4 * math.sqrt(d.var / N)
    # Variance: the sample variance s2 has standard error sqrt((m4 - s2^2) / n), m4 being the
    # 4th central moment; allow 5 of them (about 1-3% of the variance for these parameters).
    s2 = x.var(ddof=1)
    m4 = np.mean((x - x.mean()) ** 4)
    assert abs(s2 - d.var) <= 5 * math.sqrt((m4 - s2**2) / N)
    if d.var > 0:
        assert abs(s2 - d.var) <= 0.03 * d.var


@pytest.mark.parametrize(("raw", "cls", "text"), KINDS)
def test_lower_bounds_every_sample(raw: Any, cls: type, text: str) -> None:
    d = DISTRIBUTION.validate_python(raw)
    x = d.sample(np.random.default_rng(7), N)
    assert x.min() >= d.lower
    if cls in (Fixed, Triangular, Uniform, Empirical):
        # Bounded kinds: the bound is tight, samples come close to it (or reach it).
        assert x.min() - d.lower <= 0.01 * math.sqrt(d.var)


def test_theoretical_moments_by_hand() -> None:
    # Independent of sampling: the closed forms themselves.
    assert (Fixed(value=4).mean, Fixed(value=4).var) == (4, 0)
    e = DISTRIBUTION.validate_python({"dist": "exponential", "mean": 3})
    assert (e.mean, e.var, e.lower) == (3, 9, 0)
    t = DISTRIBUTION.validate_python({"dist": "triangular", "low": 0, "mode": 3, "high": 6})
    assert t.mean == pytest.approx(3)
    assert t.var == pytest.approx(36 / 24)  # symmetric: (b - a)^2 / 24
    u = DISTRIBUTION.validate_python({"dist": "uniform", "low": 2, "high": 8})
    assert (u.mean, u.var, u.lower) == (5, 3, 2)
    w = DISTRIBUTION.validate_python({"dist": "empirical", "values": [0, 10], "weights": [3, 1]})
    assert w.mean == pytest.approx(2.5)
    assert w.var == pytest.approx(0.75 * 2.5**2 + 0.25 * 7.5**2)


def test_sampling_is_reproducible_with_the_same_seed() -> None:
    d = DISTRIBUTION.validate_python({"dist": "lognormal", "mean": 60, "sd": 30})
    a = d.sample(np.random.default_rng(1), 100)
    b = d.sample(np.random.default_rng(1), 100)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(("raw", "cls", "text"), KINDS)
def test_repr_shows_parameters(raw: Any, cls: type, text: str) -> None:
    d = DISTRIBUTION.validate_python(raw)
    assert repr(d) == text
    assert str(d) == text


@pytest.mark.parametrize("number", [0, 3, 2.5, -1.5])
def test_bare_number_is_fixed(number: float) -> None:
    d = DISTRIBUTION.validate_python(number)
    assert d == Fixed(value=number)
    assert (d.mean, d.var, d.lower) == (number, 0, number)
    np.testing.assert_array_equal(d.sample(np.random.default_rng(0), 5), np.full(5, number))


@pytest.mark.parametrize("number", [0, 3, 2.5])
def test_bare_non_negative_number_is_a_fixed_duration(number: float) -> None:
    assert DURATION.validate_python(number) == Fixed(value=number)


@pytest.mark.parametrize("raw", [True, "3", None, [1, 2]])
def test_non_numbers_are_not_fixed(raw: Any) -> None:
    with pytest.raises(ValidationError):
        DISTRIBUTION.validate_python(raw)


@pytest.mark.parametrize(
    "raw",
    [
        {"dist": "exponential", "mean": 1},
        {"dist": "lognormal", "mean": 60, "sd": 30},
        {"dist": "gamma", "mean": 2, "sd": 4},
        {"dist": "triangular", "low": 0, "mode": 0, "high": 1},
        {"dist": "uniform", "low": 0, "high": 1},
        {"dist": "empirical", "values": [0, 5]},
    ],
)
def test_duration_accepts_non_negative_support(raw: dict[str, Any]) -> None:
    assert DURATION.validate_python(raw).lower >= 0


@pytest.mark.parametrize(
    ("raw", "text", "lowest"),
    [
        pytest.param(-1, "Fixed(value=-1)", "-1", id="bare"),
        pytest.param({"dist": "uniform", "low": -1, "high": 2}, "Uniform(low=-1, high=2)", "-1"),
        pytest.param(
            {"dist": "triangular", "low": -0.5, "mode": 1, "high": 2},
            "Triangular(low=-0.5, mode=1, high=2)",
            "-0.5",
        ),
        pytest.param({"dist": "empirical", "values": [3, -2, 5]}, "Empirical(n=3, mean=2)", "-2"),
    ],
)
def test_duration_rejects_negative_support(raw: Any, text: str, lowest: str) -> None:
    assert DISTRIBUTION.validate_python(raw).lower < 0  # fine as a plain distribution
    with pytest.raises(ValidationError) as err:
        DURATION.validate_python(raw)
    (error,) = err.value.errors()
    assert error["msg"] == f"Value error, a duration cannot be negative: {text} can take {lowest}"


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        pytest.param(
            {"dist": "triangular", "low": 0, "mode": 5, "high": 4},
            ("low <= mode <= high", "mode=5"),
            id="triangular-mode-above-high",
        ),
        pytest.param(
            {"dist": "triangular", "low": 0, "mode": -1, "high": 4},
            ("low <= mode <= high", "mode=-1"),
            id="triangular-mode-below-low",
        ),
        pytest.param(
            {"dist": "triangular", "low": 2, "mode": 2, "high": 2},
            ("low < high",),
            id="triangular-degenerate",
        ),
        pytest.param(
            {"dist": "uniform", "low": 3, "high": 3}, ("need low < high",), id="uniform-equal"
        ),
        pytest.param(
            {"dist": "uniform", "low": 4, "high": 3},
            ("need low < high", "low=4, high=3"),
            id="uniform-reversed",
        ),
        pytest.param(
            {"dist": "empirical", "values": [1, 2, 3], "weights": [1, 1]},
            ("one entry per value", "2 weights for 3 values"),
            id="empirical-weights-too-short",
        ),
        pytest.param(
            {"dist": "empirical", "values": [1, 2], "weights": [1, 1, 1]},
            ("one entry per value", "3 weights for 2 values"),
            id="empirical-weights-too-long",
        ),
        pytest.param(
            {"dist": "empirical", "values": [1, 2], "weights": [2, -1]},
            ("non-negative",),
            id="empirical-negative-weight",
        ),
        pytest.param(
            {"dist": "empirical", "values": [1, 2], "weights": [0, 0]},
            ("not all zero",),
            id="empirical-zero-weights",
        ),
        pytest.param(
            {"dist": "empirical", "values": []}, ("at least 1 item",), id="empirical-empty"
        ),
        pytest.param(
            {"dist": "exponential", "mean": 0}, ("greater than 0",), id="exponential-mean-0"
        ),
        pytest.param(
            {"dist": "lognormal", "mean": 5, "sd": -1}, ("greater than 0",), id="lognormal-sd"
        ),
        pytest.param({"dist": "lognormal", "mean": 5}, ("Field required",), id="lognormal-no-sd"),
        pytest.param(
            {"dist": "gamma", "mean": 5, "sd": 1, "shape": 2},
            ("Extra inputs are not permitted",),
            id="extra-field",
        ),
        pytest.param(
            {"dist": "weibull", "mean": 5}, ("does not match any of the expected tags",), id="tag"
        ),
        pytest.param(
            {"mean": 5}, ("Unable to extract tag using discriminator 'dist'",), id="no-tag"
        ),
    ],
)
def test_invalid_parameters_are_rejected(raw: dict[str, Any], words: tuple[str, ...]) -> None:
    with pytest.raises(ValidationError) as err:
        DISTRIBUTION.validate_python(raw)
    messages = " | ".join(error["msg"] for error in err.value.errors())
    for word in words:
        assert word in messages


def test_distributions_are_frozen() -> None:
    d = DISTRIBUTION.validate_python({"dist": "uniform", "low": 0, "high": 1})
    with pytest.raises(ValidationError):
        d.low = 5  # type: ignore[misc]


@pytest.mark.parametrize(("raw", "cls", "text"), KINDS)
def test_the_quantile_function_draws_the_same_law_as_the_sampler(
    raw: Any, cls: type, text: str
) -> None:
    # A lead's own draws go through the quantile function: fed uniforms, it must give the
    # law the vectorised sampler gives (two-sample Kolmogorov-Smirnov, and the moments).
    from scipy import stats

    d = DISTRIBUTION.validate_python(raw)
    q = d.quantile_function()
    u = np.random.default_rng(3).random(20_000)
    x = np.array([q(float(v)) for v in u])
    y = d.sample(np.random.default_rng(4), 20_000)
    assert x.min() >= d.lower
    assert abs(x.mean() - d.mean) <= 4 * math.sqrt(d.var / len(x))
    if d.var > 0:
        assert stats.ks_2samp(x, y).pvalue > 0.001
    # monotone in u: a quantile function
    grid = [q(v) for v in np.linspace(0.001, 0.999, 99)]
    assert all(b >= a for a, b in itertools.pairwise(grid))


@pytest.mark.parametrize(
    ("raw", "law"),
    [
        ({"dist": "exponential", "mean": 2.5}, lambda: __import__("scipy").stats.expon(scale=2.5)),
        (
            {"dist": "gamma", "mean": 2, "sd": 4},
            lambda: __import__("scipy").stats.gamma(0.25, scale=8.0),
        ),
        (
            {"dist": "lognormal", "mean": 60, "sd": 30},
            lambda: __import__("scipy").stats.lognorm(
                math.sqrt(math.log1p(0.25)), scale=60 / math.sqrt(1.25)
            ),
        ),
        (
            {"dist": "triangular", "low": 2, "mode": 3, "high": 10},
            lambda: __import__("scipy").stats.triang(1 / 8, loc=2, scale=8),
        ),
    ],
)
def test_the_quantile_function_is_the_inverse_cdf(raw: dict[str, Any], law: Any) -> None:
    q = DISTRIBUTION.validate_python(raw).quantile_function()
    for u in (1e-9, 0.01, 0.3, 0.5, 0.77, 0.999, 1 - 1e-12):
        assert q(u) == pytest.approx(float(law().ppf(u)), rel=1e-7)


@pytest.mark.parametrize(
    "raw",
    [
        {"dist": "fixed", "value": 3.0},
        {"dist": "exponential", "mean": 2.5},
        {"dist": "gamma", "mean": 2, "sd": 4},
        {"dist": "lognormal", "mean": 60, "sd": 30},
        {"dist": "triangular", "low": 2, "mode": 3, "high": 10},
        {"dist": "uniform", "low": 1, "high": 4},
        {"dist": "empirical", "values": [1, 5, 9], "weights": [1, 2, 1]},
    ],
)
def test_vectorised_quantiles_are_the_quantile_function(raw: dict[str, Any]) -> None:
    d = DISTRIBUTION.validate_python(raw)
    u = np.array([1e-9, 0.01, 0.25, 0.3, 0.5, 0.75, 0.77, 0.999, 1 - 1e-12])
    q = d.quantile_function()
    np.testing.assert_allclose(d.quantiles(u), [q(x) for x in u], rtol=1e-9)

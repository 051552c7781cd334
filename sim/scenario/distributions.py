"""Probability distributions declared in scenarios as tagged objects.

Each distribution is a frozen pydantic model tagged by its ``dist`` field
(``{dist: lognormal, mean: 60, sd: 30}``); a bare number means ``fixed``. Every one knows its
theoretical mean and variance, which the validation suite compares with simulated values, and
prints as ``LogNormal(mean=60, sd=30)``. Sampling is vectorised: the engine draws blocks;
:meth:`quantile_function` turns one given uniform into a value (a lead's own draw).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable
from statistics import NormalDist
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from scipy.special import gammaincinv, ndtri

Array = np.ndarray[Any, np.dtype[np.float64]]

LARGEST = 1e12
"""Bound on the size of any number in a scenario: a trillion (currency units, days, points)."""


def _not_bool(value: Any) -> Any:
    # pydantic would read true as 1 and false as 0
    if isinstance(value, bool):
        raise ValueError("must be a number, not true or false")
    return value


Number = Annotated[float, BeforeValidator(_not_bool)]
"""A number, never a boolean: the base of bounded number types (give it ``ge`` and ``le``)."""
Integer = Annotated[int, BeforeValidator(_not_bool)]
"""An integer, never a boolean: the base of bounded integer types."""
Real = Annotated[Number, Field(ge=-LARGEST, le=LARGEST)]
"""A finite number (with ``allow_inf_nan=False``) of at most :data:`LARGEST` in size."""
Whole = Annotated[Integer, Field(ge=-LARGEST, le=LARGEST)]
"""An integer of at most :data:`LARGEST` in size."""


class _Distribution(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    @property
    def mean(self) -> float:
        """Theoretical mean."""
        raise NotImplementedError

    @property
    def var(self) -> float:
        """Theoretical variance."""
        raise NotImplementedError

    @property
    def lower(self) -> float:
        """Smallest value the distribution can take."""
        raise NotImplementedError

    def sample(self, rng: np.random.Generator, size: int) -> Array:
        """Draw ``size`` independent values."""
        raise NotImplementedError

    def quantile_function(self) -> Callable[[float], float]:
        """The inverse CDF as a scalar function of ``u`` in (0, 1), parameters bound once.

        Used where a value must come from one given uniform (a lead's own draw).
        """
        raise NotImplementedError

    def quantiles(self, u: Array) -> Array:
        """The inverse CDF of every element of ``u``: :meth:`quantile_function`, vectorised."""
        q = self.quantile_function()
        return np.fromiter((q(x) for x in u.tolist()), np.float64, len(u))

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{k}={v:g}" if isinstance(v, float | int) else f"{k}={v!r}"
            for k, v in self.model_dump().items()
            if k != "dist"
        )
        return f"{type(self).__name__}({fields})"

    __str__ = __repr__


class Fixed(_Distribution):
    """Always the same value."""

    dist: Literal["fixed"] = "fixed"
    value: Real

    @property
    def mean(self) -> float:
        return self.value

    @property
    def var(self) -> float:
        return 0.0

    @property
    def lower(self) -> float:
        return self.value

    def sample(self, rng: np.random.Generator, size: int) -> Array:
        return np.full(size, self.value)

    def quantile_function(self) -> Callable[[float], float]:
        value = float(self.value)
        return lambda u: value

    def quantiles(self, u: Array) -> Array:
        return np.full(len(u), float(self.value))


class Exponential(_Distribution):
    """Exponential with the given mean (rate = 1 / mean)."""

    dist: Literal["exponential"] = "exponential"
    mean_: Real = Field(alias="mean", gt=0)

    @property
    def mean(self) -> float:
        return self.mean_

    @property
    def var(self) -> float:
        return self.mean_**2

    @property
    def lower(self) -> float:
        return 0.0

    def sample(self, rng: np.random.Generator, size: int) -> Array:
        return rng.exponential(self.mean_, size)

    def quantile_function(self) -> Callable[[float], float]:
        mean, log1p = float(self.mean_), math.log1p
        return lambda u: -mean * log1p(-u)

    def quantiles(self, u: Array) -> Array:
        return np.asarray(-float(self.mean_) * np.log1p(-u))

    def __repr__(self) -> str:
        return f"Exponential(mean={self.mean_:g})"

    __str__ = __repr__


class _MeanSd(_Distribution):
    """A positive variable given its own mean and standard deviation."""

    mean_: Real = Field(alias="mean", gt=0)
    sd: Real = Field(gt=0)

    @property
    def mean(self) -> float:
        return self.mean_

    @property
    def var(self) -> float:
        return self.sd**2

    @property
    def lower(self) -> float:
        return 0.0


class LogNormal(_MeanSd):
    """Log-normal given the mean and standard deviation of the variable itself (not its log)."""

    dist: Literal["lognormal"] = "lognormal"

    def _log_params(self) -> tuple[float, float]:
        """Mean and standard deviation of the logarithm."""
        sigma2 = math.log1p((self.sd / self.mean_) ** 2)
        return math.log(self.mean_) - sigma2 / 2, math.sqrt(sigma2)

    def sample(self, rng: np.random.Generator, size: int) -> Array:
        mu, sigma = self._log_params()
        return rng.lognormal(mu, sigma, size)

    def quantile_function(self) -> Callable[[float], float]:
        mu, sigma = self._log_params()
        exp, z = math.exp, NormalDist().inv_cdf
        return lambda u: exp(mu + sigma * z(u))

    def quantiles(self, u: Array) -> Array:
        mu, sigma = self._log_params()
        return np.asarray(np.exp(mu + sigma * ndtri(u)))

    def __repr__(self) -> str:
        return f"LogNormal(mean={self.mean_:g}, sd={self.sd:g})"

    __str__ = __repr__


class Gamma(_MeanSd):
    """Gamma given its mean and standard deviation (shape = (mean/sd)^2)."""

    dist: Literal["gamma"] = "gamma"

    def _shape_scale(self) -> tuple[float, float]:
        return (self.mean_ / self.sd) ** 2, self.sd**2 / self.mean_

    def sample(self, rng: np.random.Generator, size: int) -> Array:
        shape, scale = self._shape_scale()
        return rng.gamma(shape, scale, size)

    def quantile_function(self) -> Callable[[float], float]:
        shape, scale = self._shape_scale()
        return lambda u: float(gammaincinv(shape, u)) * scale

    def quantiles(self, u: Array) -> Array:
        shape, scale = self._shape_scale()
        return np.asarray(gammaincinv(shape, u) * scale)

    def __repr__(self) -> str:
        return f"Gamma(mean={self.mean_:g}, sd={self.sd:g})"

    __str__ = __repr__


class Triangular(_Distribution):
    """Triangular on [low, high] with the given mode."""

    dist: Literal["triangular"] = "triangular"
    low: Real
    mode: Real
    high: Real

    @model_validator(mode="after")
    def _ordered(self) -> Triangular:
        if not (self.low <= self.mode <= self.high and self.low < self.high):
            raise ValueError(
                f"need low <= mode <= high and low < high "
                f"(got low={self.low:g}, mode={self.mode:g}, high={self.high:g})"
            )
        return self

    @property
    def mean(self) -> float:
        return (self.low + self.mode + self.high) / 3

    @property
    def var(self) -> float:
        a, c, b = self.low, self.mode, self.high
        return (a * a + b * b + c * c - a * b - a * c - b * c) / 18

    @property
    def lower(self) -> float:
        return self.low

    def sample(self, rng: np.random.Generator, size: int) -> Array:
        return rng.triangular(self.low, self.mode, self.high, size)

    def quantile_function(self) -> Callable[[float], float]:
        a, c, b = float(self.low), float(self.mode), float(self.high)
        split, sqrt = (c - a) / (b - a), math.sqrt

        def q(u: float) -> float:
            if u < split:
                return a + sqrt(u * (b - a) * (c - a))
            return b - sqrt((1.0 - u) * (b - a) * (b - c))

        return q


class Uniform(_Distribution):
    """Uniform on [low, high]."""

    dist: Literal["uniform"] = "uniform"
    low: Real
    high: Real

    @model_validator(mode="after")
    def _ordered(self) -> Uniform:
        if not self.low < self.high:
            raise ValueError(f"need low < high (got low={self.low:g}, high={self.high:g})")
        return self

    @property
    def mean(self) -> float:
        return (self.low + self.high) / 2

    @property
    def var(self) -> float:
        return (self.high - self.low) ** 2 / 12

    @property
    def lower(self) -> float:
        return self.low

    def sample(self, rng: np.random.Generator, size: int) -> Array:
        return rng.uniform(self.low, self.high, size)

    def quantile_function(self) -> Callable[[float], float]:
        low, width = float(self.low), float(self.high - self.low)
        return lambda u: low + width * u

    def quantiles(self, u: Array) -> Array:
        return np.asarray(float(self.low) + float(self.high - self.low) * u)


class Empirical(_Distribution):
    """Resamples the listed values, optionally with weights (normalised to sum to 1)."""

    dist: Literal["empirical"] = "empirical"
    values: list[Real] = Field(min_length=1)
    weights: list[Real] | None = None

    @model_validator(mode="after")
    def _weights(self) -> Empirical:
        if self.weights is not None:
            if len(self.weights) != len(self.values):
                raise ValueError(
                    f"weights must have one entry per value "
                    f"({len(self.weights)} weights for {len(self.values)} values)"
                )
            if any(w < 0 for w in self.weights) or sum(self.weights) <= 0:
                raise ValueError("weights must be non-negative and not all zero")
        return self

    def _p(self) -> Array:
        w = np.ones(len(self.values)) if self.weights is None else np.asarray(self.weights)
        return np.asarray(w / w.sum(), dtype=np.float64)

    @property
    def mean(self) -> float:
        return float(np.dot(self._p(), self.values))

    @property
    def var(self) -> float:
        v = np.asarray(self.values)
        return float(np.dot(self._p(), (v - self.mean) ** 2))

    @property
    def lower(self) -> float:
        return min(self.values)

    def sample(self, rng: np.random.Generator, size: int) -> Array:
        return np.asarray(rng.choice(np.asarray(self.values, float), size, p=self._p()))

    def quantile_function(self) -> Callable[[float], float]:
        values = [float(v) for v in self.values]
        cdf = np.cumsum(self._p()).tolist()
        cdf[-1] = 1.0
        last = len(values) - 1
        return lambda u: values[min(bisect_right(cdf, u), last)]

    def __repr__(self) -> str:
        return f"Empirical(n={len(self.values)}, mean={self.mean:g})"

    __str__ = __repr__


def _bare_number_is_fixed(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return {"dist": "fixed", "value": value}
    return value


Distribution = Annotated[
    Fixed | Exponential | LogNormal | Gamma | Triangular | Uniform | Empirical,
    Field(discriminator="dist"),
    BeforeValidator(_bare_number_is_fixed),
]
"""Any distribution, written as a tagged mapping or a bare number (fixed)."""


def _non_negative(d: _Distribution) -> _Distribution:
    if d.lower < 0:
        raise ValueError(f"a duration cannot be negative: {d!r} can take {d.lower:g}")
    return d


Duration = Annotated[Distribution, AfterValidator(_non_negative)]
"""A distribution of a non-negative quantity (days, hours, amounts)."""

AnyDistribution = Fixed | Exponential | LogNormal | Gamma | Triangular | Uniform | Empirical

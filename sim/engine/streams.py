"""Named random streams: common random numbers across scenarios.

Every source of randomness in a replication has a name (``"arrivals"``, ``"is.outcome"``,
``"fs.phase.2.duration"`` ...). Its generator is spawned from the replication's
:class:`numpy.random.SeedSequence` with a key derived from the name alone, so two scenarios
that differ in one lever draw the same numbers for everything that lever does not touch, and
adding a stream never shifts the others.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Any

import numpy as np

from sim.scenario.distributions import AnyDistribution

SeedLike = int | np.random.SeedSequence

_BLOCK = 4096


def seed_sequence(seed: SeedLike) -> np.random.SeedSequence:
    """Turn an int or a SeedSequence into a SeedSequence."""
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer (got {seed!r})")
    return np.random.SeedSequence(int(seed))


def replication_seed(seed: int, replication: int) -> np.random.SeedSequence:
    """The seed of replication ``replication`` of a run seeded with ``seed``.

    Identical to ``SeedSequence(seed).spawn(n)[replication]``, but computable alone, so any
    worker can rebuild any replication.
    """
    return np.random.SeedSequence(seed, spawn_key=(replication,))


class Draws:
    """Scalar draws served from blocks filled by a vectorised sampler (fast in the hot loop)."""

    __slots__ = ("_buf", "_fill", "_i")

    def __init__(self, fill: Callable[[int], np.ndarray[Any, Any]]) -> None:
        self._fill = fill
        self._buf: list[float] = []
        self._i = 0

    def __call__(self) -> float:
        i = self._i
        if i == len(self._buf):
            self._buf = self._fill(_BLOCK).tolist()
            i = 0
        self._i = i + 1
        return self._buf[i]


class Streams:
    """Factory of named generators and buffered draws for one replication."""

    def __init__(self, seed: SeedLike) -> None:
        self.seed = seed_sequence(seed)

    def generator(self, name: str) -> np.random.Generator:
        """A generator private to ``name``."""
        key = (*self.seed.spawn_key, zlib.crc32(name.encode()))
        child = np.random.SeedSequence(self.seed.entropy, spawn_key=key)
        return np.random.Generator(np.random.PCG64(child))

    def uniforms(self, name: str) -> Draws:
        """Buffered U(0, 1) draws."""
        gen = self.generator(name)
        return Draws(gen.random)

    def sampler(self, name: str, dist: AnyDistribution) -> Draws:
        """Buffered draws from ``dist``."""
        gen = self.generator(name)
        return Draws(lambda n: dist.sample(gen, n))

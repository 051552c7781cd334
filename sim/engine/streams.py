"""Named random streams: common random numbers across scenarios.

Every source of randomness in a replication has a name (``"arrivals"``, ``"is.outcome"``,
``"fs.phase.2.duration"`` ...). Its generator is spawned from the replication's
:class:`numpy.random.SeedSequence` with a key derived from the name alone, so two scenarios
that differ in one lever draw the same numbers for everything that lever does not touch, and
adding a stream never shifts the others.
"""

from __future__ import annotations

import itertools
import zlib
from collections.abc import Callable, Iterator
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


Draws = Callable[[], float]
"""A source of scalar draws: call it for the next one."""


def draws(fill: Callable[[int], np.ndarray[Any, Any]]) -> Draws:
    """Scalar draws served from blocks filled by a vectorised sampler.

    The result is the C-level ``__next__`` of an iterator over the blocks, so a draw in the
    hot loop costs no Python frame; ``fill`` runs once a block.
    """

    def blocks() -> Iterator[list[float]]:
        while True:
            yield fill(_BLOCK).tolist()

    return itertools.chain.from_iterable(blocks()).__next__


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
        return draws(gen.random)

    def sampler(self, name: str, dist: AnyDistribution) -> Draws:
        """Buffered draws from ``dist``."""
        gen = self.generator(name)
        return draws(lambda n: dist.sample(gen, n))

"""Named random streams: common random numbers across scenarios.

Every source of randomness in a replication has a name (``"arrivals"``, ``"is.outcome"``,
``"fs.phase.2.duration"`` ...). Its generator is spawned from the replication's
:class:`numpy.random.SeedSequence` with a key derived from the name alone, so two scenarios
that differ in one lever draw the same numbers for everything that lever does not touch, and
adding a stream never shifts the others.

Draws that decide a lead's fate come from the lead's **own** substream instead
(:class:`LeadDraws`): the ``k``-th draw of a purpose by a lead is a function of the
replication, the lead's key (its channel and its rank among that channel's leads), the
purpose and ``k`` alone. Two scenarios that differ in one lever then give the same lead the
same luck whatever order the leads are served in, which keeps their difference paired.
"""

from __future__ import annotations

import itertools
import zlib
from array import array
from collections.abc import Callable, Iterator, Sequence
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


_M64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_GOLDEN2, _GOLDEN3, _GOLDEN4 = 2 * _GOLDEN, 3 * _GOLDEN, 4 * _GOLDEN
_U53 = 2.0**-53


def mix64(x: int) -> int:
    """SplitMix64's finaliser: a bijective 64-bit mix (Steele, Lea & Flood, 2014)."""
    x &= _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


_RANK = 0xD1B54A32D192ED03


def _mix64_array(x: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """:func:`mix64` of every element of a ``uint64`` array (arithmetic wraps, as in C)."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return np.asarray(x ^ (x >> np.uint64(31)))


def _salt(name: str) -> int:
    return mix64(zlib.crc32(name.encode()) * _GOLDEN + len(name))


class LeadDraws:
    """U(0, 1) draws of one purpose from each lead's own substream.

    ``draws(lead)`` returns the lead's next draw for this purpose: SplitMix64 of the lead's
    key, the purpose and the draw's index ``k`` (how many this lead has drawn before), mapped
    to the open interval (0, 1). No state is shared between leads, so the order leads are
    served in does not change any lead's numbers. ``k`` is counted per lead in an array
    (4 bytes a lead), grown in blocks as leads are created.
    """

    __slots__ = ("_keys", "_n", "_salt")

    def __init__(self, keys: Sequence[int], name: str) -> None:
        self._keys = keys
        self._salt = _salt(name)
        self._n = array("I")

    def _grow(self, lead: int) -> None:
        """Make room in the counters for ``lead`` and a block more."""
        n = self._n
        n.frombytes(bytes(n.itemsize * (lead + _BLOCK - len(n))))

    def __call__(self, lead: int) -> float:
        n = self._n
        try:
            k = n[lead]
        except IndexError:
            self._grow(lead)
            k = 0
        n[lead] = k + 1
        x = (self._keys[lead] + self._salt + k * _GOLDEN) & _M64
        x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
        x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
        return (((x ^ (x >> 31)) >> 11) + 0.5) * _U53


class LeadQuads(LeadDraws):
    """Four U(0, 1) draws of one purpose at once from each lead's own substream.

    The ``k``-th call for a lead returns its draws ``4k`` to ``4k + 3`` of the purpose (as
    :class:`LeadDraws` numbers them): one call, one counter, for the four numbers an
    event needs, so the ``k``-th event of a lead gets the same four numbers whichever of
    them the event ends up using.
    """

    __slots__ = ()

    def __call__(self, lead: int) -> tuple[float, float, float, float]:  # type: ignore[override]
        n = self._n
        try:
            k = n[lead]
        except IndexError:
            self._grow(lead)
            k = 0
        n[lead] = k + 1
        # :meth:`LeadDraws.__call__` for the indices 4k .. 4k + 3, written out (no loop)
        b = self._keys[lead] + self._salt + k * _GOLDEN4
        m, c1, c2 = _M64, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB
        w = b & m
        x = (b + _GOLDEN) & m
        y = (b + _GOLDEN2) & m
        z = (b + _GOLDEN3) & m
        w = ((w ^ (w >> 30)) * c1) & m
        x = ((x ^ (x >> 30)) * c1) & m
        y = ((y ^ (y >> 30)) * c1) & m
        z = ((z ^ (z >> 30)) * c1) & m
        w = ((w ^ (w >> 27)) * c2) & m
        x = ((x ^ (x >> 27)) * c2) & m
        y = ((y ^ (y >> 27)) * c2) & m
        z = ((z ^ (z >> 27)) * c2) & m
        return (
            (((w ^ (w >> 31)) >> 11) + 0.5) * _U53,
            (((x ^ (x >> 31)) >> 11) + 0.5) * _U53,
            (((y ^ (y >> 31)) >> 11) + 0.5) * _U53,
            (((z ^ (z >> 31)) >> 11) + 0.5) * _U53,
        )


LeadSampler = Callable[[int], float]
"""A source of a lead's own draws from a distribution: call it with the lead's id."""


class Streams:
    """Factory of named generators and buffered draws for one replication."""

    def __init__(self, seed: SeedLike) -> None:
        self.seed = seed_sequence(seed)
        state = self.generator("leads.key").integers(0, 2**63, 2).tolist()
        self._root = (state[0] << 1 ^ state[1]) & _M64
        self.lead_streams: list[LeadDraws] = []
        """Every per-lead stream made, for :meth:`lead_draws_made` (nothing in the hot loop
        looks at it)."""

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

    def lead_key(self, channel: int, rank: int) -> int:
        """The key of a channel's ``rank``-th lead: where its own substream starts."""
        return mix64(self._root + mix64((channel + 1) * _GOLDEN) + rank * _RANK)

    def lead_keys(self, channel: int, ranks: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        """:meth:`lead_key` of many ranks of one channel at once (``uint64``)."""
        base = np.uint64((self._root + mix64((channel + 1) * _GOLDEN)) & _M64)
        return _mix64_array(base + ranks.astype(np.uint64) * np.uint64(_RANK))

    def first_uniforms(self, keys: np.ndarray[Any, Any], name: str) -> np.ndarray[Any, Any]:
        """The first draw of purpose ``name`` from each of these leads' own substreams.

        The same numbers as the first call of ``lead_uniforms(keys, name)`` for each lead,
        computed at once: for attributes drawn when a batch of leads is made.
        """
        u = _mix64_array(keys.astype(np.uint64) + np.uint64(_salt(name))) >> np.uint64(11)
        return (u.astype(np.float64) + 0.5) * _U53

    def lead_uniforms(self, keys: Sequence[int], name: str) -> LeadDraws:
        """U(0, 1) draws of purpose ``name`` from each lead's own substream."""
        made = LeadDraws(keys, name)
        self.lead_streams.append(made)
        return made

    def lead_quads(self, keys: Sequence[int], name: str) -> LeadQuads:
        """Four U(0, 1) draws of purpose ``name`` at a time from each lead's own substream."""
        made = LeadQuads(keys, name)
        self.lead_streams.append(made)
        return made

    def lead_sampler(self, keys: Sequence[int], name: str, dist: AnyDistribution) -> LeadSampler:
        """Draws from ``dist`` of purpose ``name``, each from the lead's own substream."""
        u = self.lead_uniforms(keys, name)
        q = dist.quantile_function()
        return lambda lead: q(u(lead))

    def lead_draws_made(self) -> tuple[int, int]:
        """Calls made so far to the per-lead streams: (single draws, draws of four).

        Read from the streams' per-lead counters, so counting costs the hot loop nothing.
        """
        single = quads = 0
        for made in self.lead_streams:
            calls = sum(made._n)
            if isinstance(made, LeadQuads):
                quads += calls
            else:
                single += calls
        return single, quads

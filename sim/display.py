"""How result objects show themselves in a console or a notebook: a few lines, a small table.

:class:`Shown` gives a class a short ``repr`` and an HTML table (``_repr_html_``, which
Jupyter shows) from one method, ``_facts``: a title and a few (label, value) rows. This
module stays light (no pandas, no matplotlib at import), so the engine's classes can use it.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import Any

from sim.formats import fmt

Facts = tuple[str, list[tuple[str, str]]]
"""A title and (label, value) rows."""


class Shown:
    """Mixin: a short ``__repr__`` and ``_repr_html_`` from :meth:`_facts`.

    A dataclass using it must be declared with ``repr=False``, or its generated
    ``__repr__`` (every field, in full) would win.
    """

    def _facts(self) -> Facts:  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    def __repr__(self) -> str:
        title, rows = self._facts()
        width = max((len(name) for name, _ in rows), default=0)
        return "\n".join([title, *(f"  {name:<{width}}  {value}" for name, value in rows)])

    def _repr_html_(self) -> str:
        title, rows = self._facts()
        cells = "".join(
            f'<tr><th style="text-align:left">{html.escape(name)}</th>'
            f'<td style="text-align:left">{html.escape(value)}</td></tr>'
            for name, value in rows
        )
        return (
            f'<table><caption style="text-align:left"><b>{html.escape(title)}</b></caption>'
            f"{cells}</table>"
        )


value = fmt
"""``value(metric, x)``: ``x`` formatted for ``metric`` by :func:`sim.formats.fmt`, the one
number format of the charts, tables and reports."""


def band(metric: str, values: Iterable[float]) -> str:
    """``P50 (P10 to P90)`` of ``values`` (NaN left out), formatted for ``metric``."""
    import numpy as np

    x = np.asarray(list(values), dtype=float)
    x = x[~np.isnan(x)]
    if not len(x):
        return "-"
    p10, p50, p90 = np.percentile(x, (10, 50, 90))
    return f"{value(metric, p50)} (P10 {value(metric, p10)} to P90 {value(metric, p90)})"


def horizon(months: Sequence[str]) -> str:
    """``36 months (2026-01 to 2028-12)``."""
    if not months:
        return "0 months"
    return f"{len(months)} months ({months[0]} to {months[-1]})"


def interval(metric: str, mean: float, low: float, high: float) -> str:
    """``+$1.2M (95% CI +$0.4M to +$2.0M)``: a difference with its interval."""

    low_text, high_text = fmt(metric, low, signed=True), fmt(metric, high, signed=True)
    return f"{fmt(metric, mean, signed=True)} (95% CI {low_text} to {high_text})"


def plain(x: Any) -> str:
    """A short text for any value."""
    return f"{x:,}" if isinstance(x, int) and not isinstance(x, bool) else str(x)

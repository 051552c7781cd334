"""Dates in CRM exports: day-first or month-first, and which dates are plausible."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from sim.calibrate.report import (
    IMPLAUSIBLE_DATE,
    CrmError,
    Report,
)
from sim.errors import Problem

PathLike = str | os.PathLike[str]

_DATE = (
    r"^(?P<a>\d{1,4})(?P<sep>[-/.])(?P<b>\d{1,2})(?P=sep)(?P<c>\d{1,4})"
    r"(?:[ T](?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:\.\d+)?)?)?(?:Z)?$"
)
_SHAPES = {
    "day_first": "DD-MM-YYYY[ HH:MM[:SS]] (also with / or .)",
    "month_first": "MM-DD-YYYY[ HH:MM[:SS]] (also with / or .)",
    "iso": "YYYY-MM-DD[ HH:MM[:SS]]",
}
_MOSTLY_BAD = 0.5
"""Above this share of unparseable dates in a column, the format is wrong: stop, not skip."""
EARLIEST_DATE = dt.date(1990, 1, 1)
"""No CRM export holds real events before this: earlier dates are typos or placeholders."""
LATEST_AHEAD = dt.timedelta(days=366)
"""Dates later than today plus this are typos or placeholders (2099-12-31, 2100-01-01)."""
FEW_IMPLAUSIBLE = 10
"""At most this many dates of a column (or 1% of them, if more) outside the window are left
out with a warning each; more, and the column is refused: its dates are not real dates."""


def date_window(today: dt.date | None = None) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The plausible dates of a CRM export: :data:`EARLIEST_DATE` to a year after today.

    Parameters
    ----------
    today
        Default: the machine's date.

    Returns
    -------
    tuple[pd.Timestamp, pd.Timestamp]
        The first plausible instant and the first one after the window.
    """
    end = (today or dt.date.today()) + LATEST_AHEAD + dt.timedelta(days=1)
    return pd.Timestamp(EARLIEST_DATE), pd.Timestamp(end)


@dataclass
class DateColumn:
    """One date column being parsed: where it is, its raw text and its components."""

    file: str
    column: str
    raw: pd.Series
    lines: np.ndarray[Any, Any]
    parts: pd.DataFrame = field(init=False)

    def __post_init__(self) -> None:
        self.parts = _date_parts(self.raw)

    @property
    def label(self) -> str:
        return f"{self.file} column {self.column}"


def _date_parts(raw: pd.Series) -> pd.DataFrame:
    parts = raw.str.extract(_DATE)
    return parts.drop(columns="sep")


def _order_evidence(parts: pd.DataFrame) -> tuple[int, int]:
    """Rows that can only be day-first, and rows that can only be month-first."""
    not_iso = parts["a"].str.len() < 4
    a = pd.to_numeric(parts["a"][not_iso], errors="coerce")
    b = pd.to_numeric(parts["b"][not_iso], errors="coerce")
    return int((a > 12).sum()), int((b > 12).sum())


def _assemble(parts: pd.DataFrame, order: str) -> pd.Series:
    """Timestamps from date components (NaT where missing or impossible, e.g. 31-02)."""
    iso = parts["a"].str.len() == 4
    a = pd.to_numeric(parts["a"], errors="coerce")
    b = pd.to_numeric(parts["b"], errors="coerce")
    c = pd.to_numeric(parts["c"], errors="coerce")
    if order == "month_first":
        year, month, day = c, a, b
    else:
        year, month, day = c, b, a
    year = year.where(~iso, a)
    month = month.where(~iso, b)
    day = day.where(~iso, c)
    bad_year = year < 1000  # two-digit years are not accepted
    frame = pd.DataFrame(
        {
            "year": year.where(~bad_year),
            "month": month,
            "day": day,
            "hour": pd.to_numeric(parts["H"], errors="coerce").fillna(0),
            "minute": pd.to_numeric(parts["M"], errors="coerce").fillna(0),
            "second": pd.to_numeric(parts["S"], errors="coerce").fillna(0),
        }
    )
    ok = frame[["year", "month", "day"]].notna().all(axis=1)
    out = pd.Series(pd.NaT, index=parts.index, dtype="datetime64[ns]")
    if ok.any():
        out[ok] = pd.to_datetime(frame[ok], errors="coerce")
    return out


def _decide_order(columns: list[DateColumn], date_format: str) -> dict[str, str]:
    """Day-first or month-first for each column; ambiguous columns follow decided ones."""
    if date_format in ("day_first", "month_first", "iso"):
        return {c.label: date_format for c in columns}
    decided: dict[str, str] = {}
    problems = []
    for col in columns:
        day_only, month_only = _order_evidence(col.parts)
        mixed = _mixed_orders(col)
        if mixed is not None:
            problems.append(mixed)
        elif day_only or month_only:
            decided[col.label] = "day_first" if day_only >= month_only else "month_first"
    if problems:
        raise CrmError(problems)
    votes = set(decided.values())
    orders = {}
    for col in columns:
        if col.label in decided:
            orders[col.label] = decided[col.label]
            continue
        not_iso = (col.parts["a"].str.len() < 4) & col.parts["a"].notna()
        if not not_iso.any() or len(votes) == 1:
            orders[col.label] = next(iter(votes)) if len(votes) == 1 else "iso"
            continue
        first = col.raw[not_iso].iloc[0]
        problems.append(
            Problem(
                "cannot tell whether dates are day-first or month-first (no day or month "
                "above 12 in any date column); set date_format: day_first or month_first in "
                "the column map",
                col.column,
                col.file,
                int(col.lines[int(np.flatnonzero(not_iso.to_numpy())[0])]),
                first,
            )
        )
    if problems:
        raise CrmError(problems)
    return orders


def _mixed_orders(col: DateColumn) -> Problem | None:
    """Some dates of the column can only be day-first, others only month-first.

    Only dates valid in exactly one order count (31-31-2024 is evidence of nothing).
    """
    not_iso = col.parts["a"].str.len() < 4
    a = pd.to_numeric(col.parts["a"].where(not_iso), errors="coerce").to_numpy()
    b = pd.to_numeric(col.parts["b"].where(not_iso), errors="coerce").to_numpy()
    days, months = np.flatnonzero((a > 12) & (b <= 12)), np.flatnonzero((b > 12) & (a <= 12))
    if not len(days) or not len(months):
        return None
    day, month, day_only, month_only = int(days[0]), int(months[0]), len(days), len(months)
    return Problem(
        f"day-first and month-first dates are mixed: {day_only} can only be day-first (e.g. "
        f"{col.raw.iloc[day]!r}), {month_only} only month-first (e.g. {col.raw.iloc[month]!r} "
        f"on line {int(col.lines[month])}), so the others cannot be told; set date_format "
        "(day_first, month_first or a strftime format) in the column map",
        col.column,
        col.file,
        int(col.lines[day]),
        col.raw.iloc[day],
    )


def _parse_column(col: DateColumn, order: str, date_format: str) -> pd.Series:
    if "%" in date_format:
        return pd.to_datetime(col.raw, format=date_format, errors="coerce")
    return _assemble(col.parts, order)


def parse_dates(
    columns: list[DateColumn], date_format: str, report: Report
) -> dict[str, pd.Series]:
    """Parse every date column; stop if one is mostly unparseable (the format is wrong)."""
    orders = _decide_order(columns, date_format)
    out = {}
    problems = []
    for col in columns:
        order = orders[col.label]
        parsed = _parse_column(col, order, date_format)
        given = col.raw != ""
        bad = given & parsed.isna()
        shape = date_format if "%" in date_format else _SHAPES[order]
        if given.sum() and bad.sum() > _MOSTLY_BAD * given.sum():
            where = np.flatnonzero(bad.to_numpy())[:3]
            examples = ", ".join(repr(col.raw.iloc[i]) for i in where)
            problems.append(
                Problem(
                    f"{int(bad.sum())} of {int(given.sum())} dates do not parse as {shape} "
                    f"(e.g. {examples}); set date_format in the column map",
                    col.column,
                    col.file,
                )
            )
        if given.any() and "%" not in date_format:
            report.note(f"dates in {col.label}: {shape}")
        problems += _implausible(col, parsed, report)
        out[col.label] = parsed
    if problems:
        raise CrmError(problems)
    return out


def _implausible(col: DateColumn, parsed: pd.Series, report: Report) -> list[Problem]:
    """Dates outside :func:`date_window`: a few become no date (each warned), many refuse.

    ``parsed`` is changed in place.
    """
    start, end = date_window()
    if getattr(parsed.dt, "tz", None) is not None:  # a strftime format with %z
        start, end = start.tz_localize(parsed.dt.tz), end.tz_localize(parsed.dt.tz)
    outside = (parsed < start) | (parsed >= end)
    count = int(outside.sum())
    if not count:
        return []
    where = np.flatnonzero(outside.to_numpy())
    window = f"{start:%Y-%m-%d} to {end - pd.Timedelta(days=1):%Y-%m-%d}"
    if count > max(FEW_IMPLAUSIBLE, 0.01 * int(parsed.notna().sum())):
        examples = ", ".join(repr(col.raw.iloc[i]) for i in where[:3])
        return [
            Problem(
                f"{count} of {int(parsed.notna().sum())} dates are outside the plausible "
                f"window {window} (e.g. {examples}): these are not real event dates; fix "
                "the export or the column map",
                col.column,
                col.file,
                int(col.lines[where[0]]),
                col.raw.iloc[where[0]],
            )
        ]
    for i in where:
        report.warn(
            IMPLAUSIBLE_DATE,
            Problem(
                f"outside the plausible window {window}: taken as no date",
                col.column,
                col.file,
                int(col.lines[i]),
                col.raw.iloc[i],
            ),
        )
    parsed[outside] = pd.NaT
    return []


# -- CSV files ------------------------------------------------------------------------------

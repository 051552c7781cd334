"""Calendar months for reporting and the work clock of staff who work business hours.

The simulation clock counts days from the scenario's start date. A :class:`WorkClock` maps
wall-clock time to cumulative working hours and back, so a touch that needs 30 minutes of
rep time and starts at 17:50 on a Friday ends at 09:20 on Monday, with no event per shift.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_left

from sim.scenario.schema import add_months

_TAIL_DAYS = 3660  # work-clock look-ups past the horizon (a touch that ends after it)


def month_starts(start: dt.date, months: int) -> list[float]:
    """Day offsets of the first day of each month, plus the end of the horizon."""
    return [float((add_months(start, m) - start).days) for m in range(months + 1)]


def month_labels(start: dt.date, months: int) -> list[str]:
    """``YYYY-MM`` labels of the simulated months."""
    return [add_months(start, m).strftime("%Y-%m") for m in range(months)]


class WorkClock:
    """Working hours as a function of wall-clock days.

    Parameters
    ----------
    start
        Calendar date of day 0.
    horizon_days
        Length of the simulation; the clock also covers a long tail after it.
    always
        Work around the clock, every day (queueing-theory checks use this).
    start_hour, hours_per_day
        The daily working window on business days (Monday to Friday).
    holidays
        Dates on which nobody works.
    """

    def __init__(
        self,
        start: dt.date,
        horizon_days: float,
        *,
        always: bool,
        start_hour: float = 9.0,
        hours_per_day: float = 8.0,
        holidays: frozenset[dt.date] = frozenset(),
    ) -> None:
        self.always = always
        self.start_hour = start_hour
        self.hours_per_day = hours_per_day
        n = int(horizon_days) + _TAIL_DAYS
        weekday0 = start.weekday()
        self._hours = [
            (24.0 if always else hours_per_day if (weekday0 + d) % 7 < 5 else 0.0) for d in range(n)
        ]
        self._cum = [0.0]
        for h in self._hours:
            self._cum.append(self._cum[-1] + h)

    def working_days_per_year(self) -> float:
        """Average working days a year over the clock's span (for vacation shares)."""
        days = sum(1 for h in self._hours if h > 0)
        return days / (len(self._hours) / 365.25)

    def hours_between(self, t0: float, t1: float) -> float:
        """Working hours in [t0, t1)."""
        return self.to_work(t1) - self.to_work(t0)

    def to_work(self, t: float) -> float:
        """Cumulative working hours from day 0 to ``t``."""
        if self.always:
            return 24.0 * t
        d = int(t)
        into = (t - d) * 24.0 - self.start_hour
        h = self._hours[d]
        return self._cum[d] + (0.0 if into <= 0.0 else h if into >= h else into)

    def from_work(self, w: float) -> float:
        """Earliest wall-clock time at which ``w`` working hours have passed."""
        if self.always:
            return w / 24.0
        d = bisect_left(self._cum, w) - 1
        if d < 0:
            return 0.0
        return d + (self.start_hour + w - self._cum[d]) / 24.0

    def after(self, t: float, work_hours: float) -> float:
        """Wall-clock time when ``work_hours`` of work started at ``t`` is done (never before t)."""
        return max(t, self.from_work(self.to_work(t) + work_hours))

    def shifts(self) -> list[tuple[float, float]]:
        """Opening and closing times of every working window (empty when ``always``)."""
        if self.always:
            return []
        return [
            (d + self.start_hour / 24.0, d + (self.start_hour + h) / 24.0)
            for d, h in enumerate(self._hours)
            if h > 0
        ]


def holiday_dates(country: str | None, subdivision: str | None, start: dt.date, end: dt.date,
                  extra: list[dt.date]) -> frozenset[dt.date]:  # fmt: skip
    """Public holidays of ``country`` (python-holidays) between ``start`` and ``end``, plus
    ``extra`` dates."""
    days = set(extra)
    if country is not None:
        import holidays

        calendar = holidays.country_holidays(
            country, subdiv=subdivision, years=range(start.year, end.year + 1)
        )
        days |= {day for day in calendar if start <= day < end}
    return frozenset(days)

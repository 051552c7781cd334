"""The work clock: business hours, weekends, and the inverse mapping."""

from __future__ import annotations

import datetime as dt

import pytest

from sim.engine.calendar import WorkClock, month_labels, month_starts

FRIDAY = dt.date(2027, 1, 1)  # 2027-01-01 is a Friday: day 0 Fri, days 1-2 weekend, day 3 Mon


@pytest.fixture
def clock() -> WorkClock:
    return WorkClock(FRIDAY, 60, always=False, start_hour=9, hours_per_day=8)


def at(day: int, hour: float) -> float:
    return day + hour / 24


def test_friday_evening_work_finishes_on_monday(clock: WorkClock) -> None:
    assert clock.after(at(0, 16.5), 1.0) == pytest.approx(at(3, 9.5))
    assert clock.after(at(0, 18), 1.0) == pytest.approx(at(3, 10))


def test_work_inside_a_day(clock: WorkClock) -> None:
    assert clock.after(at(3, 10), 0.5) == pytest.approx(at(3, 10.5))


def test_zero_work_never_goes_back_in_time(clock: WorkClock) -> None:
    assert clock.after(at(3, 9), 0.0) == at(3, 9)
    assert clock.after(at(1, 12), 0.0) == at(1, 12)


def test_a_week_has_forty_hours(clock: WorkClock) -> None:
    assert clock.hours_between(0, 7) == pytest.approx(40)
    assert clock.hours_between(at(1, 0), at(3, 0)) == 0  # the weekend


def test_to_and_from_work_are_inverse_inside_working_hours(clock: WorkClock) -> None:
    for t in (at(0, 9.25), at(3, 12), at(10, 16.9), at(31, 9.01)):  # all weekdays
        assert clock.from_work(clock.to_work(t)) == pytest.approx(t)


def test_shifts_open_only_on_weekdays(clock: WorkClock) -> None:
    opens = [int(o) for o, _ in clock.shifts()[:6]]
    assert opens == [0, 3, 4, 5, 6, 7]
    first_open, first_close = clock.shifts()[0]
    assert (first_open, first_close) == (at(0, 9), at(0, 17))


def test_always_is_round_the_clock() -> None:
    clock = WorkClock(FRIDAY, 10, always=True)
    assert clock.after(at(1, 23), 2.0) == pytest.approx(at(2, 1))
    assert clock.hours_between(0, 7) == pytest.approx(168)
    assert clock.shifts() == []


def test_months_are_calendar_months() -> None:
    starts = month_starts(dt.date(2027, 1, 1), 3)
    assert starts == [0.0, 31.0, 59.0, 90.0]
    assert month_labels(dt.date(2027, 11, 1), 3) == ["2027-11", "2027-12", "2028-01"]

"""Cron parsing and fire times: the one module the preview and the scheduler share."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime

import pytest

from backend.services.scheduler import cron
from backend.services.scheduler.trigger import CronExpressionTrigger

BERLIN = "Europe/Berlin"


def times(expression: str, start: datetime, count: int, timezone: str = "UTC") -> list[str]:
    spec = cron.parse(expression, timezone)
    return [t.isoformat() for t in cron.next_times(spec, start, count)]


def test_five_fields_use_classic_cron_day_of_week() -> None:
    sunday = datetime(2026, 3, 1, 12, tzinfo=UTC)
    # APScheduler's from_crontab would read 1-5 as Tuesday-Saturday; cron means Monday-Friday.
    assert times("0 9 * * 1-5", sunday, 2) == ["2026-03-02T09:00:00+00:00", "2026-03-03T09:00:00+00:00"]
    assert times("0 0 * * 7", sunday, 1) == ["2026-03-08T00:00:00+00:00"]  # 7 is Sunday too


def test_day_of_month_and_day_of_week_are_ored_like_cron() -> None:
    start = datetime(2026, 3, 1, tzinfo=UTC)
    assert times("0 0 13 * 5", start, 3) == [
        "2026-03-06T00:00:00+00:00",
        "2026-03-13T00:00:00+00:00",
        "2026-03-20T00:00:00+00:00",
    ]


def test_six_fields_put_seconds_first() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert times("*/20 * * * * *", start, 3) == [
        "2026-01-01T00:00:20+00:00",
        "2026-01-01T00:00:40+00:00",
        "2026-01-01T00:01:00+00:00",
    ]
    assert times("30 15 10 * * *", start, 1) == ["2026-01-01T10:15:30+00:00"]


@pytest.mark.parametrize(
    "expression",
    [
        "0 9 * * MON-FRI",
        "0 0 1 JAN,jul *",
        "0 0 L * *",
        "0 0 15W * *",
        "0 0 * * 5#3",
        "0 0 * * sun#2",
        "0 0 * * L5",
        "0 0 ? * 1",
        "0 0 * * 0,7",
        "0 0 1-31/2 * *",
        "5/15 * * * *",
    ],
)
def test_the_field_checks_keep_every_form_cron_accepts(expression: str) -> None:
    assert cron.parse(expression, "UTC").fields == expression


@pytest.mark.parametrize(
    ("macro", "expansion"),
    [
        ("@yearly", "0 0 1 1 *"),
        ("@annually", "0 0 1 1 *"),
        ("@monthly", "0 0 1 * *"),
        ("@weekly", "0 0 * * 0"),
        ("@daily", "0 0 * * *"),
        ("@midnight", "0 0 * * *"),
        ("@HOURLY", "0 * * * *"),
    ],
)
def test_macros_expand_to_their_five_field_form(macro: str, expansion: str) -> None:
    start = datetime(2026, 5, 17, 10, 30, tzinfo=UTC)
    assert cron.parse(macro, "UTC").fields == expansion
    assert times(macro, start, 3) == times(expansion, start, 3)


def test_february_29_fires_only_in_leap_years() -> None:
    assert times("0 0 29 2 *", datetime(2026, 1, 1, tzinfo=UTC), 2) == [
        "2028-02-29T00:00:00+00:00",
        "2032-02-29T00:00:00+00:00",
    ]


def test_spring_forward_fires_a_skipped_time_once_right_after_the_gap() -> None:
    # Europe/Berlin 2026-03-29: 02:00 CET jumps to 03:00 CEST, so 02:30 does not exist.
    start = datetime(2026, 3, 27, 12, tzinfo=UTC)
    assert times("30 2 * * *", start, 3, BERLIN) == [
        "2026-03-28T02:30:00+01:00",
        "2026-03-29T03:00:00+02:00",
        "2026-03-30T02:30:00+02:00",
    ]
    hourly = times("30 * * * *", datetime(2026, 3, 28, 23, 45, tzinfo=UTC), 3, BERLIN)
    assert hourly == ["2026-03-29T01:30:00+01:00", "2026-03-29T03:30:00+02:00", "2026-03-29T04:30:00+02:00"]


def test_fall_back_fires_a_fixed_time_once_and_a_wildcard_hour_on_real_time() -> None:
    # Europe/Berlin 2026-10-25: 03:00 CEST falls back to 02:00 CET, so 02:30 happens twice.
    start = datetime(2026, 10, 23, 12, tzinfo=UTC)
    assert times("30 2 * * *", start, 3, BERLIN) == [
        "2026-10-24T02:30:00+02:00",
        "2026-10-25T02:30:00+02:00",
        "2026-10-26T02:30:00+01:00",
    ]
    hourly = times("30 * * * *", datetime(2026, 10, 24, 23, 0, tzinfo=UTC), 4, BERLIN)
    assert hourly == [
        "2026-10-25T01:30:00+02:00",
        "2026-10-25T02:30:00+02:00",
        "2026-10-25T02:30:00+01:00",
        "2026-10-25T03:30:00+01:00",
    ]


def test_a_tick_in_the_repeated_hour_is_recognised_when_given_in_utc() -> None:
    # The scheduler hands ticks over in UTC; Python never finds 02:30 CEST (a time that happens twice)
    # equal to the same instant in another zone, so comparing with == missed the fire (PEP 495).
    fixed, hourly = cron.parse("30 2 * * *", BERLIN), cron.parse("30 * * * *", BERLIN)
    first, second = datetime(2026, 10, 25, 0, 30, tzinfo=UTC), datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
    assert cron.is_fire_time(fixed, first) and not cron.is_fire_time(fixed, second)
    assert cron.is_fire_time(hourly, first) and cron.is_fire_time(hourly, second)


def test_the_previous_fire_time_and_counting_agree_with_next_times() -> None:
    spec = cron.parse("*/15 * * * *", "UTC")
    moment = datetime(2026, 6, 1, 10, 7, tzinfo=UTC)
    assert cron.latest_at_or_before(spec, moment) == datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
    assert cron.latest_at_or_before(spec, datetime(2026, 6, 1, 10, 15, tzinfo=UTC)) == datetime(
        2026, 6, 1, 10, 15, tzinfo=UTC
    )
    assert cron.count_between(spec, datetime(2026, 6, 1, 10, 0, tzinfo=UTC), moment.replace(hour=11), 100) == 5
    assert cron.count_between(spec, datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 6, 2, tzinfo=UTC), 10) == 10
    assert cron.is_fire_time(spec, datetime(2026, 6, 1, 10, 45, tzinfo=UTC))
    assert not cron.is_fire_time(spec, datetime(2026, 6, 1, 10, 46, tzinfo=UTC))


def test_the_apscheduler_trigger_asks_the_same_code() -> None:
    trigger = CronExpressionTrigger(cron.parse("30 2 * * *", BERLIN))
    now = datetime(2026, 10, 25, 0, 0, tzinfo=UTC)
    first = trigger.get_next_fire_time(None, now)
    assert first is not None and first.isoformat() == "2026-10-25T02:30:00+02:00"
    second = trigger.get_next_fire_time(first, now)
    assert second is not None and second.isoformat() == "2026-10-26T02:30:00+01:00"


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("*/0 * * * *", "minute: step '0' must be a whole number of at least 1"),
        ("* * * *", "expected 5 fields (minute hour day month weekday), or 6 with seconds first, got 4"),
        ("* * * * * * *", "got 7"),
        ("5-5 * * * *", "single value '5'"),
        ("0 0 * * mon-mon", "single value 'mon'"),
        ("H * * * *", "not supported"),
        ("0 R * * *", "not supported"),
        ("* * 31 2 *", "never fires"),
        ("@reboot", "not supported"),
        ("@every 5m", "unknown macro"),
        ("", "empty"),
        ("   ", "empty"),
        ("x" * 10_000, "longer than 200"),
        ("*\u00a0* * * * *", "may contain only"),
        ("0 0 * * 8", "day of week: 8 is out of range 0-6"),
        ("1,2,,3 * * * *", "minute: '1,2,,3' has an empty value"),
        ("-1 * * * *", "minute: '-1' is not a range"),
        ("0 0 0 0 0", "day of month: 0 is out of range 1-31"),
        ("99999999999999999999 * * * *", "minute: 99999999999999999999 is out of range 0-59"),
        ("61 * * * *", "minute: 61 is out of range 0-59"),
        ("* 24 * * *", "hour: 24 is out of range 0-23"),
        ("* * * 13 *", "month: 13 is out of range 1-12"),
        ("* * * foo *", "month: 'foo' is not a number or name (1-12, jan-dec)"),
        ("* * * * foo", "day of week: 'foo' is not a number or name (0-6, sun-sat)"),
        ("1-70 * * * *", "minute: 70 is out of range 0-59"),
        ("70 * * * * *", "second: 70 is out of range 0-59"),
        ("* * 32W * *", "day of month: 32 is out of range 1-31"),
        ("0 0 * * 5#6", "week of the month must be 1-5"),
        ("* * * * $(reboot)", "may contain only"),
    ],
)
def test_it_rejects_bad_expressions_with_a_reason(expression: str, reason: str) -> None:
    with pytest.raises(cron.CronError) as caught:
        cron.parse(expression, "UTC")
    assert reason in str(caught.value)
    assert caught.value.field == "cron"


@pytest.mark.parametrize("zone", ["Mars/Olympus", "../../etc/passwd", "", "UTC+2", "x" * 100, "/etc/localtime"])
def test_it_rejects_unknown_timezones(zone: str) -> None:
    with pytest.raises(cron.CronError) as caught:
        cron.parse("* * * * *", zone)
    assert caught.value.field == "timezone"


def test_random_junk_only_ever_raises_cron_error() -> None:
    alphabet = [*"0123456789*/,-?#LW ", "mon", "jan", "sun", "l", "h", "r", "w", "@daily", "@x", "7", "60"]
    generator = random.Random(20261123)
    started = time.monotonic()
    accepted = 0
    for _ in range(3000):
        expression = "".join(generator.choice(alphabet) for _ in range(generator.randint(0, 30)))
        try:
            spec = cron.parse(expression, "Europe/Berlin")
        except cron.CronError:
            continue
        accepted += 1
        assert cron.next_after(spec, datetime(2026, 1, 1, tzinfo=UTC)) is not None
    assert accepted > 0
    assert time.monotonic() - started < 20

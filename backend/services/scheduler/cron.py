"""Cron expressions: validation and fire times. The preview and the scheduler both use only this.

croniter (pallets-eco, maintained again; 7.x) does the calendar arithmetic. Around it:

- 5 fields, or 6 with **seconds first** (the Quartz / node-cron / cronstrue order, so the UI's
  plain-English reading matches); the usual macros are expanded here, ``@reboot`` is refused.
- Forms whose croniter 7 meaning differs from classic cron are refused with a reason instead of
  silently firing more often than written: an equal range such as ``5-5`` (croniter reads it as
  the whole cycle), hashed/random ``H``/``R`` values (preview and firing would disagree), and
  croniter's 7-field "year" form.
- DST follows Vixie cron: a wall-clock time skipped by a spring-forward fires once, at the first
  instant after the gap (croniter's behaviour); a time repeated by a fall-back fires once, at its
  first occurrence, when the minute and hour fields are fixed, and on real elapsed time (so in
  both occurrences) when either of them is a wildcard (``*``, ``*/15``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

MAX_EXPRESSION_CHARS = 200
MAX_TIMEZONE_CHARS = 64
MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
FIELD_NAMES_5 = ("minute", "hour", "day of month", "month", "day of week")
FIELD_NAMES_6 = ("second", *FIELD_NAMES_5)
MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


@dataclass(frozen=True)
class FieldRange:
    low: int
    high: int  # the highest value accepted (day of week: 7 is Sunday again, though 0-6 is shown)
    numbers: str  # the range as messages give it
    names: tuple[str, ...] = ()

    @property
    def shown(self) -> str:
        return f"{self.numbers}, {self.names[0]}-{self.names[-1]}" if self.names else self.numbers


FIELD_RANGES = {
    "second": FieldRange(0, 59, "0-59"),
    "minute": FieldRange(0, 59, "0-59"),
    "hour": FieldRange(0, 23, "0-23"),
    "day of month": FieldRange(1, 31, "1-31"),
    "month": FieldRange(1, 12, "1-12", MONTH_NAMES),
    "day of week": FieldRange(0, 7, "0-6", DAY_NAMES),
}
NEAREST_WEEKDAY = re.compile(r"^(\d+)w$")  # day of month "15W"
LAST_WEEKDAY = re.compile(r"^l[0-7]$")  # day of week "L5": the last Friday
ALLOWED_CHARS = re.compile(r"^[0-9A-Za-z*,/?#\- ]+$")
EQUAL_RANGE = re.compile(r"^([0-9a-z]+)-([0-9a-z]+)(/\d+)?$")
HASHED = re.compile(r"^[hr](\(|/|$)")
# A fixed-time expression skips at most a few dozen repeated ticks in one fall-back hour; far
# more means something is wrong, and a bounded loop turns that into an error, not a hang.
MAX_REPEATS_SKIPPED = 10_000
ONE_MICROSECOND = timedelta(microseconds=1)
# croniter raises ValueError subclasses, TypeError (bad ranges) and occasionally others on junk.
CRONITER_ERRORS = (ValueError, TypeError, KeyError, IndexError, OverflowError)


class CronError(ValueError):
    """An expression or timezone that cannot be used; the message says why, for a 422."""

    def __init__(self, message: str, field: str = "cron") -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class CronSpec:
    expression: str  # as written (trimmed)
    fields: str  # what croniter gets: macros expanded
    has_seconds: bool
    fixed_time: bool  # minute and hour are not wildcards: a repeated wall-clock hour fires once
    timezone: str
    tz: ZoneInfo


def parse_timezone(name: str) -> ZoneInfo:
    name = (name or "").strip()
    if not name:
        raise CronError("timezone must not be empty; use an IANA name such as 'Europe/Berlin' or 'UTC'", "timezone")
    if len(name) > MAX_TIMEZONE_CHARS:
        raise CronError(f"timezone is longer than {MAX_TIMEZONE_CHARS} characters", "timezone")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise CronError(
            f"unknown timezone {name!r}; use an IANA name such as 'Europe/Berlin' or 'UTC'", "timezone"
        ) from None


def _check_fields(parts: list[str]) -> None:
    names = FIELD_NAMES_6 if len(parts) == 6 else FIELD_NAMES_5
    for name, part in zip(names, parts, strict=True):
        for item in part.lower().split(","):
            if HASHED.match(item):
                raise CronError(f"{name}: {part!r} uses hashed or random values (H, R), which are not supported")
            match = EQUAL_RANGE.match(item)
            if match:
                low, high = match.group(1), match.group(2)
                same = int(low) == int(high) if low.isdigit() and high.isdigit() else low == high
                if same:
                    raise CronError(f"{name}: write the single value {low!r} instead of the range {item!r}")
            _check_item(name, part, item)


def _check_item(name: str, part: str, item: str) -> None:
    """One comma-separated item of a field: its values within the field's range, a step of 1 or more.

    Forms this does not know (croniter's ``L``, ``W``, ``#``) are left to croniter's own check.
    """
    if item == "":
        raise CronError(f"{name}: {part!r} has an empty value (two commas, or one at an end)")
    base, slash, step = item.partition("/")
    if slash and (not step.isdigit() or int(step) < 1):
        raise CronError(f"{name}: step {step!r} must be a whole number of at least 1")
    if base in ("*", "?"):
        return
    if "-" in base:
        low, _, high = base.partition("-")
        if not low or not high:
            raise CronError(f"{name}: {item!r} is not a range; write it as low-high, e.g. 1-5")
        for value in (low, high):
            _check_value(name, value)
        return
    _check_value(name, base)


def _check_value(name: str, value: str) -> None:
    allowed = FIELD_RANGES[name]
    if name == "day of month" and (value == "l" or NEAREST_WEEKDAY.match(value)):
        value = value[:-1] if value != "l" else ""
        if not value:
            return
    if name == "day of week" and "#" in value:
        value, _, nth = value.partition("#")
        if not nth.isdigit() or not 1 <= int(nth) <= 5:
            raise CronError(f"{name}: in {value}#{nth}, the week of the month must be 1-5")
    if name == "day of week" and LAST_WEEKDAY.match(value):
        return
    if value.isdigit():
        number = int(value)
        if not allowed.low <= number <= allowed.high:
            raise CronError(f"{name}: {number} is out of range {allowed.numbers}")
        return
    if allowed.names and value in allowed.names:
        return
    kind = "a number or name" if allowed.names else "a number"
    raise CronError(f"{name}: {value!r} is not {kind} ({allowed.shown})")


def parse(expression: str, timezone: str) -> CronSpec:
    """Validate an expression in a timezone; raises CronError with a reason a person can act on."""
    tz = parse_timezone(timezone)
    if not isinstance(expression, str) or not expression.strip():
        raise CronError("cron expression must not be empty")
    text = expression.strip()
    if len(text) > MAX_EXPRESSION_CHARS:
        raise CronError(f"cron expression is longer than {MAX_EXPRESSION_CHARS} characters")
    if text.startswith("@"):
        macro = text.lower()
        if macro == "@reboot":
            raise CronError("@reboot is not supported: schedules fire at times, not when the server starts")
        if macro not in MACROS:
            raise CronError(f"unknown macro {text!r}; use one of {', '.join(MACROS)}")
        fields = MACROS[macro]
    else:
        if not ALLOWED_CHARS.match(text):
            raise CronError("cron expression may contain only digits, letters, spaces and * , - / ? #")
        fields = " ".join(text.split())
    parts = fields.split(" ")
    if len(parts) not in (5, 6):
        raise CronError(f"expected 5 fields (minute hour day month weekday), or 6 with seconds first, got {len(parts)}")
    _check_fields(parts)
    has_seconds = len(parts) == 6
    minute, hour = (parts[1], parts[2]) if has_seconds else (parts[0], parts[1])
    spec = CronSpec(
        expression=text,
        fields=fields,
        has_seconds=has_seconds,
        fixed_time=not minute.startswith("*") and not hour.startswith("*"),
        timezone=timezone.strip(),
        tz=tz,
    )
    try:
        croniter(fields, datetime.now(tz), second_at_beginning=has_seconds)
    except CRONITER_ERRORS as error:
        raise CronError(f"invalid cron expression: {_reason(error)}") from None
    if next_after(spec, datetime.now(tz)) is None:
        raise CronError("this expression never fires (no matching date in the next 50 years)")
    return spec


def _reason(error: Exception) -> str:
    text = str(error).strip() or type(error).__name__
    return text[:300]


def _is_second_occurrence(moment: datetime, tz: ZoneInfo) -> bool:
    """True for the later of two instants with the same wall-clock time (a fall-back repeat)."""
    local = moment.astimezone(tz)
    return local.fold == 1 and local.replace(fold=0).utcoffset() != local.replace(fold=1).utcoffset()


def _iterate(spec: CronSpec, start: datetime, backwards: bool) -> Iterator[datetime]:
    it = croniter(spec.fields, start.astimezone(spec.tz), second_at_beginning=spec.has_seconds)
    skipped = 0
    while True:
        try:
            candidate = it.get_prev(datetime) if backwards else it.get_next(datetime)
        except CRONITER_ERRORS:  # croniter's "no date within 50 years", or arithmetic past year 9999
            return
        if spec.fixed_time and _is_second_occurrence(candidate, spec.tz):
            skipped += 1
            if skipped > MAX_REPEATS_SKIPPED:
                return
            continue
        skipped = 0
        yield candidate.astimezone(spec.tz)


def times_after(spec: CronSpec, after: datetime) -> Iterator[datetime]:
    """Fire times strictly after ``after``, in the schedule's zone, in order."""
    return _iterate(spec, after, backwards=False)


def next_after(spec: CronSpec, after: datetime) -> datetime | None:
    return next(times_after(spec, after), None)


def next_times(spec: CronSpec, after: datetime, count: int) -> list[datetime]:
    result = []
    for moment in times_after(spec, after):
        result.append(moment)
        if len(result) >= count:
            break
    return result


def latest_at_or_before(spec: CronSpec, moment: datetime) -> datetime | None:
    return next(_iterate(spec, moment + ONE_MICROSECOND, backwards=True), None)


def same_instant(a: datetime | None, b: datetime | None) -> bool:
    """``==`` for aware datetimes in any zones: Python never finds a time in a repeated (fall-back)
    hour equal to one in another zone (PEP 495), so 02:30 CEST in UTC would not equal itself in Berlin."""
    if a is None or b is None:
        return a is b
    return a.timestamp() == b.timestamp()


def is_fire_time(spec: CronSpec, moment: datetime) -> bool:
    return same_instant(next_after(spec, moment - ONE_MICROSECOND), moment)


def count_between(spec: CronSpec, start: datetime, end: datetime, cap: int) -> int:
    """How many fire times fall in ``[start, end)``, counting at most ``cap``."""
    count = 0
    for moment in times_after(spec, start - ONE_MICROSECOND):
        if moment >= end or count >= cap:
            break
        count += 1
    return count

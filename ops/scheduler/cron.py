"""pg_cron schedules: parse them the way pg_cron does, and compute when they fire.

Its job: one implementation of what a schedule means, shared by the scheduler
(``fmw scheduler run``), ``fmw job next`` and the tests. It must never touch
the database, read the clock, or import APScheduler.

The grammar is pg_cron's (``src/entry.c``, a trimmed Vixie cron parser, and
``TryParseInterval`` in ``src/job_metadata.c``):

* five fields ``minute hour day-of-month month day-of-week`` separated by
  blanks; each field a list of items ``*``, ``*/STEP``, ``N``, ``N-M``,
  ``N-M/STEP``; month and day-of-week also take three-letter names (``jan``…
  ``dec``, ``sun``…``sat``, any case); day-of-week runs 0–7 with 0 and 7 both
  Sunday; a step needs ``*`` or a range before it (``5/15`` is refused, as
  pg_cron refuses it);
* ``$`` as the whole day-of-month field: the last day of the month;
* ``@yearly @annually @monthly @weekly @daily @midnight @hourly``;
* ``N seconds`` (or ``N second``), N from 1 to 59, any case.

Day-of-month and day-of-week follow Vixie cron's rule exactly: when either
field *starts with* ``*`` (so ``*/2`` too) a day must satisfy both; otherwise a
day that satisfies either one matches (``0 0 13 * 5`` is every 13th *and*
every Friday).

Refused although pg_cron would take them, because each is nearly always a
typo that pg_cron silently misreads: text after the fifth field (a six-field
Quartz schedule would lose its meaning), junk after a number that pg_cron
skips (``5; * * * *``), ranges that run backwards (pg_cron turns ``fri-sun``
into an empty set and ``50-3`` into garbage), schedules that can never fire
(``0 0 30 2 *``), a sign before the seconds, comment lines, and ``@reboot``
(FMW runs nothing "at start-up" by schedule). Everything accepted here means
the same in pg_cron, so moving a job to real pg_cron is a copy.

When a schedule fires, in a time zone: pg_cron ≥ 1.6 (``cron.timezone``) looks
at every real minute, converts it to local wall-clock time and runs the job if
that matches. ``CronSchedule.next_after`` computes exactly that set of
instants, so around daylight-saving changes:

* spring forward (a gap): wall-clock times that do not exist never fire — a
  job at 02:30 does not run on the night clocks jump from 02:00 to 03:00;
* fall back (an overlap): wall-clock times that happen twice fire twice — a
  job at 01:30 runs at 01:30 summer time and again at 01:30 standard time.

Zones without daylight saving (UTC, Asia/Seoul) have neither. The jumps
assume a zone changes its UTC offset at most once a day, which holds for every
zone of the tz database from 1970 to 2100 (checked when this was written). One deliberate
departure: pg_cron decides ``$`` by asking whether the instant 24 hours later
falls on the 1st, which on a month-end spring-forward day fires a day early in
the late evening; here ``$`` is simply the calendar's last day of the month.

Why fire times are computed here and handed to APScheduler through a tiny
trigger (``fmw.scheduler.loop.PgCronTrigger``) instead of translated into
APScheduler's own triggers: ``CronTrigger`` numbers weekdays from Monday, ANDs
day-of-month with day-of-week, has no ``$`` and resolves DST gaps and overlaps
its own way. A translation would need an ``OrTrigger`` of two ``CronTrigger``s
per schedule, a weekday renumbering and a proof that APScheduler's DST
behaviour equals pg_cron's — two implementations to keep equal. One function,
tested against croniter and against a minute-by-minute transcription of
pg_cron's ``ShouldRunTask``, is simpler and provably right.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo

from fmw.errors import InvalidScheduleError

SHORTCUTS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
DOW_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
MAX_LENGTH = 999  # pg_cron refuses schedules of 1000 characters or more

# (name, lowest, highest, names numbered from `lowest`)
_FIELDS: tuple[tuple[str, int, int, tuple[str, ...]], ...] = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, MONTH_NAMES),
    ("day of week", 0, 7, DOW_NAMES),
)
_MAX_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)  # February can have 29
_SECONDS = re.compile(r"[ \t]*([0-9]+)[ \t]*second(?:s[ \t]*)?", re.IGNORECASE)
_ALLOWED = re.compile(r"[A-Za-z0-9 \t*,/$@-]*")
_ITEM = re.compile(r"(?:(\*)|([A-Za-z0-9]+)(?:-([A-Za-z0-9]+))?)(?:/([A-Za-z0-9]*))?")
_MINUTE = timedelta(minutes=1)
_DAY = timedelta(days=1)
_HORIZON_YEARS = 401  # a 400-year Gregorian cycle holds every (month, day, weekday)
_FIXED_ZONES = {"UTC", "Etc/UTC", "Etc/UCT", "UCT", "GMT", "Etc/GMT", "Universal", "Zulu"}


@dataclass(frozen=True)
class CronSchedule:
    """A five-field schedule (or a shortcut), as the sets of values it allows."""

    text: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday … 6 = Saturday (7 already folded into 0)
    last_day: bool  # `$`: the last day of the month
    dom_star: bool  # the day-of-month field starts with '*'
    dow_star: bool  # the day-of-week field starts with '*'

    @property
    def every_seconds(self) -> None:
        return None

    def day_matches(self, day: date) -> bool:
        """Vixie cron's day rule: both fields when either starts with '*', else either."""
        dom = day.day in self.days or (
            self.last_day and day.day == calendar.monthrange(day.year, day.month)[1]
        )
        dow = day.isoweekday() % 7 in self.weekdays
        return (dom and dow) if (self.dom_star or self.dow_star) else (dom or dow)

    def matches(self, wall: datetime) -> bool:
        """Whether the wall-clock minute ``wall`` (naive, local) is one this schedule fires in."""
        return (
            wall.minute in self.minutes
            and wall.hour in self.hours
            and wall.month in self.months
            and self.day_matches(wall.date())
        )

    def next_wall_time(self, wall: datetime) -> datetime | None:
        """The first matching wall-clock minute strictly after ``wall`` (naive)."""
        moment = wall.replace(second=0, microsecond=0) + _MINUTE
        last_year = wall.year + _HORIZON_YEARS
        while moment.year <= last_year:
            if moment.month not in self.months:
                year, month = divmod(moment.year * 12 + moment.month, 12)  # the next month
                moment = datetime(year, month + 1, 1)
            elif not self.day_matches(moment.date()):
                moment = datetime(moment.year, moment.month, moment.day) + _DAY
            elif moment.hour not in self.hours:
                later = [h for h in self.hours if h > moment.hour]
                day_start = datetime(moment.year, moment.month, moment.day)
                moment = day_start + (timedelta(hours=min(later)) if later else _DAY)
            elif moment.minute not in self.minutes:
                later = [m for m in self.minutes if m > moment.minute]
                hour_start = moment.replace(minute=0)
                moment = hour_start + (
                    timedelta(minutes=min(later)) if later else timedelta(hours=1)
                )
            else:
                return moment
        return None

    def next_after(self, after: datetime, zone: tzinfo) -> datetime | None:
        """The first instant (UTC) strictly after ``after`` at which the schedule fires in ``zone``.

        Walks real UTC minutes the way pg_cron does, but jumps straight to the next
        matching wall-clock minute whenever the zone's UTC offset stays the same on
        the way (jumps are cut at one day and at every offset change, so a DST gap
        or overlap is never jumped over). None when it never fires again within
        400 years (parse_schedule refuses such schedules).
        """
        instant = _next_minute(after)
        fixed = _is_fixed(zone)
        last_year = instant.year + _HORIZON_YEARS
        base: datetime | None = None  # no match in (base, target): target can be reused
        target: datetime | None = None
        while instant.year <= last_year:
            local = instant.astimezone(zone)
            wall = local.replace(tzinfo=None, second=0, microsecond=0)
            if self.matches(wall):
                return instant
            if base is None or target is None or not base <= wall < target:
                base, target = wall, self.next_wall_time(wall)
            if target is None:
                return None
            jump = target - wall
            if fixed:
                instant += jump
                continue
            candidate = instant + min(jump, _DAY)
            offset = local.utcoffset()
            instant = (
                candidate
                if candidate.astimezone(zone).utcoffset() == offset
                else _first_offset_change(instant, candidate, zone, offset)
            )
        return None


@dataclass(frozen=True)
class IntervalSchedule:
    """``N seconds``: every N seconds, counted from the previous start (pg_cron's rule)."""

    text: str
    seconds: int

    @property
    def every_seconds(self) -> int:
        return self.seconds

    def next_after(self, after: datetime, zone: tzinfo) -> datetime:
        """``after`` plus the interval (the zone does not matter)."""
        return (after + timedelta(seconds=self.seconds)).astimezone(UTC)


Schedule = CronSchedule | IntervalSchedule


def _next_minute(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("fire times need an aware datetime (with a time zone)")
    utc = moment.astimezone(UTC)
    return utc.replace(second=0, microsecond=0) + _MINUTE


def _is_fixed(zone: tzinfo) -> bool:
    if isinstance(zone, timezone):
        return True
    key = getattr(zone, "key", None)
    return key in _FIXED_ZONES or (isinstance(key, str) and key.startswith("Etc/GMT"))


def _first_offset_change(
    start: datetime, end: datetime, zone: tzinfo, offset: timedelta | None
) -> datetime:
    """The first whole minute in (start, end] whose UTC offset in ``zone`` is not ``offset``."""
    low, high = start, end
    while high - low > _MINUTE:
        middle = low + (high - low) // 2
        middle = middle.replace(second=0, microsecond=0)
        if middle <= low:
            middle = low + _MINUTE
        if middle.astimezone(zone).utcoffset() == offset:
            low = middle
        else:
            high = middle
    return high


def fire_times(schedule: Schedule, after: datetime, zone: tzinfo, count: int) -> list[datetime]:
    """The next ``count`` fire times strictly after ``after``, in ``zone``.

    For ``N seconds`` they are ``after`` + N, + 2N, …: pg_cron counts the
    interval from each start, so the answer assumes a run starts at ``after``.
    """
    times: list[datetime] = []
    moment = after
    while len(times) < count:
        nxt = schedule.next_after(moment, zone)
        if nxt is None:
            break
        times.append(nxt.astimezone(zone))
        moment = nxt
    return times


# ---------------------------------------------------------------------------- parsing


def schedule_problem(text: str) -> str | None:
    """Why ``text`` is not a schedule FMW accepts (parse_schedule's reason), or None.

    The same verdicts and reasons, word for word, come from the SQL function
    ``ops.schedule_problem``: tests/integration/test_jobs_sql.py feeds both the corpus
    in tests/support/cron_corpus.py and generated schedules.
    """
    try:
        parse_schedule(text)
    except InvalidScheduleError as exc:
        return exc.reason
    return None


def parse_schedule(text: str) -> Schedule:
    """Parse a pg_cron schedule; raise InvalidScheduleError naming what is wrong."""
    if not isinstance(text, str):
        raise InvalidScheduleError(repr(text), "a schedule is text")
    if len(text) > MAX_LENGTH:
        raise InvalidScheduleError(text, f"it is longer than {MAX_LENGTH} characters")
    seconds = _SECONDS.fullmatch(text)
    if seconds:
        value = int(seconds.group(1))
        if not 1 <= value <= 59:
            raise InvalidScheduleError(
                text,
                f"{value} seconds: an interval runs from 1 to 59 seconds "
                "(use a cron schedule such as */5 * * * * for longer ones)",
            )
        return IntervalSchedule(text, value)
    bad = _ALLOWED.fullmatch(text)
    if bad is None:
        char = next(c for c in text if not _ALLOWED.fullmatch(c))
        code = ord(char)
        shown = f"U+{code:04X}" if code < 0x20 or 0x7F <= code < 0xA0 else f"'{char}'"
        raise InvalidScheduleError(text, f"unexpected character {shown}")
    words = text.split()
    if not words:
        raise InvalidScheduleError(text, "it is empty")
    if words[0].startswith("@"):
        return _parse_shortcut(text, words)
    if len(words) != 5:
        raise InvalidScheduleError(
            text,
            "a cron schedule has 5 fields (minute hour day-of-month month day-of-week), "
            f"this one has {len(words)}",
        )
    return _parse_fields(text, words)


def _parse_shortcut(text: str, words: list[str]) -> CronSchedule:
    name = words[0]
    if name in ("@reboot", "@restart"):
        raise InvalidScheduleError(
            text, f"{name} is not supported: FMW's scheduler runs jobs by time only"
        )
    if name not in SHORTCUTS:
        raise InvalidScheduleError(
            text,
            f"unknown shortcut {name}: use @yearly, @annually, @monthly, @weekly, "
            "@daily, @midnight or @hourly",
        )
    if len(words) > 1:
        raise InvalidScheduleError(text, f"nothing may follow {name}")
    parsed = _parse_fields(text, SHORTCUTS[name].split())
    return parsed


def _parse_fields(text: str, words: list[str]) -> CronSchedule:
    sets: list[frozenset[int]] = []
    last_day = False
    for index, (word, (name, low, high, names)) in enumerate(zip(words, _FIELDS, strict=True)):
        if index == 2 and word == "$":
            last_day = True
            sets.append(frozenset())
            continue
        sets.append(_parse_field(text, word, name, low, high, names))
    minutes, hours, days, months, weekdays = sets
    if 7 in weekdays:
        weekdays = (weekdays - {7}) | {0}
    dom_star, dow_star = words[2].startswith("*"), words[4].startswith("*")
    schedule = CronSchedule(
        text, minutes, hours, days, months, weekdays, last_day, dom_star, dow_star
    )
    if (dom_star or dow_star) and not last_day:
        possible = any(day <= _MAX_DAYS[month - 1] for month in months for day in days)
        if not possible:
            raise InvalidScheduleError(
                text, "it never fires: none of its months has the days of month it names"
            )
    return schedule


def _parse_field(
    text: str, word: str, name: str, low: int, high: int, names: tuple[str, ...]
) -> frozenset[int]:
    values: set[int] = set()
    for item in word.split(","):
        if "$" in item:
            raise InvalidScheduleError(
                text, "$ (the last day of the month) must be the whole day-of-month field"
            )
        if "@" in item:
            raise InvalidScheduleError(text, "a shortcut such as @daily must be the whole schedule")
        if not item:
            raise InvalidScheduleError(text, f"{name}: empty list item in {word!r}")
        match = _ITEM.fullmatch(item)
        if match is None:
            raise InvalidScheduleError(text, f"{name}: cannot read {item!r}")
        star, first, last, step_text = match.groups()
        if star:
            start, stop = low, high
        else:
            start = _value(text, first, name, low, high, names)
            stop = start if last is None else _value(text, last, name, low, high, names)
            if step_text is not None and last is None:
                raise InvalidScheduleError(
                    text,
                    f"{name}: a step needs a range or * before it "
                    f"(write {first}-{high}/{step_text}, not {item})",
                )
            if stop < start:
                raise InvalidScheduleError(text, f"{name}: the range {item} runs backwards")
        step = 1
        if step_text is not None:
            if not step_text.isdigit() or int(step_text) < 1:
                raise InvalidScheduleError(
                    text, f"{name}: the step in {item!r} must be a whole number of 1 or more"
                )
            step = int(step_text)
        values.update(range(start, stop + 1, step))
    return frozenset(values)


def _value(text: str, word: str, name: str, low: int, high: int, names: tuple[str, ...]) -> int:
    if word.isdigit():
        number = int(word)
        if not low <= number <= high:
            raise InvalidScheduleError(text, f"{name}: {number} is out of range {low}-{high}")
        return number
    if names and word.lower() in names:
        return names.index(word.lower()) + low
    what = f"a number or a name ({names[0]}-{names[-1]})" if names else "a number"
    raise InvalidScheduleError(text, f"{name}: {word!r} is not {what}")

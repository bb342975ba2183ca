"""pg_cron schedules: the grammar pg_cron accepts and refuses, and fire times proved against
croniter (an independent implementation) and a transcription of pg_cron's own minute check."""

from __future__ import annotations

import calendar
import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fmw.errors import InvalidScheduleError
from fmw.scheduler.cron import CronSchedule, IntervalSchedule, fire_times, parse_schedule
from tests.support import cron_corpus
from tests.support.cron_strategies import field, schedules

SEOUL = ZoneInfo("Asia/Seoul")  # a real zone without daylight saving (since 1988)
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
TRICKY = [
    "0 0 13 * 5",  # the 13th OR a Friday
    "*/15 9-17 * * 1-5",
    "0 0 * * 7",  # 7 is Sunday
    "0 0 $ * *",  # last day of the month
    "30 2 29 2 *",  # leap days only
    "0 12 * * sun,sat",
    "0 0 */2 * 1",  # '*' first: odd days AND Mondays
    "0 0 1-7 * */2",
    "@yearly",
    "@weekly",
    "@hourly",
    "5,35 */6 1,15 jan-mar,oct *",
    "0 0 * * mon-fri",
    "59 23 31 dec *",
]


def croniter_times(text: str, start: datetime, zone: ZoneInfo | None, count: int) -> list[datetime]:
    """croniter's answer for what pg_cron means by ``text``.

    Three translations state pg_cron's rules in croniter's terms: `$` is croniter's
    `L`; Vixie cron ANDs the day fields when either starts with '*' (croniter
    decides that by its day_or flag); and when they are ORed and one of them allows
    every day (``0,*``, ``0-7``), every day matches (croniter would AND again).
    """
    if text.startswith("@"):
        text = {"@yearly": "0 0 1 1 *", "@weekly": "0 0 * * 0", "@hourly": "0 * * * *"}[text]
    fields = text.split()
    day_or = not (fields[2].startswith("*") or fields[4].startswith("*"))
    parsed = parse_schedule(text)
    assert isinstance(parsed, CronSchedule)
    if day_or and (len(parsed.weekdays) == 7 or len(parsed.days) == 31):
        fields[2] = fields[4] = "*"  # ORed with a field that allows every day: every day
    fields[2] = fields[2].replace("$", "L")
    # croniter mis-reads a one-value range such as 1-1 (it answers 00:00 for hour 1-1)
    fields = [",".join(_one_value(item) for item in f.split(",")) for f in fields]
    it = croniter(" ".join(fields), start.astimezone(zone or UTC), day_or=day_or)
    return [it.get_next(datetime).astimezone(UTC) for _ in range(count)]


def _one_value(item: str) -> str:
    head, _, _step = item.partition("/")
    low, dash, high = head.partition("-")
    return low if dash and low.lower() == high.lower() else item


def ours(text: str, start: datetime, zone: ZoneInfo, count: int) -> list[datetime]:
    return [t.astimezone(UTC) for t in fire_times(parse_schedule(text), start, zone, count)]


def pg_cron_minutes(
    schedule: CronSchedule, start: datetime, zone: ZoneInfo, count: int, limit: timedelta
) -> list[datetime]:
    """pg_cron's loop, transcribed: every UTC minute after ``start``, converted to local time,
    runs the job when minute, hour, month and the day rule match (ShouldRunTask)."""
    found = []
    minute = start.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
    end = start + limit
    while len(found) < count and minute <= end:
        local = minute.astimezone(zone)
        last_day = calendar.monthrange(local.year, local.month)[1]
        dom = local.day in schedule.days or (schedule.last_day and local.day == last_day)
        dow = local.isoweekday() % 7 in schedule.weekdays
        day_ok = (dom and dow) if (schedule.dom_star or schedule.dow_star) else (dom or dow)
        if (
            local.minute in schedule.minutes
            and local.hour in schedule.hours
            and local.month in schedule.months
            and day_ok
        ):
            found.append(minute)
        minute += timedelta(minutes=1)
    return found


# --- fixed cases ---------------------------------------------------------------------------


@pytest.mark.parametrize("text", TRICKY)
def test_tricky_schedules_fire_when_croniter_says_in_utc(text: str):
    start = datetime(2023, 12, 30, 22, 17, tzinfo=UTC)
    assert ours(text, start, ZoneInfo("UTC"), 12) == croniter_times(text, start, None, 12)


@pytest.mark.parametrize("text", TRICKY)
def test_tricky_schedules_fire_when_croniter_says_in_seoul(text: str):
    start = datetime(2024, 2, 27, 5, 3, tzinfo=SEOUL)
    assert ours(text, start, SEOUL, 12) == croniter_times(text, start, SEOUL, 12)


def test_day_of_month_and_day_of_week_are_ored_when_both_are_restricted():
    times = fire_times(parse_schedule("0 0 13 * 5"), datetime(2024, 9, 1, tzinfo=UTC), UTC, 4)
    assert [t.day for t in times] == [6, 13, 20, 27]  # Fridays, and Friday the 13th once


def test_seven_and_zero_are_both_sunday():
    start = datetime(2024, 1, 1, tzinfo=UTC)
    sevens = fire_times(parse_schedule("0 0 * * 7"), start, UTC, 3)
    zeros = fire_times(parse_schedule("0 0 * * 0"), start, UTC, 3)
    assert sevens == zeros and {t.isoweekday() for t in sevens} == {7}


def test_dollar_is_the_last_day_of_each_month():
    times = fire_times(parse_schedule("0 0 $ * *"), datetime(2024, 1, 15, tzinfo=UTC), UTC, 3)
    assert [t.date().isoformat() for t in times] == ["2024-01-31", "2024-02-29", "2024-03-31"]


def test_dollar_with_a_weekday_is_either_one():
    times = fire_times(parse_schedule("0 0 $ * 1"), datetime(2024, 1, 27, tzinfo=UTC), UTC, 3)
    assert [t.day for t in times] == [29, 31, 5]  # Monday 29th, last day 31st, Monday 5th


def test_a_leap_day_schedule_skips_common_years():
    times = fire_times(parse_schedule("30 2 29 2 *"), datetime(2024, 3, 1, tzinfo=UTC), UTC, 2)
    assert [t.year for t in times] == [2028, 2032]


def test_seconds_fire_every_n_seconds_after_the_start():
    start = datetime(2024, 1, 1, 0, 0, 7, tzinfo=UTC)
    times = fire_times(parse_schedule("20 seconds"), start, UTC, 3)
    assert [t.second for t in times] == [27, 47, 7]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("@yearly", "0 0 1 1 *"),
        ("@annually", "0 0 1 1 *"),
        ("@monthly", "0 0 1 * *"),
        ("@weekly", "0 0 * * 0"),
        ("@daily", "0 0 * * *"),
        ("@midnight", "0 0 * * *"),
        ("@hourly", "0 * * * *"),
    ],
)
def test_shortcuts_mean_their_five_field_forms(text: str, expected: str):
    start = datetime(2024, 5, 17, 13, 45, tzinfo=UTC)
    assert ours(text, start, UTC, 5) == ours(expected, start, UTC, 5)


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("5 seconds", IntervalSchedule, 5),
        ("1 second", IntervalSchedule, 1),
        ("  59 SECONDS  ", IntervalSchedule, 59),
        ("7seconds", IntervalSchedule, 7),
        (" 0 6 * * * ", CronSchedule, None),
        ("0 6 * JAN Mon", CronSchedule, None),
    ],
)
def test_forms_pg_cron_accepts_are_accepted(text: str, kind: type, value: int | None):
    parsed = parse_schedule(text)
    assert isinstance(parsed, kind)
    if value is not None:
        assert parsed.every_seconds == value


@pytest.mark.parametrize("text", cron_corpus.VALID)
def test_valid_schedules_of_the_shared_corpus_parse(text: str):
    assert parse_schedule(text).text == text


@pytest.mark.parametrize(("text", "reason"), cron_corpus.INVALID)
def test_invalid_schedules_are_refused_with_the_reason(text: str, reason: str):
    with pytest.raises(InvalidScheduleError) as caught:
        parse_schedule(text)
    assert reason in caught.value.reason
    assert str(caught.value).startswith(f"invalid schedule {text!r}: ")


# --- time zones ----------------------------------------------------------------------------


def test_a_wall_clock_time_in_the_spring_forward_gap_does_not_fire():
    start = datetime(2024, 3, 30, 12, 0, tzinfo=BERLIN)
    times = fire_times(parse_schedule("30 2 * * *"), start, BERLIN, 2)
    assert [t.isoformat() for t in times] == [
        "2024-04-01T02:30:00+02:00",  # 2024-03-31 02:30 never happened in Berlin
        "2024-04-02T02:30:00+02:00",
    ]


def test_a_wall_clock_time_in_the_fall_back_overlap_fires_twice():
    start = datetime(2024, 10, 26, 12, 0, tzinfo=BERLIN)
    times = fire_times(parse_schedule("30 2 * * *"), start, BERLIN, 3)
    assert [t.astimezone(UTC).isoformat() for t in times] == [
        "2024-10-27T00:30:00+00:00",  # 02:30 summer time
        "2024-10-27T01:30:00+00:00",  # 02:30 standard time
        "2024-10-28T01:30:00+00:00",
    ]


def test_a_frequent_schedule_keeps_real_time_spacing_through_the_overlap():
    start = datetime(2024, 11, 3, 0, 50, tzinfo=NEW_YORK)
    times = [
        t.astimezone(UTC) for t in fire_times(parse_schedule("*/30 * * * *"), start, NEW_YORK, 5)
    ]
    gaps = {b - a for a, b in itertools.pairwise(times)}
    assert gaps == {timedelta(minutes=30)}


@pytest.mark.parametrize("zone", [BERLIN, NEW_YORK, ZoneInfo("Australia/Lord_Howe")])
@pytest.mark.parametrize(
    "start",
    [
        datetime(2024, 3, 9, 18, 0, tzinfo=UTC),
        datetime(2024, 3, 30, 18, 0, tzinfo=UTC),
        datetime(2024, 4, 6, 10, 0, tzinfo=UTC),
        datetime(2024, 10, 5, 10, 0, tzinfo=UTC),
        datetime(2024, 10, 26, 18, 0, tzinfo=UTC),
        datetime(2024, 11, 2, 18, 0, tzinfo=UTC),
    ],
)
@pytest.mark.parametrize("text", ["30 2 * * *", "*/20 1-3 * * *", "0 * * * *", "45 1 $ * *"])
def test_dst_transitions_match_pg_cron_minute_by_minute(text: str, start: datetime, zone: ZoneInfo):
    schedule = parse_schedule(text)
    assert isinstance(schedule, CronSchedule)
    expected = pg_cron_minutes(schedule, start, zone, 6, timedelta(days=40))
    assert ours(text, start, zone, len(expected)) == expected


# --- properties ----------------------------------------------------------------------------


starts = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC)
)


def _valid(text: str) -> bool:
    try:
        parse_schedule(text)
    except InvalidScheduleError:
        return False
    return True


def _croniter_can_judge(text: str) -> bool:
    """croniter gets `L` wrong when ORed with a weekday; those go to the pg_cron oracle."""
    fields = text.split()
    return not (fields[2] == "$" and not fields[4].startswith("*"))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schedules.filter(_valid).filter(_croniter_can_judge), starts)
def test_generated_schedules_fire_when_croniter_says(text: str, start: datetime):
    assert ours(text, start, ZoneInfo("UTC"), 6) == croniter_times(text, start, None, 6)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schedules.filter(_valid).filter(_croniter_can_judge), starts)
def test_generated_schedules_fire_when_croniter_says_in_seoul(text: str, start: datetime):
    assert ours(text, start, SEOUL, 4) == croniter_times(text, start, SEOUL, 4)


frequent = st.tuples(
    field(0, 59),
    field(0, 23),
    st.sampled_from(["*", "$", "1-15", "*/3"]),
    st.just("*"),
    st.sampled_from(["*", "1-5", "sun", "0,6"]),
).map(" ".join)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    frequent.filter(_valid),
    st.sampled_from(
        [
            datetime(2024, 3, 9, 20, tzinfo=UTC),
            datetime(2024, 3, 30, 20, tzinfo=UTC),
            datetime(2024, 10, 26, 20, tzinfo=UTC),
            datetime(2024, 11, 2, 20, tzinfo=UTC),
            datetime(2024, 1, 30, 20, tzinfo=UTC),
        ]
    ),
    st.sampled_from([BERLIN, NEW_YORK]),
)
def test_generated_schedules_match_pg_cron_minute_by_minute_around_dst(
    text: str, start: datetime, zone: ZoneInfo
):
    schedule = parse_schedule(text)
    assert isinstance(schedule, CronSchedule)
    expected = pg_cron_minutes(schedule, start, zone, 4, timedelta(days=3))
    assert ours(text, start, zone, len(expected)) == expected


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="0123456789*/,-$@ abcdefghijklmnopqrstuvwxyz\t", max_size=30))
def test_any_text_either_parses_or_is_refused_with_a_reason(text: str):
    try:
        parse_schedule(text)
    except InvalidScheduleError as exc:
        assert exc.reason

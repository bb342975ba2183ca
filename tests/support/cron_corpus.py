"""One corpus of pg_cron schedules, valid and invalid, for both implementations of the grammar.

``fmw.scheduler.cron.parse_schedule`` (Python: the scheduler, ``fmw job next``) and the SQL
function ``ops.schedule_problem`` (the CHECK on ``ops.job.schedule``) implement pg_cron's
grammar twice. ``tests/unit/test_cron.py`` checks Python's reasons against this corpus;
``tests/integration/test_jobs_sql.py`` feeds every entry to both and requires the same
verdict and, for an invalid schedule, the same reason word for word.
"""

from __future__ import annotations

VALID: tuple[str, ...] = (
    # the default jobs (migration 000002)
    "0 6 * * *",
    "30 23 * * *",
    "0 5 * * 0",
    "15 0 * * *",
    # five fields: names, ranges, steps, lists, blanks
    "* * * * *",
    "*/5 * * * *",
    "*/100 * * * *",
    "0,30 8-18/2 * jan-mar,Dec Mon-Fri",
    "0 6 * JAN Mon",
    " 0 6 * * * ",
    "0\t6\t*\t*\t*",
    "59 23 31 12 7",
    "0 0 * * 7",
    "0 0 * * sun,sat",
    "0 0 13 * 5",
    "0 0 30 2 1",  # day of month OR day of week: every Monday in February
    "0 0 29 2 *",  # leap years only, but it fires
    "0 0 31 1-12 *",
    "0 0 $ * *",
    "0 12 $ * 1-5",
    # shortcuts
    "@yearly",
    "@annually",
    "@monthly",
    "@weekly",
    "@daily",
    "@midnight",
    "@hourly",
    " @daily ",
    # intervals
    "5 seconds",
    "1 second",
    "  59 SECONDS  ",
    "7seconds",
)

# (schedule, a part of the reason both implementations give)
INVALID: tuple[tuple[str, str], ...] = (
    # refused by pg_cron too
    ("61 * * * *", "minute: 61 is out of range 0-59"),
    ("* 24 * * *", "hour: 24 is out of range 0-23"),
    ("* * 0 * *", "day of month: 0 is out of range 1-31"),
    ("* * * 13 *", "month: 13 is out of range 1-12"),
    ("* * * * 8", "day of week: 8 is out of range 0-7"),
    ("5/15 * * * *", "a step needs a range or * before it (write 5-59/15, not 5/15)"),
    ("0 0 * * 1/2", "day of week: a step needs a range or * before it"),
    ("*/0 * * * *", "the step in '*/0' must be a whole number of 1 or more"),
    ("*/x * * * *", "the step in '*/x' must be a whole number of 1 or more"),
    ("* * * * *extra", "day of week: cannot read '*extra'"),
    ("1,,2 * * * *", "minute: empty list item in '1,,2'"),
    ("* * * *", "has 5 fields"),
    ("60 seconds", "an interval runs from 1 to 59 seconds"),
    ("0 seconds", "an interval runs from 1 to 59 seconds"),
    ("5 second ", "has 5 fields"),  # pg_cron's sscanf refuses the trailing blank too
    ("@DAILY", "unknown shortcut @DAILY"),
    ("@fortnightly", "unknown shortcut"),
    ("0 0 * * monday", "day of week: 'monday' is not a number or a name (sun-sat)"),
    ("0 0 jan * *", "day of month: 'jan' is not a number"),
    ("0 0 $,1 * *", "$ (the last day of the month) must be the whole day-of-month field"),
    ("0 $ * * *", "$ (the last day of the month) must be the whole day-of-month field"),
    ("0 0 * @daily *", "a shortcut such as @daily must be the whole schedule"),
    ("", "it is empty"),
    ("   ", "it is empty"),
    ("x" * 1000, "longer than 999 characters"),
    # accepted by pg_cron, refused here (see fmw.scheduler.cron's docstring)
    ("0 0 * * * *", "has 5 fields"),
    ("5; * * * *", "unexpected character ';'"),
    ("0 0 * * fri-sun", "the range fri-sun runs backwards"),
    ("50-3 * * * *", "the range 50-3 runs backwards"),
    ("0 0 30 2 *", "it never fires"),
    ("0 0 31 4,6,9,11 *", "it never fires"),
    ("@reboot", "@reboot is not supported"),
    ("@restart", "@restart is not supported"),
    ("@daily at six", "nothing may follow @daily"),
    ("+5 seconds", "unexpected character '+'"),
    ("# comment\n0 0 * * *", "unexpected character '#'"),
    ("0 0 * * 0\n", "unexpected character U+000A"),
    ("0 0 * * 0\u0085", "unexpected character U+0085"),
    ("0 0 1 * 월", "unexpected character '월'"),
)

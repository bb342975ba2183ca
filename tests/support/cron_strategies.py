"""Hypothesis strategies for pg_cron schedules: five fields of items, names, ranges and steps.

Shared by the Python scheduler's tests and the SQL grammar's tests, so both are
fed the same kind of schedules.
"""

from __future__ import annotations

from hypothesis import strategies as st


def _value(low: int, high: int, names: tuple[str, ...]) -> st.SearchStrategy[str]:
    numbers = st.integers(low, high).map(str)
    if not names:
        return numbers
    return st.one_of(numbers, st.sampled_from(names).map(lambda n: n.capitalize()))


def _item(low: int, high: int, names: tuple[str, ...] = ()) -> st.SearchStrategy[str]:
    def ranged(pair: tuple[int, int], step: int | None) -> str:
        a, b = sorted(pair)
        text = f"{a}-{b}"
        return text + (f"/{step}" if step else "")

    return st.one_of(
        st.just("*"),
        st.integers(1, high - low + 1).map(lambda s: f"*/{s}"),
        _value(low, high, names),
        st.builds(
            ranged,
            st.tuples(st.integers(low, high), st.integers(low, high)),
            st.one_of(st.none(), st.integers(1, 10)),
        ),
    )


def field(low: int, high: int, names: tuple[str, ...] = ()) -> st.SearchStrategy[str]:
    return st.lists(_item(low, high, names), min_size=1, max_size=3).map(",".join)


MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")

schedules = st.tuples(
    field(0, 59),
    field(0, 23),
    st.one_of(field(1, 31), st.just("$")),
    field(1, 12, MONTHS),
    field(0, 7, DAYS),
).map(" ".join)

# Items that are wrong in some field (or in every field): out of range, backwards, a bad
# step, an empty list item, a misplaced $ or shortcut, a name where a number belongs.
BROKEN_ITEMS = (
    "60",
    "99999999999999999999",
    "7-3",
    "fri-sun",
    "*/0",
    "*/x",
    "5/15",
    "1,,2",
    "2-",
    "x",
    "$",
    "$,1",
    "@daily",
    "jan",
    "monday",
    "",
)


def _break(text: str, index: int, item: str) -> str:
    words = text.split(" ")
    words[index] = item
    return " ".join(words)


near_misses = st.builds(_break, schedules, st.integers(0, 4), st.sampled_from(BROKEN_ITEMS))
"""A generated schedule with one field replaced by a likely mistake (some stay valid)."""

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

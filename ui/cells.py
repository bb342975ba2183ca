"""The CSV-injection guard, both ways, for one cell or a whole Arrow column.

Its job: snapshot CSV files carry text cells through ``snapshot.csv_safe`` (a
cell starting with ``= + - @``, tab, CR or LF gets a leading apostrophe, so
Excel never runs it as a formula). The dashboard shows people the real value
(``unguard``) and puts the guard back on every file it lets them download
(``guard``), so a download is exactly as safe as the exported files.

One ambiguity is accepted: a real value that itself starts with an apostrophe
followed by one of those characters (``'=x``) is shown without its apostrophe.

This module must never import Streamlit, psycopg or SQLAlchemy.
"""

from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.compute as pc

TRIGGERS = "-=+@\t\r\n"
"""First characters that spreadsheet programs may read as the start of a formula."""

_GUARDED = re.compile("^'[" + re.escape(TRIGGERS) + "]")
_RE2_NEEDS_GUARD = "^[-=+@\\t\\r\\n]"
_RE2_GUARDED = "^'[-=+@\\t\\r\\n]"


def guard(value: str | None) -> str | None:
    """``snapshot.csv_safe`` in Python: a leading apostrophe before a formula trigger."""
    if value and value[0] in TRIGGERS:
        return "'" + value
    return value


def unguard(value: str | None) -> str | None:
    """The value a guarded cell stands for (the apostrophe ``guard`` added, removed)."""
    if value and _GUARDED.match(value):
        return value[1:]
    return value


def guard_array(values: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """``guard`` of every cell of a string column."""
    needs = pc.fill_null(pc.match_substring_regex(values, _RE2_NEEDS_GUARD), False)
    return pc.if_else(needs, pc.binary_join_element_wise("'", values, ""), values)


def unguard_array(values: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """``unguard`` of every cell of a string column."""
    guarded = pc.fill_null(pc.match_substring_regex(values, _RE2_GUARDED), False)
    return pc.if_else(guarded, pc.utf8_slice_codeunits(values, 1), values)

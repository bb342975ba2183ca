"""Search text normalized exactly the way the database normalizes keys.

Its job: turn the text a user types, and the snapshot's text columns, into the
same *search key*, so a search is case-, width-, space- and Unicode-form-
insensitive the way ``core.key_part`` is (docs/identity-hash.md):

* ``key_part(value)`` equals ``core.key_part`` (zero-width and non-white-space
  control characters removed, NFKC, runs of an explicit white-space set
  collapsed to one space, trimmed, A-Z lower-cased; ``None`` and blank become
  ``""``); a test compares the two on the embedded server and on PostgreSQL 15.
* ``search_key(value)`` is ``key_part`` with the spaces removed as well (like
  ``core.status_key``), so "결제기능" finds "결제 기능" and the other way round.
* ``search_key_array(array)`` computes ``search_key`` for a whole Arrow column
  at C++ speed (pyarrow.compute); a test checks it against ``search_key``.
* ``code_key(value)`` is ``search_key`` with every character that is not a
  letter or a digit removed as well, so a code matches with or without its
  separators: ``pay013``, ``PAY-013`` and ``ＰＡＹ－０１３`` all give ``pay013``
  (``code_key_array`` for a column, checked against it by a test).

Queries and snapshot columns must go through these functions and nothing else,
or a search would silently miss rows. This module must never import Streamlit,
psycopg or SQLAlchemy, and never lower-case beyond A-Z (the database does not).
"""

from __future__ import annotations

import re
import unicodedata

import pyarrow as pa
import pyarrow.compute as pc

ZERO_WIDTH = "\u200b\u200c\u200d\ufeff"
CONTROLS = "".join(map(chr, [*range(0x01, 0x09), *range(0x0E, 0x20), 0x7F]))
REMOVED = ZERO_WIDTH + CONTROLS
"""Removed before anything else (as in core.removed_characters()): zero-width characters
and the control characters that are not white space."""

WHITESPACE = " \t\n\v\f\r\u0085\u1680\u2028\u2029"
"""The only characters whose runs collapse to one space (after NFKC), as in core.norm_text."""

_REMOVED_TABLE = dict.fromkeys(map(ord, REMOVED))
_WHITESPACE_RUN = re.compile("[" + re.escape(WHITESPACE) + "]+")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
# RE2 (Arrow's regex engine) spelling of the same two character sets.
_RE2_REMOVED = "[\\x{200B}\\x{200C}\\x{200D}\\x{FEFF}\\x{01}-\\x{08}\\x{0E}-\\x{1F}\\x{7F}]"
_RE2_WHITESPACE = "[ \\t\\n\\x{0B}\\f\\r\\x{85}\\x{1680}\\x{2028}\\x{2029}]+"
_RE2_NOT_ALNUM = "[^\\p{L}\\p{N}]"


def key_part(value: str | None) -> str:
    """``core.key_part``: the database's normalized form of one text; None/blank give ""."""
    if value is None:
        return ""
    text = unicodedata.normalize("NFKC", value.translate(_REMOVED_TABLE))
    return _WHITESPACE_RUN.sub(" ", text).strip(" ").translate(_ASCII_LOWER)


def search_key(value: str | None) -> str:
    """``key_part`` without any space: what search compares (Korean substrings included)."""
    return key_part(value).replace(" ", "")


def search_terms(query: str | None) -> list[str]:
    """The terms of a typed query: split at white space, each as a ``search_key``.

    A row matches when every term is a substring of one of its searched fields.
    Empty terms are dropped (control characters are removed, as the database does).
    """
    if not query:
        return []
    normalized = unicodedata.normalize("NFKC", query.translate(_REMOVED_TABLE))
    terms = (search_key(part) for part in _WHITESPACE_RUN.split(normalized))
    return [term for term in terms if term]


def search_key_array(values: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """``search_key`` of every cell of a string column, vectorized; nulls become ""."""
    text = pc.replace_substring_regex(values, _RE2_REMOVED, "")
    text = pc.utf8_normalize(text, "NFKC")
    text = pc.replace_substring_regex(text, _RE2_WHITESPACE, "")
    return pc.fill_null(pc.ascii_lower(text), "")


def code_key(value: str | None) -> str:
    """``search_key`` keeping letters and digits only: how codes are compared."""
    return "".join(ch for ch in search_key(value) if unicodedata.category(ch)[0] in "LN")


def code_key_array(values: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """``code_key`` of every cell of a string column, vectorized; nulls become ""."""
    return pc.replace_substring_regex(search_key_array(values), _RE2_NOT_ALNUM, "")

"""An independent Python reference of FMW's documented text normalization and identity_hash.

Written from the specification, not from the SQL, and importing nothing from ``fmw``, so
tests can check that ``core.norm_text``, ``core.key_part``, ``core.identity_hash``,
``core.header_key`` and ``core.status_key`` compute exactly the documented formulas:

* norm_text: remove U+200B, U+200C, U+200D, U+FEFF and the control characters U+0001-U+0008,
  U+000E-U+001F and U+007F; apply NFKC; replace every run of
  characters from an explicit white-space set by one space; strip spaces at both ends;
  the empty string becomes None.
* key_part: norm_text, then lower-case ASCII A-Z only; None becomes "".
* identity_hash: lowercase hex SHA-256 of the UTF-8 bytes of the four key parts joined
  by U+001F.
* header_key: key_part of norm_text with "_" read as a space; "" becomes None. The
  underscores are replaced after NFKC so that a full-width low line (U+FF3F) counts as
  an underscore too.
* status_key: key_part with every space removed; "" becomes None.

The white-space set is explicit on purpose: Python's ``str.isspace``/``str.split`` and
PostgreSQL's notions of white space differ, and a key must not depend on either.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

ZERO_WIDTH = "\u200b\u200c\u200d\ufeff"
"""Removed before anything else: zero-width space, non-joiner, joiner, byte-order mark."""

CONTROLS = "".join(map(chr, [*range(0x01, 0x09), *range(0x0E, 0x20), 0x7F]))
"""Removed too: control characters that are not white space (U+001F would fake a separator)."""

WHITESPACE = " \t\n\v\f\r\u0085\u1680\u2028\u2029"
"""The only characters a run of which collapses to one space (after NFKC)."""

SEPARATOR = "\x1f"
"""Joins the four key parts inside identity_hash (U+001F, unit separator)."""

_REMOVED_TABLE = dict.fromkeys(map(ord, ZERO_WIDTH + CONTROLS))
_WHITESPACE_RUN = re.compile("[" + re.escape(WHITESPACE) + "]+")
_ASCII_LOWER = str.maketrans(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "abcdefghijklmnopqrstuvwxyz",
)


def norm_text(value: str | None) -> str | None:
    """The one definition of "the same text"; None for None, empty or blank input."""
    if value is None:
        return None
    text = unicodedata.normalize("NFKC", value.translate(_REMOVED_TABLE))
    text = _WHITESPACE_RUN.sub(" ", text).strip(" ")
    return text or None


def key_part(value: str | None) -> str:
    """One identity key part: norm_text with A-Z lower-cased (nothing else); None is ""."""
    normalized = norm_text(value)
    return "" if normalized is None else normalized.translate(_ASCII_LOWER)


def identity_hash(
    feature_code: str | None,
    policy_code: str | None,
    region: str | None,
    platform: str | None,
) -> str:
    """The record key: hex SHA-256 of the UTF-8 key parts joined by U+001F."""
    joined = SEPARATOR.join(key_part(v) for v in (feature_code, policy_code, region, platform))
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()


def header_key(header: str | None) -> str | None:
    """How a header cell is matched to a header alias: underscores count as spaces.

    NFKC comes first, so a full-width or other compatibility low line (＿, ﹍) is an
    underscore as well; key_part then collapses the spaces the underscores became.
    """
    normalized = norm_text(header)
    if normalized is None:
        return None
    return key_part(normalized.replace("_", " ")) or None


def status_key(value: str | None) -> str | None:
    """How a status cell is matched to a status synonym: spaces do not count at all."""
    if value is None:
        return None
    return key_part(value).replace(" ", "") or None

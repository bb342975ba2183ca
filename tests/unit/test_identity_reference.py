"""The Python identity reference itself computes the documented formulas (no database).

tests/support/identity_reference.py is what the SQL is checked against, so here its answers are
pinned to hashes and keys worked out by hand from the specification.
"""

from __future__ import annotations

import hashlib
import unicodedata

import pytest

from tests.support import identity_reference as ref

PINNED = [
    (
        ("PAY-001", "P1", "KR", "iOS"),
        b"pay-001\x1fp1\x1fkr\x1fios",
        "ef9a207a4a60778b13fcd46f3a132cc449fb87335dda41ee5ac9f1e08f3ad943",
    ),
    (
        (None, None, None, None),
        b"\x1f\x1f\x1f",
        "c60b1f6ce4ac96cdb68fdab9e25e13fc2a4e1711f13ae42e028921c40b9abf5e",
    ),
    (
        ("결제", None, "한국", None),
        "결제\x1f\x1f한국\x1f".encode(),
        "ddbdd47243671d6468d7b541117598c14d01ebe6c3315e98706fecd001123697",
    ),
]


@pytest.mark.parametrize(("key", "hashed_bytes", "digest"), PINNED)
def test_identity_hash_pins_known_digests(
    key: tuple[str | None, str | None, str | None, str | None], hashed_bytes: bytes, digest: str
) -> None:
    assert hashlib.sha256(hashed_bytes).hexdigest() == digest, "the pinned digest is right"
    assert ref.identity_hash(*key) == digest, (
        f"identity_hash{key!r} is SHA-256 of {hashed_bytes!r}: ASCII lower-cased UTF-8 "
        "key parts joined by U+001F, a missing part being empty"
    )


def test_identity_hash_normalizes_before_hashing() -> None:
    messy = ref.identity_hash("\u3000ＰＡＹ－００１\u200b ", "p1", "\tkr\n", "IOS")
    assert messy == PINNED[0][2], (
        "width, zero-width characters, white space and ASCII case do not change the key"
    )


def test_identity_hash_separates_parts() -> None:
    assert ref.identity_hash("ab", None, None, None) != ref.identity_hash("a", "b", None, None)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("ＰＡＹ－００１", "PAY-001"),
        ("ｶﾞｲﾄﾞ", "ガイド"),
        ("a\u200bb\u200cc\u200dd\ufeff", "abcd"),
        (" a\u00a0\u3000b\t\n\v\f\r\u0085\u1680\u2028\u2029c ", "a b c"),
        (unicodedata.normalize("NFD", "결제"), "결제"),
        ("", None),
        (" \u200b\u3000 ", None),
        (None, None),
    ],
)
def test_norm_text(value: str | None, expected: str | None) -> None:
    assert ref.norm_text(value) == expected


def test_norm_text_white_space_set_is_explicit() -> None:
    assert ref.norm_text("a\u001cb") == "ab", (
        "U+001C is white space to Python's str.split, but a removed control character here"
    )
    assert ref.norm_text("a\u180eb") == "a\u180eb", "U+180E is not in the documented set"


def test_key_part_lower_cases_ascii_only() -> None:
    assert ref.key_part("ÉCOLE İ KELVIN") == "École İ kelvin", "only A-Z are lower-cased"
    assert ref.key_part("\u212a") == "k", "KELVIN SIGN becomes K under NFKC, then k"
    assert ref.key_part(None) == ""
    assert ref.key_part("  ") == ""


def test_header_key_reads_underscores_as_spaces() -> None:
    assert ref.header_key("Feature_Code") == "feature code"
    assert ref.header_key(" FEATURE  CODE ") == "feature code"
    assert ref.header_key("ＦＥＡＴＵＲＥ＿ＣＯＤＥ") == "feature code", "full-width ＿ is '_'"
    assert ref.header_key("feature__code") == "feature code", "underscore runs become one space"
    assert ref.header_key("_") is None
    assert ref.header_key(None) is None


def test_status_key_drops_all_spaces() -> None:
    assert ref.status_key("In Active") == "inactive"
    assert ref.status_key("Ｙｅｓ") == "yes"
    assert ref.status_key("\u3000") is None
    assert ref.status_key(None) is None


def test_control_characters_are_removed_so_no_cell_fakes_the_separator() -> None:
    assert ref.norm_text("a\x1fb\x07c\x7f") == "abc"
    assert ref.identity_hash("a\x1fb", "c", "", "") != ref.identity_hash("a", "b\x1fc", "", "")

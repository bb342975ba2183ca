"""SQL-level specs of normalization, the seeded vocabularies and identity_hash.

Every test runs on the default server and on Debian's PostgreSQL 15 (``sql_conn``), so
"the same text" and the record key are proven to mean the same thing on both. The
expected identity hashes come from ``tests/support/identity_reference.py``, an independent
Python rendering of the documented formulas.

The generated text is limited to characters assigned in Python's Unicode version
(``unicodedata.unidata_version``): PostgreSQL may know newer characters (PostgreSQL 18
NFKC-folds U+1CCD6.. "outlined" letters of Unicode 16, which Python 3.11 and PostgreSQL
15 leave alone), and for those no stable answer exists to compare against.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

import psycopg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import identity_reference as ref

Key = tuple[str | None, str | None, str | None, str | None]

PROPERTY_SETTINGS = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


# ----- helpers -------------------------------------------------------------------------


def scalar(conn: psycopg.Connection, query: str, *params: object) -> object:
    row = conn.execute(query, params).fetchone()
    assert row is not None
    return row[0]


def norm_text(conn: psycopg.Connection, value: str | None) -> str | None:
    return scalar(conn, "SELECT core.norm_text(%s::text)", value)  # type: ignore[return-value]  # text or NULL


def sql_hashes(conn: psycopg.Connection, keys: Sequence[Key]) -> list[str]:
    """core.identity_hash of many keys in one round trip, in order."""
    columns = [[key[i] for key in keys] for i in range(4)]
    rows = conn.execute(
        """
        SELECT core.identity_hash(k.feature_code, k.policy_code, k.region, k.platform)
        FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[]) WITH ORDINALITY
            AS k (feature_code, policy_code, region, platform, n)
        ORDER BY k.n
        """,
        columns,
    ).fetchall()
    return [row[0] for row in rows]


def sql_norm_texts(conn: psycopg.Connection, values: Sequence[str]) -> list[tuple[str, str]]:
    """(norm_text(v), norm_text(norm_text(v))) for many values in one round trip."""
    rows = conn.execute(
        """
        SELECT core.norm_text(v.value), core.norm_text(core.norm_text(v.value))
        FROM unnest(%s::text[]) WITH ORDINALITY AS v (value, n)
        ORDER BY v.n
        """,
        [list(values)],
    ).fetchall()
    return [(row[0], row[1]) for row in rows]


def sql_map(conn: psycopg.Connection, function: str, values: Sequence[str]) -> list[object]:
    """function(v) for many text values in one round trip, in order."""
    rows = conn.execute(
        f"SELECT {function}(v.value) FROM unnest(%s::text[]) WITH ORDINALITY AS v (value, n) "
        "ORDER BY v.n",
        [list(values)],
    ).fetchall()
    return [row[0] for row in rows]


def statuses_of(conn: psycopg.Connection, words: Sequence[str]) -> list[str | None]:
    """The canonical status each status cell means, looked up the way process_batch does."""
    rows = conn.execute(
        """
        SELECT syn.status
        FROM unnest(%s::text[]) WITH ORDINALITY AS w (word, n)
        LEFT JOIN core.status_synonym AS syn ON syn.synonym_key = core.status_key(w.word)
        ORDER BY w.n
        """,
        [list(words)],
    ).fetchall()
    return [row[0] for row in rows]


def status_of(conn: psycopg.Connection, word: str) -> str | None:
    return statuses_of(conn, [word])[0]


def mapped_fields(conn: psycopg.Connection, headers: Sequence[str]) -> list[str | None]:
    rows = conn.execute(
        "SELECT col, header, field FROM core.map_headers(%s::text[]) ORDER BY col",
        [list(headers)],
    ).fetchall()
    assert [row[0] for row in rows] == list(range(1, len(headers) + 1)), (
        "map_headers returns one row per header, numbered from 1 in file order"
    )
    assert [row[1] for row in rows] == list(headers), "map_headers echoes each header as written"
    return [row[2] for row in rows]


def full_width(text: str) -> str:
    """ASCII printable characters as their full-width forms (space as U+3000)."""
    return "".join(
        "\u3000" if ch == " " else chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in text
    )


def swap_ascii_case(text: str) -> str:
    return "".join(ch.swapcase() if ch.isascii() else ch for ch in text)


# ----- strategies ----------------------------------------------------------------------

WHITESPACE_SET = list(ref.WHITESPACE)
ZERO_WIDTH = list(ref.ZERO_WIDTH)
SPACE_LIKE = [*WHITESPACE_SET, "\u00a0", "\u3000", "\u2002", "\u2009", "\u202f", "\u205f"]
"""The explicit white-space set plus characters NFKC turns into a plain space."""

SPECIALS = [
    "\ufb01",  # ﬁ ligature -> "fi"
    "\u212a",  # KELVIN SIGN -> "K" (then lower-cased)
    "\u212b",  # ANGSTROM SIGN -> "Å" (not lower-cased: not ASCII)
    "ß",
    "\u0130",  # İ: must stay as it is, not become "i̇"
    "\ufdfa",  # the longest NFKC expansion
    "①",
    "²",
    "㈜",
    "㎏",
    "_",
    "\x1f",  # the separator itself inside a part
]

STABLE_CHARACTERS = st.characters(exclude_categories=("Cs", "Cn"), exclude_characters="\x00")
"""Any character Python's unicodedata knows (so the reference has an answer), except NUL."""


def alphabet(*, marks: bool = True) -> st.SearchStrategy[str]:
    choices = [
        st.characters(min_codepoint=0x20, max_codepoint=0x7E),  # ASCII
        st.characters(min_codepoint=0xAC00, max_codepoint=0xD7A3),  # Hangul syllables
        st.characters(min_codepoint=0x1100, max_codepoint=0x11FF),  # conjoining jamo
        st.characters(min_codepoint=0x3131, max_codepoint=0x318E),  # compatibility jamo
        st.characters(min_codepoint=0xFF01, max_codepoint=0xFF5E),  # full-width ASCII
        st.characters(min_codepoint=0xFF61, max_codepoint=0xFFDC),  # half-width kana, Hangul
        st.sampled_from(ZERO_WIDTH + SPACE_LIKE + SPECIALS),
    ]
    if marks:
        choices += [
            st.characters(min_codepoint=0x0300, max_codepoint=0x036F),  # combining marks
            st.sampled_from(["\u3099", "\u309a"]),  # combining kana voicing marks
            STABLE_CHARACTERS,
        ]
    else:
        # Without combining marks, ASCII letters never compose with what follows them.
        choices.append(
            st.characters(
                exclude_categories=("Cs", "Cn", "M"),
                exclude_characters="\x00",
            )
        )
    return st.one_of(choices)


texts = st.text(alphabet(), max_size=12)
parts = st.one_of(st.none(), texts)
keys = st.lists(st.tuples(parts, parts, parts, parts), min_size=1, max_size=15)
unmarked_keys = st.lists(
    st.tuples(*[st.text(alphabet(marks=False), max_size=12)] * 4), min_size=1, max_size=15
)
space_runs = st.text(st.sampled_from(SPACE_LIKE + ZERO_WIDTH), max_size=4)


def assert_same_hashes(
    conn: psycopg.Connection, originals: Sequence[Key], variants: Sequence[Key], why: str
) -> None:
    hashes = sql_hashes(conn, [*originals, *variants])
    for original, variant, a, b in zip(
        originals, variants, hashes[: len(originals)], hashes[len(originals) :], strict=True
    ):
        assert a == b, f"{why}: identity_hash{original!r} must equal identity_hash{variant!r}"


# ----- core.norm_text ------------------------------------------------------------------


def test_norm_text_folds_full_width_to_ascii(sql_conn: psycopg.Connection) -> None:
    assert norm_text(sql_conn, "ＰＡＹ－００１") == "PAY-001", (
        "full-width letters, digits and hyphen-minus become ASCII (NFKC)"
    )


def test_norm_text_folds_half_width_katakana(sql_conn: psycopg.Connection) -> None:
    assert norm_text(sql_conn, "ｶﾞｲﾄﾞ ﾃｽﾄ") == "ガイド テスト", (
        "half-width katakana become full-width, voicing marks composed (ｶﾞ -> ガ)"
    )


def test_norm_text_removes_zero_width_characters_inside_words(
    sql_conn: psycopg.Connection,
) -> None:
    assert norm_text(sql_conn, "\ufeffPAY\u200b-0\u200c0\u200d1") == "PAY-001", (
        "U+200B, U+200C, U+200D and U+FEFF vanish wherever they are"
    )
    assert norm_text(sql_conn, "결\u200b제") == "결제", "a zero-width space does not split a word"


def test_norm_text_collapses_every_kind_of_white_space(sql_conn: psycopg.Connection) -> None:
    value = "a\u00a0\u00a0b\u3000c\td\n\ne\r\nf\u2028g\u0085h\v\fi\u1680j\u2029k"
    assert norm_text(sql_conn, value) == "a b c d e f g h i j k", (
        "NBSP, ideographic space, tabs, newlines and the other white space collapse to one space"
    )


def test_norm_text_trims_both_ends(sql_conn: psycopg.Connection) -> None:
    assert norm_text(sql_conn, " \t\u3000 Feature  Code \u00a0\n") == "Feature Code", (
        "leading and trailing white space is removed, inner runs become one space"
    )


def test_norm_text_of_empty_or_blank_is_null(sql_conn: psycopg.Connection) -> None:
    blanks = ["", " ", "\u200b", "\u3000\t\n", "\ufeff \u00a0\u2028"]
    not_null = [
        (blank, got)
        for blank, got in zip(blanks, sql_map(sql_conn, "core.norm_text", blanks), strict=True)
        if got is not None
    ]
    assert not not_null, f"empty or blank text normalizes to NULL, but (input, got): {not_null}"


def test_norm_text_of_null_is_null(sql_conn: psycopg.Connection) -> None:
    assert norm_text(sql_conn, None) is None, "norm_text(NULL) is NULL"


def test_norm_text_is_inlined_into_the_calling_query(sql_conn: psycopg.Connection) -> None:
    plan = sql_conn.execute(
        "EXPLAIN (VERBOSE) SELECT core.norm_cell(relname::text, false) FROM pg_class"
    ).fetchall()
    output = " ".join(line for (line,) in plan)
    assert "NORMALIZE" in output.upper() and "norm_text" not in output, (
        f"core.norm_text is called per cell instead of inlined: {output}"
    )


def test_norm_text_composes_decomposed_hangul(sql_conn: psycopg.Connection) -> None:
    decomposed = unicodedata.normalize("NFD", "결제")
    assert len(decomposed) == 5, "precondition: '결제' in NFD is five conjoining jamo"
    assert norm_text(sql_conn, decomposed) == "결제", (
        "Hangul typed or saved decomposed (NFD, e.g. macOS file names) becomes precomposed"
    )


def test_norm_text_keeps_case_and_non_ascii_letters(sql_conn: psycopg.Connection) -> None:
    assert norm_text(sql_conn, "Pay-İß-Å") == "Pay-İß-Å", (
        "norm_text changes no letter case: lower-casing belongs to key_part"
    )


@PROPERTY_SETTINGS
@given(values=st.lists(texts, min_size=1, max_size=25))
def test_norm_text_is_idempotent_and_matches_the_reference(
    sql_conn: psycopg.Connection, values: list[str]
) -> None:
    for value, (once, twice) in zip(values, sql_norm_texts(sql_conn, values), strict=True):
        assert once == ref.norm_text(value), f"norm_text({value!r}) follows the documented steps"
        assert twice == once, f"norm_text(norm_text({value!r})) = norm_text({value!r})"


@given(rows=st.lists(st.lists(st.one_of(st.none(), texts), min_size=1, max_size=6), max_size=10))
@PROPERTY_SETTINGS
def test_the_clean_row_fast_path_never_changes_a_result(
    sql_conn: psycopg.Connection, rows: list[list[str | None]]
) -> None:
    """process_batch skips norm_text on rows core.is_clean_row calls clean: never wrongly."""
    for cells in rows:
        fast, slow = sql_conn.execute(
            "SELECT array_agg(core.norm_cell(c, core.is_clean_row(%s::text[])) ORDER BY i), "
            "array_agg(core.norm_text(c) ORDER BY i) FROM unnest(%s::text[]) WITH ORDINALITY "
            "AS u (c, i)",
            [cells, cells],
        ).fetchone()
        assert fast == slow, f"fast path differs for {cells!r}"


def test_typical_clean_rows_take_the_fast_path(sql_conn: psycopg.Connection) -> None:
    clean = ["PAY-001", "간편 결제", "POL-1", "KR", "2024-01-05", None]
    dirty = [["PAY-001 "], [" PAY"], ["a  b"], ["ＰＡＹ"], ["a\u200bb"], ["a\tb"], [""]]
    assert scalar(sql_conn, "SELECT core.is_clean_row(%s::text[])", clean) is True
    for cells in dirty:
        assert scalar(sql_conn, "SELECT core.is_clean_row(%s::text[])", cells) is False, cells


# ----- core.identity_hash --------------------------------------------------------------

TRICKY_KEYS: list[Key] = [
    ("PAY-001", "P1", "KR", "iOS"),
    ("pay-001", "p1", "kr", "ios"),
    ("ＰＡＹ－００１", "Ｐ１", "ＫＲ", "ｉＯＳ"),
    ("  PAY-001 ", "\tP1\n", "\u3000KR\u3000", "i\u200bOS"),
    ("PAY-001", None, None, None),
    ("PAY-001", "", " ", "\u200b\ufeff"),
    ("결제", "정책\u00a0A", "한국", "안드로이드"),
    (unicodedata.normalize("NFD", "결제"), "정책 A", "한국", "안드로이드"),
    ("Feature  Code", "a\u2028b", "c\u0085d", "e\u1680f"),
    ("İstanbul", "STRASSE", "straße", "\u212aelvin"),
    ("\ufb01le", "①", "㈜회사", "\ufdfa"),
    ("ｶﾞｲﾄﾞ", "ﾃｽﾄ", "ㄱ", "ᄀ"),
    ("a\x1fb", "", "", ""),
    ("a", "b", "", ""),
    ("e\u0301", "é", "E\u0301", "É"),
    (None, None, None, None),
]


def test_identity_hash_equals_the_reference_on_tricky_keys(sql_conn: psycopg.Connection) -> None:
    for key, got in zip(TRICKY_KEYS, sql_hashes(sql_conn, TRICKY_KEYS), strict=True):
        assert got == ref.identity_hash(*key), (
            f"identity_hash{key!r} is SHA-256 of the documented key parts, byte for byte"
        )


def test_identity_hash_is_lowercase_hex_sha256(sql_conn: psycopg.Connection) -> None:
    got = sql_hashes(sql_conn, [("PAY-001", "P1", "KR", "iOS")])[0]
    assert len(got) == 64, "identity_hash is 64 hex digits"
    assert got == got.lower(), "identity_hash is lower-case"
    assert set(got) <= set("0123456789abcdef"), "identity_hash is hexadecimal"


def test_identity_hash_treats_null_empty_and_blank_parts_alike(
    sql_conn: psycopg.Connection,
) -> None:
    variants: list[Key] = [
        ("PAY-001", None, None, None),
        ("PAY-001", "", "", ""),
        ("PAY-001", " ", "\u3000", "\u200b"),
    ]
    hashes = sql_hashes(sql_conn, variants)
    assert len(set(hashes)) == 1, "a missing key part is '' whether NULL, empty or blank"


def test_identity_hash_keeps_parts_apart(sql_conn: psycopg.Connection) -> None:
    variants: list[Key] = [("ab", "", "", ""), ("a", "b", "", ""), ("", "ab", "", "")]
    hashes = sql_hashes(sql_conn, variants)
    assert len(set(hashes)) == 3, "the separator keeps 'ab'+'' apart from 'a'+'b' and ''+'ab'"


@PROPERTY_SETTINGS
@given(batch=keys)
def test_identity_hash_equals_the_reference_on_generated_keys(
    sql_conn: psycopg.Connection, batch: list[Key]
) -> None:
    for key, got in zip(batch, sql_hashes(sql_conn, batch), strict=True):
        assert got == ref.identity_hash(*key), (
            f"identity_hash{key!r} is SHA-256 of the documented key parts, byte for byte"
        )


@PROPERTY_SETTINGS
@given(batch=keys, before=space_runs, after=space_runs)
def test_identity_hash_ignores_surrounding_and_doubled_white_space(
    sql_conn: psycopg.Connection, batch: list[Key], before: str, after: str
) -> None:
    def pad(part: str | None) -> str | None:
        return None if part is None else before + part.replace(" ", "  ") + after

    variants = [tuple(map(pad, key)) for key in batch]
    assert_same_hashes(sql_conn, batch, variants, "white space around or doubled inside is noise")


@PROPERTY_SETTINGS
@given(batch=keys)
def test_identity_hash_ignores_full_width(sql_conn: psycopg.Connection, batch: list[Key]) -> None:
    variants = [tuple(None if p is None else full_width(p) for p in key) for key in batch]
    assert_same_hashes(sql_conn, batch, variants, "full-width and ASCII spellings are one key")


@PROPERTY_SETTINGS
@given(batch=keys)
def test_identity_hash_ignores_nfd_versus_nfc(
    sql_conn: psycopg.Connection, batch: list[Key]
) -> None:
    def form(name: str) -> list[Key]:
        return [
            tuple(None if p is None else unicodedata.normalize(name, p) for p in key)  # type: ignore[misc]  # as long as key
            for key in batch
        ]

    assert_same_hashes(sql_conn, form("NFC"), form("NFD"), "NFD and NFC spellings are one key")


@PROPERTY_SETTINGS
@given(batch=unmarked_keys)
def test_identity_hash_ignores_ascii_case(sql_conn: psycopg.Connection, batch: list[Key]) -> None:
    variants = [tuple(None if p is None else swap_ascii_case(p) for p in key) for key in batch]
    assert_same_hashes(sql_conn, batch, variants, "ASCII letter case does not matter")


def test_identity_hash_keeps_non_ascii_case(sql_conn: psycopg.Connection) -> None:
    hashes = sql_hashes(sql_conn, [("É", None, None, None), ("é", None, None, None)])
    assert hashes[0] != hashes[1], (
        "only A-Z are lower-cased (locale-independent), so 'É' and 'é' are different keys"
    )


def test_ascii_lower_changes_a_to_z_only(sql_conn: psycopg.Connection) -> None:
    got = sql_conn.execute("SELECT core.ascii_lower('ÉÀÇ ABC Ǆ Ⅻ ＡＢ ÄZ')").fetchone()[0]
    assert got == "ÉÀÇ abc Ǆ Ⅻ ＡＢ Äz", "accented, full-width and Roman-numeral letters stay"


# ----- core.parse_date -----------------------------------------------------------------


def parse_dates(conn: psycopg.Connection, cells: Sequence[str]) -> list[str | None]:
    return [None if got is None else str(got) for got in sql_map(conn, "core.parse_date", cells)]


def test_parse_date_accepts_common_spellings(sql_conn: psycopg.Connection) -> None:
    cells = [
        "2024-01-05",
        "2024.01.05",
        "2024/1/5",
        "2024. 1. 5.",
        "20240105",
        "2024년 1월 5일",
        "2024-01-05 00:00:00",
        "2024-01-05T13:45:00",
        " ２０２４－０１－０５ ",
    ]
    wrong = [
        (cell, got)
        for cell, got in zip(cells, parse_dates(sql_conn, cells), strict=True)
        if got != "2024-01-05"
    ]
    assert not wrong, f"each spelling is 5 January 2024, but (cell, got): {wrong}"


def test_parse_date_reads_excel_serial_numbers(sql_conn: psycopg.Connection) -> None:
    assert parse_dates(sql_conn, ["45296", "45296.5"]) == ["2024-01-05", "2024-01-05"], (
        "Excel serial 45296 is day 45296 after 1899-12-30; a fraction is the time of day"
    )


def test_parse_date_accepts_a_leap_day(sql_conn: psycopg.Connection) -> None:
    assert str(scalar(sql_conn, "SELECT core.parse_date('2024-02-29')")) == "2024-02-29", (
        "29 February exists in 2024"
    )


def test_parse_date_gives_null_for_what_is_not_a_date(sql_conn: psycopg.Connection) -> None:
    cells = ["2024-13-45", "2023-02-29", "미정", "", "   ", "2024", "1/5/2024", "2024-01-05x"]
    parsed = [
        (cell, got)
        for cell, got in zip(cells, parse_dates(sql_conn, cells), strict=True)
        if got is not None
    ]
    assert not parsed, (
        f"impossible, ambiguous or non-dates give NULL (not an error), but (cell, got): {parsed}"
    )


# ----- core.status_synonym -------------------------------------------------------------

STATUS_WORDS = {
    "enabled": ["enabled", "on", "y", "yes", "active", "적용", "사용", "활성", "운영"],
    "disabled": ["disabled", "off", "n", "no", "inactive", "미적용", "미사용", "비활성", "중지"],
    "pilot": ["pilot", "beta", "test", "시범", "테스트"],
    "planned": ["planned", "todo", "예정", "계획"],
    "deprecated": ["deprecated", "retired", "eol", "폐기", "종료"],
}


def assert_statuses(conn: psycopg.Connection, expected: dict[str, str | None], why: str) -> None:
    words = list(expected)
    wrong = [
        (word, expected[word], got)
        for word, got in zip(words, statuses_of(conn, words), strict=True)
        if got != expected[word]
    ]
    assert not wrong, f"{why}, but (word, expected, got): {wrong}"


def test_every_documented_status_word_has_its_status(sql_conn: psycopg.Connection) -> None:
    expected = {word: status for status, words in STATUS_WORDS.items() for word in words}
    assert_statuses(sql_conn, expected, "each documented status word means its status")


def test_status_words_match_regardless_of_case_width_and_spaces(
    sql_conn: psycopg.Connection,
) -> None:
    expected: dict[str, str | None] = {
        " ON ": "enabled",
        "Ｙｅｓ": "enabled",
        "YES": "enabled",
        "사 용": "enabled",
        "\u3000적용\u200b": "enabled",
        "In Active": "disabled",  # spaces do not count: "inactive"
        "ｏｆｆ": "disabled",
        "Beta": "pilot",
        "테 스 트": "pilot",
        "To Do": "planned",
        "E O L": "deprecated",
        "ＥＯＬ": "deprecated",
        "IN-ACTIVE": None,  # punctuation does count
    }
    assert_statuses(sql_conn, expected, "case, width and spaces do not matter, punctuation does")


def test_an_unknown_status_word_has_no_synonym(sql_conn: psycopg.Connection) -> None:
    assert_statuses(
        sql_conn,
        {"maybe": None, "완료": None, "": None, " ": None},
        "an unknown or blank word is no status word",
    )


# ----- seeded vocabularies -------------------------------------------------------------


def test_seeded_header_alias_keys_are_computed_by_header_key(
    sql_conn: psycopg.Connection,
) -> None:
    rows = sql_conn.execute(
        "SELECT alias, alias_key, core.header_key(alias) FROM core.header_alias"
    ).fetchall()
    assert rows, "header aliases are seeded"
    for alias, alias_key, computed in rows:
        assert alias_key == computed, f"alias_key of {alias!r} is core.header_key({alias!r})"
        assert alias_key == ref.header_key(alias), f"alias_key of {alias!r} is the documented key"


def test_seeded_status_synonym_keys_are_computed_by_status_key(
    sql_conn: psycopg.Connection,
) -> None:
    rows = sql_conn.execute(
        "SELECT synonym, synonym_key, core.status_key(synonym) FROM core.status_synonym"
    ).fetchall()
    assert rows, "status synonyms are seeded"
    for synonym, synonym_key, computed in rows:
        assert synonym_key == computed, (
            f"synonym_key of {synonym!r} is core.status_key({synonym!r})"
        )
        assert synonym_key == ref.status_key(synonym), (
            f"synonym_key of {synonym!r} is the documented key"
        )


# ----- core.header_alias, map_headers and check_headers --------------------------------

HEADER_FIELDS = [
    ("Feature Code", "feature_code"),
    ("feature_code", "feature_code"),
    (" FEATURE  CODE ", "feature_code"),
    ("ＦＥＡＴＵＲＥ＿ＣＯＤＥ", "feature_code"),
    ("기능코드", "feature_code"),
    ("피처코드", "feature_code"),
    ("기능명", "feature_name"),
    ("피처명", "feature_name"),
    ("정책코드", "policy_code"),
    ("정책명", "policy_name"),
    ("상태", "status"),
    ("국가", "region"),
    ("지역", "region"),
    ("market", "region"),
    ("플랫폼", "platform"),
    ("담당자", "owner"),
    ("팀", "team"),
    ("부서", "team"),
    ("start_date", "effective_from"),
    ("시작일", "effective_from"),
    ("적용일", "effective_from"),
    ("end_date", "effective_to"),
    ("종료일", "effective_to"),
    ("비고", "note"),
    ("remarks", "note"),
]


def test_documented_headers_map_to_their_fields(sql_conn: psycopg.Connection) -> None:
    headers = [header for header, _ in HEADER_FIELDS]
    for (header, field), got in zip(HEADER_FIELDS, mapped_fields(sql_conn, headers), strict=True):
        assert got == field, f"header {header!r} feeds field {field}"


def test_full_width_underscore_in_a_header_is_an_underscore(sql_conn: psycopg.Connection) -> None:
    # Regression: header_key replaced "_" before NFKC, so "＿" (U+FF3F) stayed an underscore.
    assert mapped_fields(sql_conn, ["ＦＥＡＴＵＲＥ＿ＣＯＤＥ", "effective\ufe4dto"]) == [
        "feature_code",
        "effective_to",
    ], "a full-width (or other compatibility) low line separates header words like '_' does"


@PROPERTY_SETTINGS
@given(values=st.lists(texts, min_size=1, max_size=25))
def test_header_key_and_status_key_equal_the_reference(
    sql_conn: psycopg.Connection, values: list[str]
) -> None:
    rows = sql_conn.execute(
        """
        SELECT core.header_key(v.value), core.status_key(v.value)
        FROM unnest(%s::text[]) WITH ORDINALITY AS v (value, n)
        ORDER BY v.n
        """,
        [values],
    ).fetchall()
    for value, (header, status) in zip(values, rows, strict=True):
        assert header == ref.header_key(value), f"header_key({value!r}) is the documented key"
        assert status == ref.status_key(value), f"status_key({value!r}) is the documented key"


def test_an_unknown_header_maps_to_no_field(sql_conn: psycopg.Connection) -> None:
    assert mapped_fields(sql_conn, ["Feature Code", "메모2", "Unnamed: 3"]) == [
        "feature_code",
        None,
        None,
    ], "a header no alias matches maps to NULL (the column is ignored)"


def test_check_headers_accepts_loadable_headers(sql_conn: psycopg.Connection) -> None:
    headers = ["기능코드", "정책코드", "상태", "국가", "플랫폼", "비고", "whatever"]
    assert scalar(sql_conn, "SELECT core.check_headers(%s::text[])", headers) is None, (
        "headers with a feature_code column and no field twice are loadable: NULL"
    )


def test_check_headers_requires_a_feature_code_column(sql_conn: psycopg.Connection) -> None:
    message = scalar(sql_conn, "SELECT core.check_headers(%s::text[])", ["상태", "국가"])
    assert isinstance(message, str), "headers without feature_code are refused with a message"
    assert "feature_code" in message, "the message says feature_code is missing"
    assert "상태" in message, "the message shows the headers that were found"


def test_check_headers_refuses_two_columns_for_one_field(sql_conn: psycopg.Connection) -> None:
    message = scalar(
        sql_conn, "SELECT core.check_headers(%s::text[])", ["Feature Code", "상태", "기능코드"]
    )
    assert isinstance(message, str), "two columns for one field are refused with a message"
    assert "Feature Code" in message, "the message names the first column"
    assert "기능코드" in message, "the message names the second column"
    assert "feature_code" in message, "the message names the field both map to"


# ----- admin functions -----------------------------------------------------------------


def test_add_header_alias_makes_a_new_header_map(sql_conn: psycopg.Connection) -> None:
    assert mapped_fields(sql_conn, ["Func ID"]) == [None], "precondition: 'Func ID' is unknown"
    key = scalar(sql_conn, "SELECT alias_key FROM core.add_header_alias('Func ID', 'feature_code')")
    assert key == "func id", "add_header_alias stores and returns the computed header_key"
    assert (
        mapped_fields(sql_conn, ["Func ID", "func_id", "ＦＵＮＣ ＩＤ"]) == ["feature_code"] * 3
    ), "after add_header_alias, the header and its spelling variants map to the field"


def test_add_status_synonym_makes_a_new_status_word(sql_conn: psycopg.Connection) -> None:
    assert status_of(sql_conn, "가동") is None, "precondition: '가동' is unknown"
    key = scalar(sql_conn, "SELECT synonym_key FROM core.add_status_synonym('가동', 'enabled')")
    assert key == "가동", "add_status_synonym stores and returns the computed status_key"
    assert status_of(sql_conn, "가동") == "enabled", "after add_status_synonym, '가동' is enabled"
    assert status_of(sql_conn, " 가 동 ") == "enabled", "and its spacing variants are too"

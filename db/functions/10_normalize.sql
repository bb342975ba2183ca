-- Normalization: the one definition of "the same text", used for keys, vocabularies and
-- values. Everything here is IMMUTABLE and independent of the server's locale: lower-casing
-- is ASCII-only (A-Z) and white space is an explicit set, so identity_hash is the same on
-- every PostgreSQL server (see docs/identity-hash.md).

CREATE OR REPLACE FUNCTION core.removed_characters()
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN U&'\200B\200C\200D\FEFF'
    || U&'\0001\0002\0003\0004\0005\0006\0007\0008'
    || U&'\000E\000F\0010\0011\0012\0013\0014\0015\0016\0017\0018\0019\001A\001B\001C'
    || U&'\001D\001E\001F\007F';
COMMENT ON FUNCTION core.removed_characters() IS
    'Characters core.norm_text deletes before NFKC: zero-width space, non-joiner, joiner and '
    'BOM (U+200B-U+200D, U+FEFF), and control characters that are not white space '
    '(U+0001-U+0008, U+000E-U+001F, U+007F; U+001F would otherwise fake the key separator).';

-- Not STRICT on purpose (NULL still gives NULL: every step passes NULL through): PostgreSQL
-- inlines a non-strict SQL function into the calling query, but never this one when STRICT
-- (NULLIF is not strict), and a call per cell cost a third more at a million rows.
CREATE OR REPLACE FUNCTION core.norm_text(value text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN nullif(
    btrim(
        regexp_replace(
            normalize(translate(value, core.removed_characters(), ''), NFKC),
            '[ \t\n\r\f\v\u0085\u1680\u2028\u2029]+', ' ', 'g'
        ),
        ' '
    ),
    ''
);
COMMENT ON FUNCTION core.norm_text(text) IS
    'core.removed_characters() (zero-width and control characters) deleted, then NFKC; '
    'white-space runs (space, \t \n \v \f \r, U+0085, U+1680, U+2028, U+2029) collapsed to '
    'one space; trimmed; empty becomes NULL.';

CREATE OR REPLACE FUNCTION core.is_clean_row(cells text[])
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN array_to_string(cells, U&'\E000') IS NFKC NORMALIZED
    AND array_to_string(cells, U&'\E000') !~ (
        '[\t\n\v\f\r\u0085\u1680\u2028\u2029\u200B\u200C\u200D\uFEFF'
        || '\u0001-\u0008\u000E-\u001F\u007F]|  |^ | $| \uE000|\uE000 '
    )
    AND array_position(cells, '') IS NULL;
COMMENT ON FUNCTION core.is_clean_row(text[]) IS
    'True when core.norm_text would return every cell of the row unchanged (NFKC already, '
    'no removed character, no white space but single inner spaces, no empty cell): the fast '
    'path that lets core.process_batch skip per-cell normalization of clean rows.';

CREATE OR REPLACE FUNCTION core.norm_cell(cell text, row_is_clean boolean)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN row_is_clean THEN cell ELSE core.norm_text(cell) END;
COMMENT ON FUNCTION core.norm_cell(text, boolean) IS
    'core.norm_text(cell), skipped when core.is_clean_row said the whole row is clean.';

CREATE OR REPLACE FUNCTION core.ascii_lower(value text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
-- Under the C collation lower() changes A-Z only, byte by byte: 4x faster than translate().
RETURN lower(value COLLATE "C");
COMMENT ON FUNCTION core.ascii_lower(text) IS
    'Lower-cases A-Z only: the same result under every collation and server locale.';

CREATE OR REPLACE FUNCTION core.key_part(value text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN coalesce(core.ascii_lower(core.norm_text(value)), '');
COMMENT ON FUNCTION core.key_part(text) IS
    'One identity key part: core.norm_text, ASCII lower-cased; NULL and blank become ''''.';

CREATE OR REPLACE FUNCTION core.identity_hash(
    feature_code text, policy_code text, region text, platform text
)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN encode(
    sha256(convert_to(
        core.key_part(feature_code) || chr(31) || core.key_part(policy_code) || chr(31)
        || core.key_part(region) || chr(31) || core.key_part(platform),
        'UTF8'
    )),
    'hex'
);
COMMENT ON FUNCTION core.identity_hash(text, text, text, text) IS
    'The record key: lowercase hex SHA-256 of the UTF-8 bytes of the four key parts '
    '(core.key_part) joined by U+001F. Recomputable anywhere: see docs/identity-hash.md.';

CREATE OR REPLACE FUNCTION core.header_key(header text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN nullif(core.key_part(translate(core.norm_text(header), '_', ' ')), '');
COMMENT ON FUNCTION core.header_key(text) IS
    'How a header cell is matched to core.header_alias: key_part with underscores (also '
    'full-width ones: replaced after NFKC) as spaces, so "Feature_Code", " feature code " and '
    '"ＦＥＡＴＵＲＥ＿ＣＯＤＥ" are one header.';

CREATE OR REPLACE FUNCTION core.status_key(value text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN nullif(replace(core.key_part(value), ' ', ''), '');
COMMENT ON FUNCTION core.status_key(text) IS
    'How a status cell is matched to core.status_synonym: case-, width- and space-insensitive.';

CREATE OR REPLACE FUNCTION core.valid_date(y integer, m integer, d integer)
RETURNS date
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE
    WHEN y BETWEEN 1900 AND 2999 AND m BETWEEN 1 AND 12 AND d >= 1
        AND d <= extract(day FROM make_date(y, m, 1) + interval '1 month - 1 day')
    THEN make_date(y, m, d)
END;
COMMENT ON FUNCTION core.valid_date(integer, integer, integer) IS
    'make_date without errors: NULL for an impossible date or a year outside 1900-2999.';

CREATE OR REPLACE FUNCTION core.parse_date(value text)
RETURNS date
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
AS $$
DECLARE
    s text := core.norm_text(value);
    parts text[];
BEGIN
    IF s IS NULL THEN
        RETURN NULL;
    END IF;
    -- 2024-01-05, 2024.01.05, 2024/1/5, "2024. 1. 5.", 2024년 1월 5일, with an optional time
    parts := regexp_match(
        s,
        '^([0-9]{4}) ?(?:[-./]|년) ?([0-9]{1,2}) ?(?:[-./]|월) ?([0-9]{1,2}) ?(?:일|\.)?'
        '(?:[ T][0-9]{1,2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?)?$'
    );
    IF parts IS NULL THEN
        parts := regexp_match(s, '^([0-9]{4})([0-9]{2})([0-9]{2})$');  -- 20240105
    END IF;
    IF parts IS NOT NULL THEN
        RETURN core.valid_date(parts[1]::integer, parts[2]::integer, parts[3]::integer);
    END IF;
    -- Excel serial day numbers (1927-05-18 .. 2173-10-14); smaller numbers are more likely
    -- years or counts than dates, so they stay unparsed.
    IF s ~ '^[0-9]{5}(\.[0-9]+)?$' THEN
        RETURN date '1899-12-30' + floor(s::numeric)::integer;
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION core.parse_date(text) IS
    'Date cell to date: ISO, dots, slashes, YYYYMMDD, Korean (2024년 1월 5일) and Excel serial '
    'numbers (5 digits). NULL when unparseable; process_batch records that as a row issue.';

GRANT EXECUTE ON FUNCTION
    core.removed_characters(), core.norm_text(text), core.is_clean_row(text[]),
    core.norm_cell(text, boolean), core.ascii_lower(text), core.key_part(text),
    core.identity_hash(text, text, text, text), core.header_key(text), core.status_key(text),
    core.valid_date(integer, integer, integer), core.parse_date(text)
TO fmw_loader;

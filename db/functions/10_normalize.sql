-- Normalization: the one definition of "the same text", used for keys, vocabularies and
-- values. Everything here is IMMUTABLE and independent of the server's locale: lower-casing
-- is ASCII-only (A-Z) and white space is an explicit set, so identity_hash is the same on
-- every PostgreSQL server (see docs/identity-hash.md).
--
-- Each rule is written once: the two character sets below, the key part, the identity
-- formula. The character sets are functions without arguments, so the planner folds them
-- into constants wherever they are used (the regex patterns below stay fixed strings).

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

CREATE OR REPLACE FUNCTION core.white_space_characters()
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN U&' \0009\000A\000B\000C\000D\0085\1680\2028\2029';
COMMENT ON FUNCTION core.white_space_characters() IS
    'The white space core.norm_text collapses to one space: space, tab, LF, VT, FF, CR, '
    'U+0085, U+1680, U+2028 and U+2029 (after NFKC every other Unicode space, such as NBSP '
    'or U+3000, is a plain space already).';

-- Not STRICT on purpose (NULL still gives NULL: every step passes NULL through): PostgreSQL
-- inlines a non-strict SQL function into the calling query, but never this one when STRICT
-- (NULLIF is not strict), and a function call per cell is much slower than the inlined
-- expression (docs/benchmarks.md, "Why the SQL is shaped as it is"). A test keeps it inlined.
CREATE OR REPLACE FUNCTION core.norm_text(value text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN nullif(
    btrim(
        regexp_replace(
            normalize(translate(value, core.removed_characters(), ''), NFKC),
            '[' || core.white_space_characters() || ']+', ' ', 'g'
        ),
        ' '
    ),
    ''
);
COMMENT ON FUNCTION core.norm_text(text) IS
    'core.removed_characters() (zero-width and control characters) deleted, then NFKC; runs '
    'of core.white_space_characters() collapsed to one space; trimmed; empty becomes NULL.';

CREATE OR REPLACE FUNCTION core.is_clean_row(cells text[])
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
-- The cells joined by U+E000 (private use: no source writes it), so that one regex checks
-- them all for a removed character, white space other than a space, and a space that is
-- doubled or at either end of a cell.
RETURN array_to_string(cells, U&'\E000') IS NFKC NORMALIZED
    AND array_to_string(cells, U&'\E000') !~ (
        '[' || core.removed_characters() || replace(core.white_space_characters(), ' ', '')
        || ']|  |^ | $| \uE000|\uE000 '
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
-- Under the C collation lower() changes A-Z only, byte by byte: the rule of
-- translate(value, 'A..Z', 'a..z'), at a fraction of its cost (docs/benchmarks.md).
RETURN lower(value COLLATE "C");
COMMENT ON FUNCTION core.ascii_lower(text) IS
    'Lower-cases A-Z only: the same result under every collation and server locale.';

CREATE OR REPLACE FUNCTION core.normalized_key_part(normalized text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN coalesce(core.ascii_lower(normalized), '');
COMMENT ON FUNCTION core.normalized_key_part(text) IS
    'core.key_part of a value that is already core.norm_text''s result: ASCII lower-cased, '
    'NULL becomes ''''.';

CREATE OR REPLACE FUNCTION core.key_part(value text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN core.normalized_key_part(core.norm_text(value));
COMMENT ON FUNCTION core.key_part(text) IS
    'One identity key part: core.norm_text, ASCII lower-cased; NULL and blank become ''''.';

-- The identity formula, written once. core.identity_hash calls it for any text, the stage
-- for cells it has normalized already (normalizing them twice would cost a second pass).
-- STABLE, not IMMUTABLE, because convert_to is STABLE: PostgreSQL inlines a SQL function
-- only when its body is no more volatile than its declaration, and the stage calls this one
-- for every row. A test keeps it inlined.
CREATE OR REPLACE FUNCTION core.normalized_identity_hash(
    feature_code text, policy_code text, region text, platform text
)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
RETURN encode(
    sha256(convert_to(
        core.normalized_key_part(feature_code) || chr(31)
        || core.normalized_key_part(policy_code) || chr(31)
        || core.normalized_key_part(region) || chr(31)
        || core.normalized_key_part(platform),
        'UTF8'
    )),
    'hex'
);
COMMENT ON FUNCTION core.normalized_identity_hash(text, text, text, text) IS
    'The identity formula, for key values that are already core.norm_text''s result: '
    'lowercase hex SHA-256 of the UTF-8 bytes of the four key parts joined by U+001F. '
    'core.identity_hash normalizes, then calls it.';

CREATE OR REPLACE FUNCTION core.identity_hash(
    feature_code text, policy_code text, region text, platform text
)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN core.normalized_identity_hash(
    core.norm_text(feature_code), core.norm_text(policy_code), core.norm_text(region),
    core.norm_text(platform)
);
COMMENT ON FUNCTION core.identity_hash(text, text, text, text) IS
    'The record key: lowercase hex SHA-256 of the UTF-8 bytes of the four key parts '
    '(core.key_part) joined by U+001F, i.e. core.normalized_identity_hash of the normalized '
    'values. Recomputable anywhere: see docs/identity-hash.md.';

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
    core.removed_characters(), core.white_space_characters(), core.norm_text(text),
    core.is_clean_row(text[]), core.norm_cell(text, boolean), core.ascii_lower(text),
    core.normalized_key_part(text), core.key_part(text),
    core.normalized_identity_hash(text, text, text, text),
    core.identity_hash(text, text, text, text), core.header_key(text), core.status_key(text),
    core.valid_date(integer, integer, integer), core.parse_date(text)
TO fmw_loader;
GRANT EXECUTE ON FUNCTION core.header_key(text) TO fmw_console;  -- via core.map_headers

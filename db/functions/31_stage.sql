-- Staging, the first part of core.process_batch: one normalized row per raw row of a batch,
-- in pg_temp.fmw_stage. core.stage_batch is the table of contents; each step below it says
-- which temporary tables it reads and writes. Every temporary table is ON COMMIT DROP and is
-- created inside process_batch's transaction, so a failed batch leaves none behind.
--
--   pg_temp.fmw_raw     the batch's raw rows as prints (raw.batch_rows), but not the rows that
--                       are their source's record exactly as it stands (the same print, row
--                       and context, active, nothing to report: most rows of a daily file,
--                       which the batch changes nothing for); each with, when the source
--                       already holds a record with that print, that record's key and hash
--   pg_temp.fmw_norm    the other raw rows, normalized cell by cell
--   pg_temp.fmw_date    each distinct date text once, parsed
--   pg_temp.fmw_status  each distinct status text once, looked up in core.status_synonym
--   pg_temp.fmw_stage   every kept row of fmw_raw: key, values, hashes and what the batch
--                       does with it

CREATE OR REPLACE FUNCTION core.field_columns_of(headers text[])
RETURNS core.field_columns
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    -- By name: jsonb_populate_record fills each field of the type from the key of that name.
    SELECT jsonb_populate_record(
        NULL::core.field_columns, coalesce(jsonb_object_agg(f.field, f.col), '{}'))
    FROM (
        SELECT m.field, min(m.col) AS col
        FROM core.map_headers(headers) AS m
        WHERE m.field IS NOT NULL
        GROUP BY m.field
    ) AS f;
END;
COMMENT ON FUNCTION core.field_columns_of(text[]) IS
    'Internal to core.stage_batch: which column of a file with these headers feeds each field '
    '(core.map_headers; the first such column), NULL for a field the file lacks.';

CREATE OR REPLACE FUNCTION core.row_print_context()
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN (
    SELECT md5(string_agg(pg_get_functiondef(p.oid), E'\n' ORDER BY p.proname))
    FROM pg_proc AS p
    WHERE p.pronamespace = 'core'::regnamespace
      AND (p.proname IN ('removed_characters', 'white_space_characters', 'norm_text',
                         'is_clean_row', 'norm_cell', 'ascii_lower', 'normalized_key_part',
                         'key_part', 'normalized_identity_hash', 'status_key', 'valid_date',
                         'parse_date')
           OR p.proname LIKE 'stage\_%')  -- core.stage_batch and its steps
) || (
    SELECT md5(coalesce(string_agg(s.synonym_key || '=' || s.status, E'\n'
                                   ORDER BY s.synonym_key), ''))
    FROM core.status_synonym AS s
);
COMMENT ON FUNCTION core.row_print_context() IS
    'Internal to core.stage_batch: a digest of what turns raw cells into a record (the code of '
    'the normalization functions and of core.stage_batch''s steps, and the status vocabulary). '
    'It is part of every raw row''s print, so a changed synonym or an upgraded function '
    'normalizes every row again.';

CREATE OR REPLACE FUNCTION core.print_context(headers text[])
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN core.field_columns_of(headers)::text || core.row_print_context();
COMMENT ON FUNCTION core.print_context(text[]) IS
    'What a raw row of a file with these headers is read with: its column mapping '
    '(core.field_columns_of) and core.row_print_context. It changes when an alias changes '
    'which column feeds a field, when a status word changes, or when the code does.';

CREATE OR REPLACE FUNCTION core.batch_print_context(p_batch_id bigint)
RETURNS uuid
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT md5(core.print_context(b.headers))::uuid FROM ops.batch AS b
    WHERE b.batch_id = p_batch_id;
END;
COMMENT ON FUNCTION core.batch_print_context(bigint) IS
    'md5 of core.print_context of the batch''s headers: kept with each source record '
    '(core.source_record.print_context) beside the print of the raw row it was read from. '
    'A later row with the same print and the same context reads to the same record. Slow '
    '(it digests function code): call it once per batch, never per row.';

CREATE OR REPLACE FUNCTION core.stage_batch(p_batch_id bigint)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    b ops.batch;
    c core.field_columns;
BEGIN
    SELECT * INTO STRICT b FROM ops.batch WHERE batch_id = p_batch_id;
    c := core.field_columns_of(b.headers);
    -- Left by a batch processed earlier in the same transaction (ON COMMIT DROP otherwise).
    DROP TABLE IF EXISTS pg_temp.fmw_raw, pg_temp.fmw_stage, pg_temp.fmw_touched;

    -- A re-resolve reads the raw rows of the batch it stages again (ops.batch.raw_batch_id).
    PERFORM core.stage_raw_rows(coalesce(b.raw_batch_id, p_batch_id), b.source,
                                core.batch_print_context(p_batch_id));
    PERFORM core.stage_normalize(c);
    PERFORM core.stage_rejects(p_batch_id, b.headers[c.feature_code]);
    PERFORM core.stage_lookups();
    PERFORM core.stage_rows(b.source);
    PERFORM core.stage_row_issues(p_batch_id, b.headers, c);
    PERFORM core.stage_duplicates(p_batch_id, b.headers[c.feature_code]);
    -- Statistics for the joins of the steps after staging; the counts of `change` let a
    -- day's few changes be joined by index.
    ANALYZE pg_temp.fmw_stage (identity_hash, source_row, change);
END
$$;
COMMENT ON FUNCTION core.stage_batch(bigint) IS
    'Internal to core.process_batch: stages a batch''s raw rows into pg_temp.fmw_stage (rows '
    'known by their print taken from core.source_record, the others normalized), each with '
    'what the source said of its identity before; records rejects, row issues and in-batch '
    'duplicates. Writes pg_temp.fmw_raw and pg_temp.fmw_stage (first dropping the fmw_raw, '
    'fmw_stage and fmw_touched of a batch processed earlier in the transaction); the steps it '
    'calls use pg_temp.fmw_norm, fmw_date and fmw_status, and drop them.';

CREATE OR REPLACE FUNCTION core.stage_raw_rows(p_batch_id bigint, p_source text, p_context uuid)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- Equal prints with an equal context mean equal cells read with the same column mapping,
    -- vocabulary and normalization code (p_context), so the row stages to exactly what the
    -- source's record with that print already holds. Such rows (every unchanged row of a
    -- daily re-load) are not read or normalized again: the landing printed them, and only
    -- new or edited rows are normalized (core.stage_normalize reads their cells).
    CREATE TEMP TABLE fmw_raw ON COMMIT DROP AS
    SELECT
        r.source_row,
        r.raw_print,
        -- Of a known row, only what the steps below read: its values stay in source_record.
        sr.identity_hash, sr.status, sr.status_raw, sr.effective_from_raw, sr.effective_to_raw,
        sr.content_hash, sr.is_active, sr.source_row AS old_source_row
    FROM raw.batch_rows AS b
    CROSS JOIN LATERAL unnest(b.source_rows, b.prints) AS r (source_row, raw_print)
    LEFT JOIN core.source_record AS sr
        ON sr.source = p_source AND sr.raw_print = r.raw_print AND sr.print_context = p_context
    WHERE b.batch_id = p_batch_id
      -- Left out: the record exactly as it stands, with no issue to report. The batch does
      -- nothing with it but count it (most rows of a daily file), so it is not written down
      -- (a million rows cost a second here) and not staged: a row of the batch that is not
      -- in fmw_raw is such a row.
      AND (sr.identity_hash IS NOT NULL AND sr.is_active AND sr.source_row = r.source_row
           AND NOT (sr.status = 'unknown' AND sr.status_raw IS NOT NULL)
           AND sr.effective_from_raw IS NULL AND sr.effective_to_raw IS NULL) IS NOT TRUE;
    -- How few rows are new: core.stage_normalize then fetches their cells by index.
    ANALYZE fmw_raw (identity_hash);
END
$$;
COMMENT ON FUNCTION core.stage_raw_rows(bigint, text, uuid) IS
    'Step 1 of core.stage_batch: looks the print of each raw row of batch p_batch_id (the '
    'batch''s own, or the one a re-resolve stages again; raw.batch_rows) up among the '
    'source''s records read with context p_context (core.batch_print_context). Reads '
    'raw.batch_rows and core.source_record; writes pg_temp.fmw_raw: every row but the records '
    'exactly as they stand (those the batch changes nothing for), with key, hash and issue '
    'texts for rows known by their print.';

CREATE OR REPLACE FUNCTION core.stage_normalize(p_columns core.field_columns)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    CREATE TEMP TABLE fmw_norm ON COMMIT DROP AS
    SELECT
        r.source_row,
        r.raw_print,
        r.cells,
        core.norm_cell(r.cells[p_columns.feature_code], r.clean) AS feature_code,
        core.norm_cell(r.cells[p_columns.feature_name], r.clean) AS feature_name,
        core.norm_cell(r.cells[p_columns.policy_code], r.clean) AS policy_code,
        core.norm_cell(r.cells[p_columns.policy_name], r.clean) AS policy_name,
        core.norm_cell(r.cells[p_columns.status], r.clean) AS status_text,
        core.norm_cell(r.cells[p_columns.region], r.clean) AS region,
        core.norm_cell(r.cells[p_columns.platform], r.clean) AS platform,
        core.norm_cell(r.cells[p_columns.owner], r.clean) AS owner,
        core.norm_cell(r.cells[p_columns.team], r.clean) AS team,
        core.norm_cell(r.cells[p_columns.effective_from], r.clean) AS from_text,
        core.norm_cell(r.cells[p_columns.effective_to], r.clean) AS to_text,
        core.norm_cell(r.cells[p_columns.note], r.clean) AS note
    FROM (
        SELECT fr.source_row, fr.raw_print, c.cells, core.is_clean_row(c.cells) AS clean
        FROM fmw_raw AS fr
        JOIN raw.cells AS c ON c.print = fr.raw_print
        WHERE fr.identity_hash IS NULL
        OFFSET 0  -- a fence: is_clean_row runs once per row, not once per column
    ) AS r;
    -- Statistics only for what later plans join on: sampling the cells arrays and every
    -- text column took longer than the joins they guide.
    ANALYZE fmw_norm (feature_code, status_text, from_text, to_text);
END
$$;
COMMENT ON FUNCTION core.stage_normalize(core.field_columns) IS
    'Step 2 of core.stage_batch: normalizes each cell of the rows not known by their print '
    '(core.norm_cell; a clean row, core.is_clean_row, is taken as it is). Reads '
    'pg_temp.fmw_raw and their cells in raw.cells; writes pg_temp.fmw_norm (text still, '
    'dates and statuses unparsed).';

CREATE OR REPLACE FUNCTION core.stage_rejects(p_batch_id bigint, p_code_header text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- Rows without a feature_code are set aside with the reason; the rest proceeds.
    INSERT INTO core.rejected_row (batch_id, source_row, reason, cells)
    SELECT p_batch_id, n.source_row,
           format('no feature_code (column %s)', coalesce(p_code_header, '?')),
           n.cells
    FROM fmw_norm AS n
    WHERE n.feature_code IS NULL;
END
$$;
COMMENT ON FUNCTION core.stage_rejects(bigint, text) IS
    'Step 3 of core.stage_batch: sets aside the rows without a feature_code, naming the '
    'column (p_code_header). Reads pg_temp.fmw_norm; writes core.rejected_row.';

CREATE OR REPLACE FUNCTION core.stage_lookups()
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- Dates and statuses repeat: look each distinct text up once.
    CREATE TEMP TABLE fmw_date ON COMMIT DROP AS
    SELECT v.text, core.parse_date(v.text) AS day
    FROM (SELECT from_text FROM fmw_norm UNION SELECT to_text FROM fmw_norm) AS v (text)
    WHERE v.text IS NOT NULL;
    CREATE TEMP TABLE fmw_status ON COMMIT DROP AS
    SELECT v.text, syn.status
    FROM (SELECT DISTINCT status_text FROM fmw_norm WHERE status_text IS NOT NULL) AS v (text)
    LEFT JOIN core.status_synonym AS syn ON syn.synonym_key = core.status_key(v.text);
    ANALYZE fmw_date, fmw_status;
END
$$;
COMMENT ON FUNCTION core.stage_lookups() IS
    'Step 4 of core.stage_batch: parses each distinct date text (core.parse_date) and looks '
    'each distinct status text up in core.status_synonym (core.status_key), once each. Reads '
    'pg_temp.fmw_norm; writes pg_temp.fmw_date and pg_temp.fmw_status.';

CREATE OR REPLACE FUNCTION core.stage_rows(p_source text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- Every kept row of fmw_raw: the known ones with key, hash, status and issue
    -- texts only (their values are in core.source_record), the others with their values; each
    -- with whether this source reported its identity as active before (old_active: NULL when
    -- never), what the batch does with it (change: new, changed, moved, same) and whether
    -- the source's status word is another than before (word_changed: shown, not a change).
    CREATE TEMP TABLE fmw_stage ON COMMIT DROP AS
    SELECT
        source_row, raw_print, identity_hash, NULL AS feature_code, NULL AS feature_name,
        NULL AS policy_code, NULL AS policy_name, status, status_raw, NULL AS region,
        NULL AS platform, NULL AS owner, NULL AS team, NULL::date AS effective_from,
        NULL::date AS effective_to, effective_from_raw, effective_to_raw, NULL AS note,
        content_hash, true AS is_known, is_active AS old_active,
        CASE WHEN NOT is_active THEN 'changed'  -- returns as it was: reactivated in place
             WHEN source_row <> old_source_row THEN 'moved'
             ELSE 'same' END AS change,
        false AS word_changed  -- the same print: the same cells, so the same word
    FROM fmw_raw
    WHERE identity_hash IS NOT NULL
    UNION ALL
    SELECT
        m.*, false, o.is_active,
        CASE WHEN o.content_hash IS NULL THEN 'new'
             WHEN NOT o.is_active OR o.content_hash <> m.content_hash THEN 'changed'
             ELSE 'moved' END,  -- same values, written differently: keep the new print
        o.status_raw IS DISTINCT FROM m.status_raw
    FROM (
        SELECT
            n.source_row, n.raw_print,
            core.normalized_identity_hash(n.feature_code, n.policy_code, n.region, n.platform)
                AS identity_hash,
            n.feature_code, n.feature_name, n.policy_code, n.policy_name,
            coalesce(st.status, 'unknown') AS status,
            n.status_text AS status_raw,  -- the source's own word, whatever it means
            n.region, n.platform, n.owner, n.team, fd.day AS effective_from,
            td.day AS effective_to,
            CASE WHEN fd.day IS NULL THEN n.from_text END AS effective_from_raw,
            CASE WHEN td.day IS NULL THEN n.to_text END AS effective_to_raw,
            n.note,
            md5(ROW(n.feature_code, n.feature_name, n.policy_code, n.policy_name,
                    coalesce(st.status, 'unknown'),
                    CASE WHEN st.status IS NULL THEN n.status_text END,
                    n.region, n.platform, n.owner, n.team, fd.day, td.day, n.note)::text
            )::uuid AS content_hash
        FROM fmw_norm AS n
        LEFT JOIN fmw_date AS fd ON fd.text = n.from_text
        LEFT JOIN fmw_date AS td ON td.text = n.to_text
        LEFT JOIN fmw_status AS st ON st.text = n.status_text
        WHERE n.feature_code IS NOT NULL
    ) AS m
    LEFT JOIN core.source_record AS o
        ON o.source = p_source AND o.identity_hash = m.identity_hash;
    DROP TABLE fmw_norm, fmw_date, fmw_status;
END
$$;
COMMENT ON FUNCTION core.stage_rows(text) IS
    'Step 5 of core.stage_batch: one row per kept raw row, with its identity_hash '
    '(core.normalized_identity_hash), content_hash, parsed dates and status, the source''s '
    'status word, and what the batch does with it; only the rows in fmw_raw. Reads '
    'pg_temp.fmw_raw, fmw_norm, fmw_date, fmw_status and core.source_record; writes '
    'pg_temp.fmw_stage; drops fmw_norm, fmw_date and fmw_status.';

CREATE OR REPLACE FUNCTION core.stage_row_issues(
    p_batch_id bigint, p_headers text[], p_columns core.field_columns
)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- Problems in rows that are kept.
    INSERT INTO core.row_issue (batch_id, source_row, column_name, issue, raw_value)
    SELECT p_batch_id, s.source_row, i.column_name, i.issue, i.raw_value
    FROM fmw_stage AS s
    CROSS JOIN LATERAL (
        VALUES
            (p_headers[p_columns.status],
             CASE WHEN s.status = 'unknown' AND s.status_raw IS NOT NULL
                       AND NOT EXISTS (SELECT FROM core.status_synonym AS syn
                                       WHERE syn.synonym_key = core.status_key(s.status_raw))
                  THEN 'unknown status; shown as unknown' END,
             s.status_raw),
            (p_headers[p_columns.effective_from],
             CASE WHEN s.effective_from_raw IS NOT NULL
                  THEN 'unparseable date; effective_from left empty' END,
             s.effective_from_raw),
            (p_headers[p_columns.effective_to],
             CASE WHEN s.effective_to_raw IS NOT NULL
                  THEN 'unparseable date; effective_to left empty' END,
             s.effective_to_raw)
    ) AS i (column_name, issue, raw_value)
    WHERE i.issue IS NOT NULL
      AND (s.status = 'unknown' AND s.status_raw IS NOT NULL
           OR s.effective_from_raw IS NOT NULL
           OR s.effective_to_raw IS NOT NULL);  -- skips the LATERAL for clean rows
END
$$;
COMMENT ON FUNCTION core.stage_row_issues(bigint, text[], core.field_columns) IS
    'Step 6 of core.stage_batch: an issue per unknown status and unparseable date of a kept '
    'row, naming the column as the file heads it. Reads pg_temp.fmw_stage; writes '
    'core.row_issue.';

CREATE OR REPLACE FUNCTION core.stage_duplicates(p_batch_id bigint, p_code_header text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    b ops.batch;
    v_context uuid := core.batch_print_context(p_batch_id);
BEGIN
    SELECT * INTO STRICT b FROM ops.batch WHERE batch_id = p_batch_id;
    -- Several rows of one batch with one identity: the later row wins. A row left out of
    -- fmw_raw (its record as it stands) can share its identity only with a staged one (two
    -- such rows are two records), so only those are looked at; one that loses is added to
    -- fmw_raw, as a row the batch does something with.
    WITH candidate AS (
        SELECT s.identity_hash, s.source_row, true AS staged FROM fmw_stage AS s
        UNION ALL
        -- A staged identity's record that a row left out of fmw_raw repeats in place: its
        -- print, read with this context, at its row.
        SELECT k.identity_hash, k.source_row, false
        FROM (
            SELECT sr.identity_hash, sr.source_row, sr.raw_print
            FROM core.source_record AS sr
            WHERE sr.source = b.source AND sr.print_context = v_context
              AND sr.identity_hash IN (SELECT s.identity_hash FROM fmw_stage AS s)
              AND NOT EXISTS (SELECT FROM fmw_raw AS r WHERE r.source_row = sr.source_row)
            OFFSET 0  -- a fence: most days no record is left here, and the batch's rows below
                      -- are then never read
        ) AS k
        -- Not a join: the planner cannot tell how many rows unnest makes, and a nested loop
        -- over it would unnest the batch once per record; this subquery runs once, hashed.
        WHERE coalesce((k.source_row, k.raw_print) IN (
                  SELECT u.source_row, u.print
                  FROM raw.batch_prints(coalesce(b.raw_batch_id, p_batch_id)) AS u), false)
    ), repeated AS (
        SELECT identity_hash, max(source_row) AS winner
        FROM candidate
        GROUP BY identity_hash
        HAVING count(*) > 1
    ), losers AS (
        INSERT INTO core.row_issue (batch_id, source_row, column_name, issue, raw_value)
        SELECT p_batch_id, c.source_row, p_code_header,
               format('duplicate identity: row %s of this file wins', r.winner), NULL
        FROM candidate AS c
        JOIN repeated AS r USING (identity_hash)
        WHERE c.source_row < r.winner
        ORDER BY c.source_row DESC
        RETURNING source_row
    ), unstaged_losers AS (
        INSERT INTO fmw_raw (source_row, identity_hash)
        SELECT c.source_row, c.identity_hash
        FROM candidate AS c
        JOIN losers AS l USING (source_row)
        WHERE NOT c.staged
    )
    DELETE FROM fmw_stage AS s USING losers AS l WHERE s.source_row = l.source_row;
END
$$;
COMMENT ON FUNCTION core.stage_duplicates(bigint, text) IS
    'Step 7 of core.stage_batch: of several rows with one identity, keeps the last and records '
    'an issue for each earlier one (in column p_code_header). Reads and deletes from '
    'pg_temp.fmw_stage, reads ops.batch, raw.batch_prints, core.source_record and pg_temp.fmw_raw '
    '(a row left out of it that loses is added to it); writes core.row_issue.';

REVOKE EXECUTE ON FUNCTION
    core.field_columns_of(text[]), core.row_print_context(), core.stage_batch(bigint),
    core.print_context(text[]), core.batch_print_context(bigint),
    core.stage_raw_rows(bigint, text, uuid), core.stage_normalize(core.field_columns),
    core.stage_rejects(bigint, text), core.stage_lookups(), core.stage_rows(text),
    core.stage_row_issues(bigint, text[], core.field_columns),
    core.stage_duplicates(bigint, text)
FROM PUBLIC;

-- Batches: register a landed file, then process it into core in one transaction.

CREATE OR REPLACE FUNCTION ops.register_batch(
    p_source text,
    p_priority integer,
    p_file_name text,
    p_file_sha256 text,
    p_file_encoding text,
    p_headers text[],
    p_force boolean DEFAULT false,
    p_full_extract boolean DEFAULT true
)
RETURNS TABLE (batch_id bigint, duplicate_of bigint)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_problem text := core.check_headers(p_headers);
    v_source_changed integer;
BEGIN
    IF v_problem IS NOT NULL THEN
        RAISE EXCEPTION '%', v_problem USING ERRCODE = 'FM002';
    END IF;
    INSERT INTO ops.source AS s (name, priority, resolved_priority)
    VALUES (p_source, p_priority, p_priority)  -- a new source has no records to re-resolve
    ON CONFLICT (name) DO UPDATE
        SET priority = excluded.priority, updated_at = now()
        WHERE s.priority IS DISTINCT FROM excluded.priority;
    GET DIAGNOSTICS v_source_changed = ROW_COUNT;

    -- Only the newest processed batch counts: a file equal to an older one (A, B, A again)
    -- is the source's current truth and must be applied. A new priority must be applied
    -- too, so the same file is processed again when the priority changed.
    SELECT b.batch_id INTO duplicate_of
    FROM (
        SELECT ob.batch_id, ob.file_sha256
        FROM ops.batch AS ob
        WHERE ob.source = p_source AND ob.status = 'processed'
        ORDER BY ob.processed_at DESC, ob.batch_id DESC
        LIMIT 1
    ) AS b
    WHERE b.file_sha256 = p_file_sha256;
    IF duplicate_of IS NOT NULL AND NOT p_force AND v_source_changed = 0 THEN
        batch_id := NULL;
        RETURN NEXT;
        RETURN;
    END IF;

    INSERT INTO ops.batch (source, file_name, file_sha256, file_encoding, headers, full_extract)
    VALUES (p_source, p_file_name, p_file_sha256, p_file_encoding, p_headers, p_full_extract)
    RETURNING ops.batch.batch_id INTO batch_id;
    RETURN NEXT;
END
$$;
COMMENT ON FUNCTION ops.register_batch(text, integer, text, text, text, text[], boolean, boolean) IS
    'Start a batch for a file about to be COPYed into raw.row. Returns (NULL, earlier batch) '
    'when the same file is the newest one processed for this source, unless p_force. Raises '
    'FM002 when the headers cannot be mapped (core.check_headers). p_full_extract = false for '
    'a delta file (nothing is deactivated).';

CREATE OR REPLACE FUNCTION core.history_doc(
    source text, feature_code text, feature_name text, policy_code text, policy_name text,
    status text, status_raw text, region text, platform text, owner text, team text,
    effective_from date, effective_to date, note text, is_active boolean
)
RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE  -- not STRICT, so it is inlined into the caller's query
-- Named fields, not to_jsonb(row) minus the bookkeeping keys: that took 9 us a row, this 5.
RETURN jsonb_build_object(
    'source', source, 'feature_code', feature_code, 'feature_name', feature_name,
    'policy_code', policy_code, 'policy_name', policy_name, 'status', status,
    'status_raw', status_raw, 'region', region, 'platform', platform, 'owner', owner,
    'team', team, 'effective_from', effective_from, 'effective_to', effective_to,
    'note', note, 'is_active', is_active);
COMMENT ON FUNCTION core.history_doc(text, text, text, text, text, text, text, text, text,
                                     text, text, date, date, text, boolean) IS
    'The user-visible fields of a core.record or core.source_record row, as stored in '
    'core.record_history.before/after.';

CREATE OR REPLACE FUNCTION core.row_print_context()
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN (
    SELECT md5(string_agg(pg_get_functiondef(p.oid), E'\n' ORDER BY p.proname))
    FROM pg_proc AS p
    WHERE p.pronamespace = 'core'::regnamespace
      AND p.proname IN ('removed_characters', 'norm_text', 'is_clean_row', 'norm_cell',
                        'ascii_lower', 'status_key', 'key_part', 'valid_date', 'parse_date',
                        'stage_batch')
) || (
    SELECT md5(coalesce(string_agg(s.synonym_key || '=' || s.status, E'\n'
                                   ORDER BY s.synonym_key), ''))
    FROM core.status_synonym AS s
);
COMMENT ON FUNCTION core.row_print_context() IS
    'Internal to core.stage_batch: a digest of what turns raw cells into a record (the '
    'normalization functions'' code and the status vocabulary). It is part of every raw row''s '
    'print, so a changed synonym or an upgraded function normalizes every row again.';

-- Stage 1 of processing: one normalized row per raw row, in a temporary table.
CREATE OR REPLACE FUNCTION core.stage_batch(p_batch_id bigint)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    b ops.batch;
    c record;  -- column of each field, NULL when the file lacks it
    v_context text;
BEGIN
    SELECT * INTO STRICT b FROM ops.batch WHERE batch_id = p_batch_id;
    SELECT
        min(col) FILTER (WHERE field = 'feature_code') AS feature_code,
        min(col) FILTER (WHERE field = 'feature_name') AS feature_name,
        min(col) FILTER (WHERE field = 'policy_code') AS policy_code,
        min(col) FILTER (WHERE field = 'policy_name') AS policy_name,
        min(col) FILTER (WHERE field = 'status') AS status,
        min(col) FILTER (WHERE field = 'region') AS region,
        min(col) FILTER (WHERE field = 'platform') AS platform,
        min(col) FILTER (WHERE field = 'owner') AS owner,
        min(col) FILTER (WHERE field = 'team') AS team,
        min(col) FILTER (WHERE field = 'effective_from') AS effective_from,
        min(col) FILTER (WHERE field = 'effective_to') AS effective_to,
        min(col) FILTER (WHERE field = 'note') AS note
    INTO c
    FROM core.map_headers(b.headers);

    DROP TABLE IF EXISTS pg_temp.fmw_stage, pg_temp.fmw_touched;
    -- The raw row's print: equal prints mean equal cells read with the same column mapping,
    -- vocabulary and normalization code, so the row stages to exactly what the source's
    -- record with that print already holds. Such rows (every unchanged row of a daily
    -- re-load) are not normalized again; only new or edited rows are.
    v_context := c::text || core.row_print_context();
    CREATE TEMP TABLE fmw_raw ON COMMIT DROP AS
    SELECT
        r.source_row,
        r.raw_print,
        CASE WHEN sr.identity_hash IS NULL THEN r.cells END AS cells,  -- only rows to normalize
        -- Of a known row, only what the steps below read: its values stay in source_record.
        sr.identity_hash, sr.status_raw, sr.effective_from_raw, sr.effective_to_raw,
        sr.content_hash, sr.is_active, sr.source_row AS old_source_row
    FROM (
        SELECT rr.source_row, rr.cells, md5(v_context || rr.cells::text)::uuid AS raw_print
        FROM raw.row AS rr
        WHERE rr.batch_id = p_batch_id
        OFFSET 0  -- a fence: the print is computed once per row
    ) AS r
    LEFT JOIN core.source_record AS sr
        ON sr.source = b.source AND sr.raw_print = r.raw_print;

    CREATE TEMP TABLE fmw_norm ON COMMIT DROP AS
    SELECT
        r.source_row,
        r.raw_print,
        r.cells,
        core.norm_cell(r.cells[c.feature_code], r.clean) AS feature_code,
        core.norm_cell(r.cells[c.feature_name], r.clean) AS feature_name,
        core.norm_cell(r.cells[c.policy_code], r.clean) AS policy_code,
        core.norm_cell(r.cells[c.policy_name], r.clean) AS policy_name,
        core.norm_cell(r.cells[c.status], r.clean) AS status_text,
        core.norm_cell(r.cells[c.region], r.clean) AS region,
        core.norm_cell(r.cells[c.platform], r.clean) AS platform,
        core.norm_cell(r.cells[c.owner], r.clean) AS owner,
        core.norm_cell(r.cells[c.team], r.clean) AS team,
        core.norm_cell(r.cells[c.effective_from], r.clean) AS from_text,
        core.norm_cell(r.cells[c.effective_to], r.clean) AS to_text,
        core.norm_cell(r.cells[c.note], r.clean) AS note
    FROM (
        SELECT fr.source_row, fr.raw_print, fr.cells, core.is_clean_row(fr.cells) AS clean
        FROM fmw_raw AS fr
        WHERE fr.cells IS NOT NULL
        OFFSET 0  -- a fence: is_clean_row runs once per row, not once per column
    ) AS r;
    -- Statistics only for what later plans join on: sampling the cells arrays and every
    -- text column took longer than the joins they guide.
    ANALYZE fmw_norm (feature_code, status_text, from_text, to_text);

    -- Rows without a feature_code are set aside with the reason; the rest proceeds.
    INSERT INTO core.rejected_row (batch_id, source_row, reason, cells)
    SELECT p_batch_id, n.source_row,
           format('no feature_code (column %s)', coalesce(b.headers[c.feature_code], '?')),
           n.cells
    FROM fmw_norm AS n
    WHERE n.feature_code IS NULL;

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

    -- Every kept row: the known ones with their key, hash and issue texts only (their
    -- values are already in core.source_record), the others normalized; each with whether
    -- this source reported its identity as active before (old_active: NULL when never) and
    -- what the batch does with it (change: new, changed, moved, same), counted by ANALYZE
    -- so that a day's few changes are looked up by index.
    CREATE TEMP TABLE fmw_stage ON COMMIT DROP AS
    SELECT
        source_row, raw_print, identity_hash, NULL AS feature_code, NULL AS feature_name,
        NULL AS policy_code, NULL AS policy_name, NULL AS status, status_raw, NULL AS region,
        NULL AS platform, NULL AS owner, NULL AS team, NULL::date AS effective_from,
        NULL::date AS effective_to, effective_from_raw, effective_to_raw, NULL AS note,
        content_hash, true AS is_known, is_active AS old_active,
        CASE WHEN NOT is_active THEN 'changed'  -- returns as it was: reactivated in place
             WHEN source_row <> old_source_row THEN 'moved'
             ELSE 'same' END AS change
    FROM fmw_raw
    WHERE identity_hash IS NOT NULL
    UNION ALL
    SELECT
        m.*, false, o.is_active,
        CASE WHEN o.content_hash IS NULL THEN 'new'
             WHEN NOT o.is_active OR o.content_hash <> m.content_hash THEN 'changed'
             ELSE 'moved' END  -- same values, written differently: keep the new print
    FROM (
        SELECT
            n.source_row,
            n.raw_print,
            encode(sha256(convert_to(
                core.ascii_lower(coalesce(n.feature_code, '')) || chr(31)
                || core.ascii_lower(coalesce(n.policy_code, '')) || chr(31)
                || core.ascii_lower(coalesce(n.region, '')) || chr(31)
                || core.ascii_lower(coalesce(n.platform, '')),
                'UTF8')), 'hex') AS identity_hash,
            n.feature_code, n.feature_name, n.policy_code, n.policy_name,
            coalesce(st.status, 'unknown') AS status,
            CASE WHEN st.status IS NULL THEN n.status_text END AS status_raw,
            n.region, n.platform, n.owner, n.team,
            fd.day AS effective_from,
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
        ON o.source = b.source AND o.identity_hash = m.identity_hash;
    DROP TABLE fmw_raw, fmw_norm, fmw_date, fmw_status;

    -- Problems in rows that are kept.
    INSERT INTO core.row_issue (batch_id, source_row, column_name, issue, raw_value)
    SELECT p_batch_id, s.source_row, i.column_name, i.issue, i.raw_value
    FROM fmw_stage AS s
    CROSS JOIN LATERAL (
        VALUES
            (b.headers[c.status],
             CASE WHEN s.status_raw IS NOT NULL THEN 'unknown status; shown as unknown' END,
             s.status_raw),
            (b.headers[c.effective_from],
             CASE WHEN s.effective_from_raw IS NOT NULL
                  THEN 'unparseable date; effective_from left empty' END,
             s.effective_from_raw),
            (b.headers[c.effective_to],
             CASE WHEN s.effective_to_raw IS NOT NULL
                  THEN 'unparseable date; effective_to left empty' END,
             s.effective_to_raw)
    ) AS i (column_name, issue, raw_value)
    WHERE i.issue IS NOT NULL
      AND (s.status_raw IS NOT NULL OR s.effective_from_raw IS NOT NULL
           OR s.effective_to_raw IS NOT NULL);  -- skips the LATERAL for clean rows

    -- Several rows of one batch with one identity: the later row wins.
    WITH repeated AS (
        SELECT identity_hash, max(source_row) AS winner
        FROM fmw_stage
        GROUP BY identity_hash
        HAVING count(*) > 1
    ), losers AS (
        INSERT INTO core.row_issue (batch_id, source_row, column_name, issue, raw_value)
        SELECT p_batch_id, s.source_row, b.headers[c.feature_code],
               format('duplicate identity: row %s of this file wins', r.winner), NULL
        FROM fmw_stage AS s
        JOIN repeated AS r USING (identity_hash)
        WHERE s.source_row < r.winner
        ORDER BY s.source_row DESC
        RETURNING source_row
    )
    DELETE FROM fmw_stage AS s USING losers AS l WHERE s.source_row = l.source_row;
    ANALYZE fmw_stage (identity_hash, source_row, change);
END
$$;
COMMENT ON FUNCTION core.stage_batch(bigint) IS
    'Internal to core.process_batch: stages a batch''s raw rows into pg_temp.fmw_stage (rows '
    'known by their print taken from core.source_record, the others normalized), each with '
    'what the source said of its identity before; records rejects, row issues and in-batch '
    'duplicates.';

CREATE OR REPLACE FUNCTION core.process_batch(
    p_batch_id bigint,
    p_allow_mass_deactivation boolean DEFAULT false
)
RETURNS TABLE (
    batch_id bigint, status text, row_count integer, inserted integer, updated integer,
    unchanged integer, deactivated integer, rejected integer, issues integer, message text
)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET work_mem = '256MB'  -- the joins and sorts over a million-row batch stay in memory
-- A day's few thousand changed identities are looked up by index, not by reading every
-- record: the tables a batch touches are cached or on SSD (1.2 s to 0.35 s at 1M records).
SET random_page_cost = 1.1
AS $$
#variable_conflict use_column
DECLARE
    b ops.batch;
    v_now timestamptz := clock_timestamp();
    v_active integer;
    v_missing integer;
    v_rows integer;
    n_inserted integer := 0;
    n_updated integer := 0;
    n_unchanged integer := 0;
    n_deactivated integer := 0;
    n_rejected integer := 0;
    n_issues integer := 0;
    v_status text := 'processed';
    v_message text;
    v_reprioritized boolean := false;
BEGIN
    SELECT * INTO b FROM ops.batch AS ob WHERE ob.batch_id = p_batch_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'batch % does not exist', p_batch_id USING ERRCODE = 'FM003';
    END IF;
    IF b.status = 'processed' THEN
        RAISE EXCEPTION 'batch % is already processed', p_batch_id USING ERRCODE = 'FM003';
    END IF;
    -- One batch of a source at a time: records of a source change in batch order.
    PERFORM pg_advisory_xact_lock(hashtextextended('fmw.source:' || b.source, 0));
    -- An older file must never overwrite a newer one (approving or retrying late).
    SELECT max(ob.batch_id) INTO v_rows
    FROM ops.batch AS ob
    WHERE ob.source = b.source AND ob.status = 'processed' AND ob.batch_id > p_batch_id;
    IF v_rows IS NOT NULL THEN
        RAISE EXCEPTION 'batch % of % is older than batch %, already processed; load the file '
                        'again if it is really the newest', p_batch_id, b.source, v_rows
            USING ERRCODE = 'FM003';
    END IF;

    BEGIN  -- any error below rolls back to here: no record changes, the batch is marked failed
        SELECT count(*) INTO v_rows FROM raw.row AS r WHERE r.batch_id = p_batch_id;
        PERFORM core.stage_batch(p_batch_id);
        SELECT count(*) INTO n_rejected FROM core.rejected_row AS j WHERE j.batch_id = p_batch_id;

        -- The full-extract guard: refuse to silently deactivate most of a source.
        SELECT count(*) INTO v_active
        FROM core.source_record AS sr
        WHERE sr.source = b.source AND sr.is_active;
        SELECT
            CASE WHEN b.full_extract THEN v_active - count(*) FILTER (WHERE old_active) ELSE 0 END,
            count(*) FILTER (WHERE change = 'new'),
            count(*) FILTER (WHERE change = 'changed'),
            count(*) FILTER (WHERE change IN ('moved', 'same'))
        INTO v_missing, n_inserted, n_updated, n_unchanged
        FROM fmw_stage;
        IF v_missing * 2 > v_active AND NOT p_allow_mass_deactivation THEN
            v_message := format(
                'held: would deactivate %s of %s active records of source %s; '
                'approve with `fmw batch approve %s` if the file really is complete',
                v_missing, v_active, b.source, p_batch_id);
            RAISE EXCEPTION USING ERRCODE = 'FM001', MESSAGE = v_message;
        END IF;

        -- No key: an index maintained row by row costs more than the whole insert.
        CREATE TEMP TABLE fmw_touched (identity_hash text NOT NULL) ON COMMIT DROP;

        -- New identities: a plain INSERT (cheaper than ON CONFLICT at a million rows), in key
        -- order. Keys are hashes: inserted as they come, every row lands on another index
        -- page; sorted, each page fills in turn (a million rows: 12.5 s unsorted, 5.2 s with
        -- the sort). core.record and its history below are inserted in key order too.
        INSERT INTO core.source_record (
            source, identity_hash, feature_code, feature_name, policy_code, policy_name,
            status, status_raw, region, platform, owner, team, effective_from,
            effective_to, note, source_row, content_hash, is_active, first_seen_at,
            last_changed_at, first_batch_id, last_changed_batch_id, raw_print,
            effective_from_raw, effective_to_raw)
        SELECT
            b.source, x.identity_hash, x.feature_code, x.feature_name, x.policy_code,
            x.policy_name, x.status, x.status_raw, x.region, x.platform, x.owner, x.team,
            x.effective_from, x.effective_to, x.note, x.source_row, x.content_hash, true,
            v_now, v_now, p_batch_id, p_batch_id, x.raw_print, x.effective_from_raw,
            x.effective_to_raw
        FROM fmw_stage AS x
        WHERE x.change = 'new'
        ORDER BY x.identity_hash;

        -- Changed or returning identities, as normalized now.
        UPDATE core.source_record AS sr SET
            feature_code = x.feature_code, feature_name = x.feature_name,
            policy_code = x.policy_code, policy_name = x.policy_name,
            status = x.status, status_raw = x.status_raw, region = x.region,
            platform = x.platform, owner = x.owner, team = x.team,
            effective_from = x.effective_from, effective_to = x.effective_to, note = x.note,
            source_row = x.source_row, content_hash = x.content_hash, is_active = true,
            last_changed_at = v_now, last_changed_batch_id = p_batch_id,
            raw_print = x.raw_print, effective_from_raw = x.effective_from_raw,
            effective_to_raw = x.effective_to_raw
        FROM fmw_stage AS x
        WHERE sr.source = b.source AND sr.identity_hash = x.identity_hash
          AND x.change = 'changed' AND NOT x.is_known;
        -- Returning exactly as they left (known by their print): their values are in place.
        UPDATE core.source_record AS sr SET
            source_row = x.source_row, is_active = true,
            last_changed_at = v_now, last_changed_batch_id = p_batch_id
        FROM fmw_stage AS x
        WHERE sr.source = b.source AND sr.identity_hash = x.identity_hash
          AND x.change = 'changed' AND x.is_known;

        -- Identities whose record core.resolve_records must work out: changed or returning
        -- ones, and new to this source but reported by another.
        INSERT INTO fmw_touched
        SELECT x.identity_hash FROM fmw_stage AS x
        WHERE x.change = 'changed'
           OR x.change = 'new'
              AND EXISTS (SELECT FROM core.record AS r WHERE r.identity_hash = x.identity_hash);

        -- Identities no source reported before (every row of a first load) need no
        -- resolving: their record is this source's row, alone and active.
        WITH added AS (
            INSERT INTO core.record (
                identity_hash, feature_code, feature_name, policy_code, policy_name, status,
                status_raw, region, platform, owner, team, effective_from, effective_to, note,
                source, source_row, content_hash, is_active, first_seen_at, last_changed_at,
                last_batch_id, source_count, has_conflict)
            SELECT
                x.identity_hash, x.feature_code, x.feature_name, x.policy_code,
                x.policy_name, x.status, x.status_raw, x.region, x.platform, x.owner, x.team,
                x.effective_from, x.effective_to, x.note, b.source, x.source_row,
                x.content_hash, true, v_now, v_now, p_batch_id, 1, false
            FROM fmw_stage AS x
            WHERE x.change = 'new'
              AND NOT EXISTS (SELECT FROM core.record AS r
                              WHERE r.identity_hash = x.identity_hash)
            ORDER BY x.identity_hash
            RETURNING identity_hash, source, feature_code, feature_name, policy_code,
                      policy_name, status, status_raw, region, platform, owner, team,
                      effective_from, effective_to, note, is_active
        )
        INSERT INTO core.record_history (
            identity_hash, batch_id, changed_at, change, changed_fields, before, after)
        SELECT a.identity_hash, p_batch_id, v_now, 'inserted', '{}', NULL,
               core.history_doc(a.source, a.feature_code, a.feature_name, a.policy_code,
                   a.policy_name, a.status, a.status_raw, a.region, a.platform, a.owner,
                   a.team, a.effective_from, a.effective_to, a.note, a.is_active)
        FROM added AS a;

        -- Unchanged rows keep their hash but may sit at another row of the file now, or be
        -- written differently (another Unicode form, spacing, an unparseable date's text):
        -- those were not known by their print.
        UPDATE core.source_record AS sr
        SET source_row = x.source_row, raw_print = x.raw_print,
            effective_from_raw = x.effective_from_raw, effective_to_raw = x.effective_to_raw
        FROM fmw_stage AS x
        WHERE sr.source = b.source AND sr.identity_hash = x.identity_hash
          AND x.change = 'moved'
          AND (sr.source_row <> x.source_row OR sr.raw_print IS DISTINCT FROM x.raw_print
               OR sr.effective_from_raw IS DISTINCT FROM x.effective_from_raw
               OR sr.effective_to_raw IS DISTINCT FROM x.effective_to_raw);

        IF v_missing > 0 THEN
            WITH gone AS (
                UPDATE core.source_record AS sr
                SET is_active = false, last_changed_at = v_now,
                    last_changed_batch_id = p_batch_id
                WHERE sr.source = b.source AND sr.is_active
                  AND NOT EXISTS (
                      SELECT FROM fmw_stage AS s WHERE s.identity_hash = sr.identity_hash)
                RETURNING sr.identity_hash
            )
            INSERT INTO fmw_touched SELECT identity_hash FROM gone;
            GET DIAGNOSTICS n_deactivated = ROW_COUNT;
        END IF;

        -- A changed priority changes which source every shared record shows.
        IF EXISTS (SELECT FROM ops.source AS src WHERE src.name = b.source
                   AND src.priority IS DISTINCT FROM src.resolved_priority) THEN
            INSERT INTO fmw_touched
            SELECT sr.identity_hash FROM core.source_record AS sr
            WHERE sr.source = b.source
              AND NOT EXISTS (SELECT FROM fmw_touched AS t WHERE t.identity_hash = sr.identity_hash);
            UPDATE ops.source AS src SET resolved_priority = src.priority
            WHERE src.name = b.source;
            v_reprioritized := true;  -- shown sources and snapshot.conflicts may change
        END IF;

        PERFORM core.resolve_records(p_batch_id, v_now);
        -- A batch that grew the source by a tenth or more (a first load) leaves the tables'
        -- statistics stale until autovacuum comes by, and the next batch would read every
        -- record to find its few changes (1.9 s instead of 0.1 s at a million records).
        IF n_inserted * 10 > v_active THEN
            ANALYZE core.source_record, core.record, core.record_history;
        END IF;
        SELECT count(*) INTO n_issues FROM core.row_issue AS i WHERE i.batch_id = p_batch_id;
        IF n_inserted + n_updated + n_deactivated > 0 OR v_reprioritized THEN
            INSERT INTO ops.snapshot_state (singleton, dirty) VALUES (true, true)
            ON CONFLICT (singleton) DO UPDATE SET dirty = true;
        END IF;
    EXCEPTION
        WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS v_message = MESSAGE_TEXT;
            IF SQLSTATE = 'FM001' THEN
                v_status := 'held';
                n_deactivated := v_missing;
            ELSE
                v_status := 'failed';
                v_message := 'failed, no record changed: ' || v_message;
                n_deactivated := NULL;
                n_rejected := NULL;
            END IF;
            n_inserted := NULL; n_updated := NULL; n_unchanged := NULL; n_issues := NULL;
    END;

    UPDATE ops.batch AS ob SET
        status = v_status, row_count = v_rows, inserted = n_inserted, updated = n_updated,
        unchanged = n_unchanged, deactivated = n_deactivated,
        rejected = n_rejected, issues = n_issues, message = v_message, processed_at = v_now
    WHERE ob.batch_id = p_batch_id
    RETURNING ob.batch_id, ob.status, ob.row_count, ob.inserted, ob.updated, ob.unchanged,
              ob.deactivated, ob.rejected, ob.issues, ob.message
    INTO batch_id, status, row_count, inserted, updated, unchanged, deactivated, rejected,
         issues, message;
    RETURN NEXT;
END
$$;
COMMENT ON FUNCTION core.process_batch(bigint, boolean) IS
    'Normalize, deduplicate, upsert and record history for one landed batch, all or nothing. '
    'Returns the counts. A full extract deactivates the source''s records it lacks; one that '
    'would deactivate more than half of them is held (nothing applied) unless '
    'p_allow_mass_deactivation. An error marks the batch failed with the message and changes '
    'no record; failed and held batches can be re-run. A changed source priority re-resolves '
    'every record the source reports.';

-- Recompute the user-visible record of every identity touched by a batch.
CREATE OR REPLACE FUNCTION core.resolve_records(p_batch_id bigint, p_now timestamptz)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    ANALYZE pg_temp.fmw_touched;
    -- Per touched identity: the shown source (active first, then the lowest priority
    -- number), how many active sources report it and whether they disagree. The sort
    -- carries the source rows only; the history documents are built after it.
    CREATE TEMP TABLE fmw_resolved ON COMMIT DROP AS
    SELECT
        (w.shown).*,
        greatest(w.active_sources, 1) AS source_count,
        coalesce(w.versions_differ, false) AS has_conflict,
        core.history_doc((w.shown).source, (w.shown).feature_code, (w.shown).feature_name,
            (w.shown).policy_code, (w.shown).policy_name, (w.shown).status,
            (w.shown).status_raw, (w.shown).region, (w.shown).platform, (w.shown).owner,
            (w.shown).team, (w.shown).effective_from, (w.shown).effective_to, (w.shown).note,
            (w.shown).is_active) AS doc,
        r.identity_hash IS NULL AS is_new,
        r.identity_hash IS NOT NULL AND r.is_active = (w.shown).is_active
            AND r.content_hash = (w.shown).content_hash
            AND r.source = (w.shown).source AS same_record,
        r.source_count AS old_source_count,
        r.has_conflict AS old_has_conflict,
        r.is_active AS was_active,
        CASE WHEN r.identity_hash IS NOT NULL THEN
            core.history_doc(r.source, r.feature_code, r.feature_name, r.policy_code,
                r.policy_name, r.status, r.status_raw, r.region, r.platform, r.owner, r.team,
                r.effective_from, r.effective_to, r.note, r.is_active)
        END AS before_doc
    FROM (
        SELECT DISTINCT ON (sr.identity_hash)
            sr AS shown,
            sr.identity_hash,
            count(*) FILTER (WHERE sr.is_active) OVER same_identity AS active_sources,
            min(sr.content_hash::text) FILTER (WHERE sr.is_active) OVER same_identity
                <> max(sr.content_hash::text) FILTER (WHERE sr.is_active) OVER same_identity
                AS versions_differ
        FROM core.source_record AS sr
        JOIN pg_temp.fmw_touched AS t USING (identity_hash)
        JOIN ops.source AS src ON src.name = sr.source
        WINDOW same_identity AS (PARTITION BY sr.identity_hash)
        ORDER BY sr.identity_hash, sr.is_active DESC, src.priority, sr.source
    ) AS w
    LEFT JOIN core.record AS r USING (identity_hash);

    DELETE FROM fmw_resolved
    WHERE same_record AND old_source_count = source_count AND old_has_conflict = has_conflict;

    INSERT INTO core.record (
        identity_hash, feature_code, feature_name, policy_code, policy_name, status,
        status_raw, region, platform, owner, team, effective_from, effective_to, note, source,
        source_row, content_hash, is_active, first_seen_at, last_changed_at, last_batch_id,
        source_count, has_conflict)
    SELECT
        identity_hash, feature_code, feature_name, policy_code, policy_name, status,
        status_raw, region, platform, owner, team, effective_from, effective_to, note, source,
        source_row, content_hash, is_active, p_now, p_now, p_batch_id, source_count,
        has_conflict
    FROM fmw_resolved
    WHERE is_new;

    -- What users see changed, or only whether other sources agree.
    UPDATE core.record AS r SET
        feature_code = x.feature_code, feature_name = x.feature_name,
        policy_code = x.policy_code, policy_name = x.policy_name,
        status = x.status, status_raw = x.status_raw, region = x.region,
        platform = x.platform, owner = x.owner, team = x.team,
        effective_from = x.effective_from, effective_to = x.effective_to,
        note = x.note, source = x.source, source_row = x.source_row,
        content_hash = x.content_hash, is_active = x.is_active,
        last_changed_at = CASE WHEN x.same_record THEN r.last_changed_at ELSE p_now END,
        last_batch_id = CASE WHEN x.same_record THEN r.last_batch_id ELSE p_batch_id END,
        source_count = x.source_count, has_conflict = x.has_conflict
    FROM fmw_resolved AS x
    WHERE r.identity_hash = x.identity_hash AND NOT x.is_new;

    INSERT INTO core.record_history (
        identity_hash, batch_id, changed_at, change, changed_fields, before, after)
    SELECT
        identity_hash, p_batch_id, p_now,
        CASE
            WHEN is_new THEN 'inserted'
            WHEN was_active AND NOT is_active THEN 'deactivated'
            WHEN NOT was_active AND is_active THEN 'reactivated'
            ELSE 'updated'
        END,
        CASE WHEN is_new THEN '{}'::text[] ELSE ARRAY(
            SELECT a.key FROM jsonb_each(doc) AS a (key, value)
            WHERE before_doc -> a.key IS DISTINCT FROM a.value
            ORDER BY a.key
        ) END,
        before_doc, doc
    FROM fmw_resolved
    WHERE NOT same_record;
    DROP TABLE fmw_resolved;
END
$$;
COMMENT ON FUNCTION core.resolve_records(bigint, timestamptz) IS
    'Internal to core.process_batch: for each touched identity, show the active source with the '
    'lowest priority number in core.record, keep its source_count and has_conflict, and write a '
    'history row when what users see changed.';

CREATE OR REPLACE FUNCTION ops.fail_batch(p_batch_id bigint, p_message text)
RETURNS void
LANGUAGE sql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    UPDATE ops.batch SET status = 'failed', message = p_message, processed_at = now()
    WHERE batch_id = p_batch_id AND status <> 'processed';
END;
COMMENT ON FUNCTION ops.fail_batch(bigint, text) IS
    'Mark a batch failed with a reason (e.g. the loader lost its connection); never touches core.';

REVOKE EXECUTE ON FUNCTION core.stage_batch(bigint), core.resolve_records(bigint, timestamptz)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    ops.register_batch(text, integer, text, text, text, text[], boolean, boolean),
    core.process_batch(bigint, boolean),
    ops.fail_batch(bigint, text)
TO fmw_loader;

CREATE OR REPLACE FUNCTION core.integrity_problems()
RETURNS TABLE (problem text, rows bigint)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT p.problem, p.rows FROM (
        SELECT 'raw.row without its ops.batch', count(*) FROM raw.row AS r
        WHERE NOT EXISTS (SELECT FROM ops.batch AS b WHERE b.batch_id = r.batch_id)
        UNION ALL
        SELECT 'core.source_record with an unknown source, status or batch', count(*)
        FROM core.source_record AS sr
        WHERE NOT EXISTS (SELECT FROM ops.source AS s WHERE s.name = sr.source)
           OR NOT EXISTS (SELECT FROM core.status AS st WHERE st.code = sr.status)
           OR NOT EXISTS (SELECT FROM ops.batch AS b WHERE b.batch_id = sr.first_batch_id)
           OR NOT EXISTS (SELECT FROM ops.batch AS b WHERE b.batch_id = sr.last_changed_batch_id)
        UNION ALL
        SELECT 'core.record with an unknown source, status or batch', count(*)
        FROM core.record AS r
        WHERE NOT EXISTS (SELECT FROM ops.source AS s WHERE s.name = r.source)
           OR NOT EXISTS (SELECT FROM core.status AS st WHERE st.code = r.status)
           OR NOT EXISTS (SELECT FROM ops.batch AS b WHERE b.batch_id = r.last_batch_id)
        UNION ALL
        SELECT 'core.record without the core.source_record it shows', count(*)
        FROM core.record AS r
        WHERE NOT EXISTS (SELECT FROM core.source_record AS sr
                          WHERE sr.identity_hash = r.identity_hash AND sr.source = r.source)
        UNION ALL
        SELECT 'core.record whose source_count or has_conflict disagrees with its sources',
               count(*)
        FROM core.record AS r
        LEFT JOIN (
            SELECT identity_hash, count(*) AS sources,
                   min(content_hash::text) <> max(content_hash::text) AS versions_differ
            FROM core.source_record
            WHERE is_active
            GROUP BY identity_hash
        ) AS a USING (identity_hash)
        WHERE r.source_count <> coalesce(a.sources, 1)
           OR r.has_conflict <> coalesce(a.versions_differ, false)
        UNION ALL
        SELECT 'core.record_history of an unknown record or batch', count(*)
        FROM core.record_history AS h
        WHERE NOT EXISTS (SELECT FROM core.record AS r WHERE r.identity_hash = h.identity_hash)
           OR NOT EXISTS (SELECT FROM ops.batch AS b WHERE b.batch_id = h.batch_id)
    ) AS p (problem, rows)
    WHERE p.rows > 0;
END;
COMMENT ON FUNCTION core.integrity_problems() IS
    'The references the big tables keep without foreign keys (see db/schema/30_core.sql), '
    'checked: no rows means every reference holds.';

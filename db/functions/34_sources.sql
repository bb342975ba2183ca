-- Sources and vocabulary as admins see them: re-resolving records after a vocabulary change,
-- removing a source, accepting a file's new shape, and the reports behind `fmw source list`
-- and `fmw vocab unknown`. Every change goes through core.process_batch (a re-resolve or a
-- removal is a batch: history rows name it), and is recorded in ops.admin_action.

CREATE OR REPLACE FUNCTION core.newest_file_batch(p_source text)
RETURNS ops.batch
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT ob.* FROM ops.batch AS ob
    WHERE ob.source = p_source AND ob.status = 'processed' AND ob.kind <> 'remove'
    ORDER BY ob.processed_at DESC, ob.batch_id DESC
    LIMIT 1;
END;
COMMENT ON FUNCTION core.newest_file_batch(text) IS
    'Internal to the re-resolve: the source''s newest processed batch that read a file (a '
    'load or a re-resolve of one): what the source says now. NULL when it has none.';

CREATE OR REPLACE FUNCTION core.reads_as_now(p_source text)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    -- Rows of the newest file that still print as the source's records do were read with
    -- today's column mapping, vocabulary and code: re-reading them changes nothing. A few rows
    -- tell; a rejected row has no record to match.
    SELECT EXISTS (
        SELECT FROM core.newest_file_batch(p_source) AS b
        CROSS JOIN LATERAL (
            SELECT unnest(br.prints[1:20]) AS print FROM raw.batch_rows AS br
            WHERE br.batch_id = coalesce(b.raw_batch_id, b.batch_id)
        ) AS r
        JOIN core.source_record AS sr
            ON sr.source = p_source AND sr.raw_print = r.print
           AND sr.print_context = core.batch_print_context(b.batch_id)
    );
END;
COMMENT ON FUNCTION core.reads_as_now(text) IS
    'Internal to the re-resolve: true when raw rows of the source''s newest file are known '
    'to its records by their print read with today''s context (core.batch_print_context), so '
    're-reading them would change nothing.';

CREATE OR REPLACE FUNCTION core.file_has_status_word(b ops.batch, p_word text)
RETURNS boolean
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_column integer := (core.field_columns_of(b.headers)).status;  -- once, not per row
BEGIN
    RETURN v_column IS NOT NULL AND EXISTS (
        SELECT FROM raw.row AS r
        WHERE r.batch_id = coalesce(b.raw_batch_id, b.batch_id)
          AND core.status_key(r.cells[v_column]) = core.status_key(p_word)
    );
END
$$;
COMMENT ON FUNCTION core.file_has_status_word(ops.batch, text) IS
    'Internal to the re-resolve: whether a status cell of batch b''s raw rows is the word '
    'p_word (core.status_key): only then can adding or removing that word change its records.';

CREATE OR REPLACE FUNCTION core.reresolve_source(
    p_source text, p_actor text, p_word text, p_read_as_now boolean,
    OUT batch_id bigint, OUT status text, OUT source_changes integer,
    OUT records_changed integer, OUT message text
)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    src ops.source;
    lb ops.batch;  -- the source's newest file: what it says now
    v_shape_problem text;
BEGIN
    -- The lock core.claim_batch takes: no batch of the source is processed meanwhile.
    PERFORM pg_advisory_xact_lock(hashtextextended('fmw.source:' || p_source, 0));
    SELECT * INTO src FROM ops.source AS s WHERE s.name = p_source;
    lb := core.newest_file_batch(p_source);
    IF lb.batch_id IS NULL OR src.removed_at IS NOT NULL THEN
        RETURN;  -- nothing it says: status NULL
    END IF;
    -- Unchanged: its file reads as it did (an alias of a header it lacks), or it read as now
    -- before a status word changed that none of its status cells is.
    IF core.reads_as_now(p_source)
       OR p_read_as_now AND p_word IS NOT NULL AND NOT core.file_has_status_word(lb, p_word) THEN
        status := 'unchanged'; source_changes := 0; records_changed := 0;
        RETURN;
    END IF;
    v_shape_problem := ops.shape_problem(p_source, lb.headers);
    message := coalesce(core.check_headers(lb.headers),
                        CASE WHEN NOT src.accept_shape THEN v_shape_problem END);
    IF message IS NOT NULL THEN
        status := 'refused';
        message := format('its newest file %s (batch %s): %s', lb.file_name, lb.batch_id, message);
        RETURN;
    END IF;
    BEGIN
        INSERT INTO ops.batch AS ob (source, file_name, file_sha256, file_encoding, headers,
                                     full_extract, kind, raw_batch_id, accepted_shape)
        VALUES (p_source, lb.file_name, lb.file_sha256, lb.file_encoding, lb.headers,
                lb.full_extract, 'reresolve', coalesce(lb.raw_batch_id, lb.batch_id),
                src.accept_shape AND v_shape_problem IS NOT NULL)
        RETURNING ob.batch_id INTO batch_id;
        SELECT p.status, p.message, p.inserted + p.updated + p.deactivated
        INTO status, message, source_changes
        FROM core.process_batch(batch_id, false, p_actor) AS p;
        IF status = 'processed' AND source_changes = 0 THEN
            RAISE EXCEPTION USING ERRCODE = 'FM009';  -- nothing changed: leave no batch behind
        END IF;
    EXCEPTION WHEN SQLSTATE 'FM009' THEN
        batch_id := NULL;
        status := 'unchanged';
        source_changes := 0;
    END;
    records_changed := (SELECT count(*) FROM core.record_history AS h
                        WHERE h.batch_id = reresolve_source.batch_id);
END
$$;
COMMENT ON FUNCTION core.reresolve_source(text, text, text, boolean) IS
    'Internal to core.reresolve_sources: stages the raw rows of the source''s newest processed '
    'batch again with today''s vocabulary, as a new batch of kind reresolve processed by '
    'core.process_batch (history rows name it); source_changes counts its source records '
    'inserted, updated or deactivated, records_changed the records users see that changed. '
    'status: processed, held (it would deactivate most records), failed, refused (its headers '
    'no longer load or keep the shape: message says why and what fixes it), unchanged (it '
    'reads as now, core.reads_as_now; or it did before status word p_word changed, '
    'p_read_as_now, and has no cell with that word; or the batch changed nothing and was '
    'rolled back), or NULL (no processed file, or removed). No temporary tables of its own.';

CREATE OR REPLACE FUNCTION core.reresolve_sources(
    p_actor text DEFAULT NULL, p_word text DEFAULT NULL, p_read_as_now text[] DEFAULT '{}'
)
RETURNS TABLE (
    source text, batch_id bigint, status text, source_changes integer,
    records_changed integer, message text
)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_results jsonb := '[]';
BEGIN
    FOR source IN
        SELECT s.name FROM ops.source AS s WHERE s.removed_at IS NULL ORDER BY s.priority, s.name
    LOOP
        SELECT r.batch_id, r.status, r.source_changes, r.records_changed, r.message
        INTO batch_id, status, source_changes, records_changed, message
        FROM core.reresolve_source(source, p_actor, p_word, source = ANY (p_read_as_now)) AS r;
        CONTINUE WHEN status IS NULL;
        v_results := v_results || jsonb_build_object(
            'source', source, 'batch_id', batch_id, 'status', status,
            'source_changes', source_changes, 'records_changed', records_changed,
            'message', message);
        RETURN NEXT;
    END LOOP;
    PERFORM ops.record_admin_action('vocab.apply', 'every source', NULL,
                                    jsonb_build_object('sources', v_results), p_actor);
END
$$;
COMMENT ON FUNCTION core.reresolve_sources(text, text, text[]) IS
    'For admins, after a vocabulary change (`fmw vocab apply`, and `fmw vocab ... add|remove` '
    'unless --later): every source''s records re-staged from the kept raw rows of its newest '
    'processed batch and re-resolved, in the caller''s transaction, with history rows for what '
    'changed (core.reresolve_source). A source that reads as now is skipped. After a change of '
    'status word p_word alone, a source listed in p_read_as_now (core.sources_reading_as_now '
    'before the change) is skipped too when none of its status cells is that word, so a word '
    'costs only the sources that use it. One row per source that has a processed file: its '
    'batch, outcome, how many of its source records and of the records users see changed. A '
    'delta source re-stages its newest batch only. Recorded in ops.admin_action as p_actor.';

CREATE OR REPLACE FUNCTION core.sources_reading_as_now()
RETURNS text[]
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT coalesce(array_agg(s.name ORDER BY s.name), '{}')
    FROM ops.source AS s
    WHERE s.removed_at IS NULL AND core.reads_as_now(s.name);
END;
COMMENT ON FUNCTION core.sources_reading_as_now() IS
    'For admins, just before a status word changes: the sources whose newest file reads as '
    'now (core.reads_as_now), to pass to core.reresolve_sources as p_read_as_now.';

CREATE OR REPLACE FUNCTION ops.remove_source(
    p_source text, p_actor text DEFAULT NULL,
    OUT batch_id bigint, OUT deactivated integer, OUT records_changed integer
)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    src ops.source;
    r record;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('fmw.source:' || p_source, 0));
    SELECT * INTO src FROM ops.source AS s WHERE s.name = p_source FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'source % has never loaded a file; `fmw source list` shows the sources',
                        quote_nullable(p_source) USING ERRCODE = 'FM005';
    ELSIF src.removed_at IS NOT NULL THEN
        RAISE EXCEPTION 'source % was removed already (%)', p_source,
            to_char(src.removed_at, 'YYYY-MM-DD HH24:MI')
            USING ERRCODE = 'FM005';
    END IF;
    -- An empty full extract: every record of the source is deactivated, with history.
    INSERT INTO ops.batch AS ob (source, file_name, headers, full_extract, kind)
    VALUES (p_source, 'fmw source remove', '{}', true, 'remove')
    RETURNING ob.batch_id INTO batch_id;
    SELECT * INTO r FROM core.process_batch(batch_id, true, p_actor);
    IF r.status <> 'processed' THEN
        RAISE EXCEPTION 'source % was not removed: %', p_source, r.message USING ERRCODE = 'FM005';
    END IF;
    deactivated := r.deactivated;
    records_changed := (SELECT count(*) FROM core.record_history AS h
                        WHERE h.batch_id = remove_source.batch_id);
    UPDATE ops.source AS s SET removed_at = now(), shape = NULL, shape_batch_id = NULL,
                               accept_shape = false
    WHERE s.name = p_source;
    PERFORM ops.record_admin_action(
        'source.remove', p_source,
        jsonb_build_object('priority', src.priority, 'shape', src.shape,
                           'active_records', r.deactivated),
        jsonb_build_object('batch_id', batch_id, 'deactivated', r.deactivated,
                           'records_changed', records_changed),
        p_actor);
END
$$;
COMMENT ON FUNCTION ops.remove_source(text, text) IS
    'For admins (`fmw source remove NAME`): deactivates every record of the source, with '
    'history, through a batch of kind remove (an empty full extract); deletes no row. Records '
    'another source also reports show that source. The source''s shape is forgotten, so a file '
    'loaded later declares a new one. Recorded in ops.admin_action as p_actor.';

CREATE OR REPLACE FUNCTION ops.accept_source_shape(p_source text, p_actor text DEFAULT NULL)
RETURNS text[]
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    src ops.source;
BEGIN
    INSERT INTO ops.source (name, resolved_priority) VALUES (p_source, 100)
    ON CONFLICT (name) DO NOTHING;
    SELECT * INTO src FROM ops.source AS s WHERE s.name = p_source FOR UPDATE;
    UPDATE ops.source AS s SET accept_shape = true WHERE s.name = p_source;
    PERFORM ops.record_admin_action(
        'source.accept_shape', p_source,
        jsonb_build_object('shape', src.shape, 'accept_shape', src.accept_shape),
        jsonb_build_object('shape', src.shape, 'accept_shape', true), p_actor);
    RETURN src.shape;
END
$$;
COMMENT ON FUNCTION ops.accept_source_shape(text, text) IS
    'For admins (`fmw source accept-shape NAME`): the source''s next file (or re-resolve) may '
    'declare a new shape: lack or add key fields, lack status, or (a first file) carry columns '
    'that map to no field. Returns the shape until then. Recorded in ops.admin_action.';

REVOKE EXECUTE ON FUNCTION
    core.newest_file_batch(text), core.reads_as_now(text),
    core.file_has_status_word(ops.batch, text), core.sources_reading_as_now(),
    core.reresolve_source(text, text, text, boolean), core.reresolve_sources(text, text, text[]),
    ops.remove_source(text, text), ops.accept_source_shape(text, text)
FROM PUBLIC;

-- Reports: what admins read (the loader may read them too).

CREATE OR REPLACE FUNCTION ops.source_overview()
RETURNS TABLE (
    source text, priority integer, mode text, shape text[], last_batch_id bigint,
    last_file text, last_status text, last_at timestamptz, last_success_at timestamptz,
    active_records bigint, shown_records bigint, accept_shape boolean, removed_at timestamptz
)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT
        s.name, s.priority,
        CASE lf.full_extract WHEN true THEN 'full' WHEN false THEN 'delta' END,
        s.shape, lf.batch_id, lf.file_name, lf.status, coalesce(lf.processed_at, lf.created_at),
        (SELECT max(b.processed_at) FROM ops.batch AS b
         WHERE b.source = s.name AND b.status = 'processed' AND b.kind = 'file'),
        (SELECT count(*) FROM core.source_record AS sr WHERE sr.source = s.name AND sr.is_active),
        (SELECT count(*) FROM core.record AS r WHERE r.source = s.name AND r.is_active),
        s.accept_shape, s.removed_at
    FROM ops.source AS s
    LEFT JOIN LATERAL (
        SELECT * FROM ops.batch AS b
        WHERE b.source = s.name AND b.kind = 'file'
        ORDER BY b.batch_id DESC LIMIT 1
    ) AS lf ON true
    ORDER BY s.priority, s.name;
END;
COMMENT ON FUNCTION ops.source_overview() IS
    'Every source that ever landed a file (`fmw source list`): priority, mode of its newest '
    'file, shape, newest file with its outcome and time, newest successful load, its active '
    'records and how many of them users see from it, and whether it was removed.';

CREATE OR REPLACE FUNCTION core.unknown_headers()
RETURNS TABLE (
    header text, files bigint, sources text[], latest_batch_id bigint, refused boolean
)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT (array_agg(h.header ORDER BY b.batch_id DESC))[1], count(DISTINCT b.batch_id),
           array_agg(DISTINCT b.source ORDER BY b.source), max(b.batch_id),
           bool_or(b.status = 'refused')
    FROM ops.batch AS b
    CROSS JOIN LATERAL unnest(b.headers) AS h (header)
    WHERE b.kind = 'file' AND core.header_key(h.header) IS NOT NULL
      AND NOT EXISTS (SELECT FROM core.header_alias AS a
                      WHERE a.alias_key = core.header_key(h.header))
    GROUP BY core.header_key(h.header)
    ORDER BY max(b.batch_id) DESC, 1;
END;
COMMENT ON FUNCTION core.unknown_headers() IS
    'Headers of loaded or refused files that map to no field now (`fmw vocab unknown`): as '
    'the newest file writes it, how many files carried it, their sources, the newest batch '
    'and whether a refused file carried it. `fmw vocab alias add HEADER FIELD` maps one.';

CREATE OR REPLACE FUNCTION core.unknown_status_words()
RETURNS TABLE (
    word text, typed text, records bigint, sources text[], latest_batch_id bigint
)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    WITH issue AS (
        SELECT i.raw_value, core.status_key(i.raw_value) AS word_key, b.source, i.batch_id
        FROM core.row_issue AS i
        JOIN ops.batch AS b USING (batch_id)
        WHERE i.issue LIKE 'unknown status%' AND i.raw_value IS NOT NULL
    ), showing AS (  -- active records that show unknown because of the word
        SELECT core.status_key(sr.status_raw) AS word_key, count(*) AS records
        FROM core.source_record AS sr
        WHERE sr.is_active AND sr.status = 'unknown' AND sr.status_raw IS NOT NULL
        GROUP BY 1
    )
    SELECT (array_agg(i.raw_value ORDER BY i.batch_id DESC))[1],
           ops.command_word((array_agg(i.raw_value ORDER BY i.batch_id DESC))[1]),
           coalesce(max(s.records), 0), array_agg(DISTINCT i.source ORDER BY i.source),
           max(i.batch_id)
    FROM issue AS i
    LEFT JOIN showing AS s USING (word_key)
    WHERE NOT EXISTS (SELECT FROM core.status_synonym AS syn
                      WHERE syn.synonym_key = i.word_key)
    GROUP BY i.word_key
    ORDER BY coalesce(max(s.records), 0) DESC, max(i.batch_id) DESC;
END;
COMMENT ON FUNCTION core.unknown_status_words() IS
    'Status words that produced a row issue and mean no status now (`fmw vocab unknown`): as '
    'the newest file writes it (and as typed in a command), how many active records show '
    'unknown because of it, the '
    'sources and the newest batch with it. `fmw vocab status add WORD STATUS` maps one.';

CREATE OR REPLACE FUNCTION core.batch_status_words(p_batch_id bigint)
RETURNS TABLE (word text, column_name text, rows bigint)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT i.raw_value, i.column_name, count(*)
    FROM core.row_issue AS i
    WHERE i.batch_id = p_batch_id AND i.issue LIKE 'unknown status%'
    GROUP BY i.raw_value, i.column_name
    ORDER BY count(*) DESC, i.raw_value;
END;
COMMENT ON FUNCTION core.batch_status_words(bigint) IS
    'The status words of one batch that matched no status, with how many rows carried each '
    '(`fmw load` and its dry run, `fmw batch show`).';

GRANT EXECUTE ON FUNCTION
    ops.source_overview(), core.unknown_headers(), core.unknown_status_words(),
    core.batch_status_words(bigint)
TO fmw_loader;
-- The console shows the same, and re-resolves the records a vocabulary change affects.
GRANT EXECUTE ON FUNCTION
    ops.source_overview(), core.unknown_headers(), core.unknown_status_words(),
    core.batch_status_words(bigint), core.sources_reading_as_now(),
    core.reresolve_sources(text, text, text[])
TO fmw_console;

-- Batches: register a landed file, then process it into core in one transaction
-- (core.process_batch below; its steps follow in 31_stage.sql, 32_apply.sql, 33_resolve.sql).

CREATE OR REPLACE FUNCTION ops.batch_lock_key(p_batch_id bigint)
RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN hashtextextended('fmw.batch:' || p_batch_id, 0);
COMMENT ON FUNCTION ops.batch_lock_key(bigint) IS
    'The advisory lock key of a batch''s landing lock: held (session level) by the loader '
    'from ops.register_batch until it has processed the batch, so a landed batch whose lock '
    'is free was interrupted (a killed load, a lost connection).';

CREATE OR REPLACE FUNCTION ops.landing_lock_free(p_batch_id bigint)
RETURNS boolean
LANGUAGE sql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
RETURN pg_try_advisory_xact_lock(ops.batch_lock_key(p_batch_id));
COMMENT ON FUNCTION ops.landing_lock_free(bigint) IS
    'Whether no other session holds the batch''s landing lock (taking it until the end of the '
    'transaction). Used to tell an interrupted landed batch from one in flight.';

CREATE OR REPLACE FUNCTION ops.landing_here(p_batch_id bigint)
RETURNS boolean
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
RETURN EXISTS (
    SELECT FROM pg_catalog.pg_locks AS l
    WHERE l.locktype = 'advisory' AND l.pid = pg_backend_pid() AND l.granted
      AND l.objsubid = 1
      AND l.classid = ((ops.batch_lock_key(p_batch_id) >> 32) & 4294967295)::oid
      AND l.objid = (ops.batch_lock_key(p_batch_id) & 4294967295)::oid);
COMMENT ON FUNCTION ops.landing_here(bigint) IS
    'Whether this session holds the batch''s landing lock, i.e. is the one landing it: '
    'raw.check_landing and ops.note_cells let the loader write for that batch only.';

CREATE OR REPLACE FUNCTION ops.register_batch(
    p_source text,
    p_priority integer,
    p_file_name text,
    p_file_sha256 text,
    p_file_encoding text,
    p_headers text[],
    p_force boolean DEFAULT false,
    p_full_extract boolean DEFAULT true,
    p_accept_shape boolean DEFAULT false
)
RETURNS TABLE (batch_id bigint, duplicate_of bigint, refusal text)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_accepting boolean := p_accept_shape OR coalesce(
        (SELECT s.accept_shape FROM ops.source AS s WHERE s.name = p_source), false);
    v_shape_problem text := ops.shape_problem(p_source, p_headers);
    v_problem text := coalesce(core.check_headers(p_headers),
                               CASE WHEN NOT v_accepting THEN v_shape_problem END);
    v_source_changed integer;
BEGIN
    IF v_problem IS NOT NULL THEN  -- kept as a refused batch: `fmw batch list`, `fmw vocab unknown`
        INSERT INTO ops.source (name, priority, resolved_priority)
        VALUES (p_source, p_priority, p_priority)
        ON CONFLICT (name) DO NOTHING;
        INSERT INTO ops.batch AS ob (source, file_name, file_sha256, file_encoding, headers,
                                     full_extract, status, message, processed_at,
                                     unmapped_columns)
        VALUES (p_source, p_file_name, p_file_sha256, p_file_encoding, p_headers,
                p_full_extract, 'refused', v_problem, now(), core.unmapped_columns(p_headers))
        RETURNING ob.batch_id INTO batch_id;
        refusal := v_problem;
        RETURN NEXT;
        RETURN;
    END IF;
    INSERT INTO ops.source AS s (name, priority, resolved_priority)
    VALUES (p_source, p_priority, p_priority)  -- a new source has no records to re-resolve
    ON CONFLICT (name) DO UPDATE
        SET priority = excluded.priority, updated_at = now()
        WHERE s.priority IS DISTINCT FROM excluded.priority;
    GET DIAGNOSTICS v_source_changed = ROW_COUNT;

    -- The same file of a source is landed by one fmw at a time (held until this landing
    -- commits); one still being landed or processed by another session is refused.
    PERFORM pg_advisory_xact_lock(hashtextextended('fmw.file:' || p_source || p_file_sha256, 0));
    SELECT ob.batch_id INTO duplicate_of
    FROM ops.batch AS ob
    WHERE ob.source = p_source AND ob.file_sha256 = p_file_sha256 AND ob.status = 'landed'
      AND NOT ops.landing_lock_free(ob.batch_id)
    LIMIT 1;
    IF duplicate_of IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'FM004', MESSAGE = format(
            '%s of source %s is being loaded right now as batch %s by another fmw; try again '
            'when it has finished', p_file_name, p_source, duplicate_of);
    END IF;

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

    INSERT INTO ops.batch (source, file_name, file_sha256, file_encoding, headers, full_extract,
                           accepted_shape, unmapped_columns)
    VALUES (p_source, p_file_name, p_file_sha256, p_file_encoding, p_headers, p_full_extract,
            v_accepting AND v_shape_problem IS NOT NULL, core.unmapped_columns(p_headers))
    RETURNING ops.batch.batch_id INTO batch_id;
    -- Held by this session until the loader has processed the batch (or the session ends):
    -- a landed batch whose lock is free was interrupted (ops.mark_interrupted_batches).
    PERFORM pg_advisory_lock(ops.batch_lock_key(batch_id));
    RETURN NEXT;
END
$$;
COMMENT ON FUNCTION ops.register_batch(text, integer, text, text, text, text[], boolean,
                                       boolean, boolean) IS
    'Start a batch for a file about to be landed (raw.land_rows). Returns (NULL, earlier batch, '
    'NULL) when the same file is the newest one processed for this source, unless p_force. '
    'A file whose headers cannot be loaded (core.check_headers) or that breaks its source''s '
    'shape (ops.shape_problem; unless p_accept_shape or `fmw source accept-shape`) becomes a '
    'refused batch: returned with the refusal, which names the command that fixes it. '
    'p_full_extract = false for a delta file (nothing is deactivated). The session that '
    'lands the batch holds its landing lock (ops.batch_lock_key) until it releases it after '
    'processing; the same file while another session lands it raises FM004.';

-- What core.record_history.before/after hold. Callers name every argument (field => value):
-- fifteen fields in a row invite a swapped pair, and tests/integration/test_sql_definitions.py
-- fails when a call passes one positionally or under another field's name. Not STRICT, so it
-- is inlined into the caller's query; jsonb_build_object of named fields rather than
-- to_jsonb(row) minus the bookkeeping keys, which was slower (docs/benchmarks.md).
CREATE OR REPLACE FUNCTION core.history_doc(
    source text, feature_code text, feature_name text, policy_code text, policy_name text,
    status text, status_raw text, region text, platform text, owner text, team text,
    effective_from date, effective_to date, note text, is_active boolean
)
RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE
RETURN jsonb_build_object(
    'source', source, 'feature_code', feature_code, 'feature_name', feature_name,
    'policy_code', policy_code, 'policy_name', policy_name, 'status', status,
    'status_raw', CASE WHEN status = 'unknown' THEN status_raw END, 'region', region, 'platform', platform, 'owner', owner,
    'team', team, 'effective_from', effective_from, 'effective_to', effective_to,
    'note', note, 'is_active', is_active);
COMMENT ON FUNCTION core.history_doc(text, text, text, text, text, text, text, text, text,
                                     text, text, date, date, text, boolean) IS
    'The user-visible fields of a core.record or core.source_record row, as stored in '
    'core.record_history.before/after; status_raw only where the word means no status (a '
    'recognized word is shown, not history). Call it with named arguments (field => row.field).';

-- Processing a batch, one transaction, all or nothing. core.process_batch is the table of
-- contents: claim the batch, stage it (31_stage.sql), count and guard, apply it (32_apply.sql:
-- what the source says, then 33_resolve.sql: what users see), finish. The steps hand rows to
-- each other in temporary tables, each named in the step's COMMENT: pg_temp.fmw_raw (the
-- batch's rows as prints), pg_temp.fmw_stage (the staged rows), pg_temp.fmw_touched
-- (identities to resolve) and pg_temp.fmw_resolved (their records). Its SET work_mem and
-- random_page_cost hold for every step it calls.
CREATE OR REPLACE FUNCTION core.process_batch(
    p_batch_id bigint, p_allow_mass_deactivation boolean DEFAULT false, p_actor text DEFAULT NULL
)
RETURNS TABLE (
    batch_id bigint, status text, row_count integer, inserted integer, updated integer,
    unchanged integer, deactivated integer, rejected integer, issues integer, message text,
    unmapped_columns text[]
)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET work_mem = '256MB'  -- the joins and sorts over a million-row batch stay in memory
SET random_page_cost = 1.1  -- a day's few changes are found by index (docs/benchmarks.md)
AS $$
#variable_conflict use_column
DECLARE
    v_now timestamptz := clock_timestamp();
    b ops.batch;
    v_active integer;  -- the source's active records before the batch
    v_missing integer;  -- how many of them a full extract leaves out
    v_rows integer; n_inserted integer; n_updated integer; n_unchanged integer;
    n_rejected integer; n_deactivated integer; n_issues integer;
    v_reprioritized boolean;
    v_status text := 'processed';
    v_message text;
BEGIN
    b := core.claim_batch(p_batch_id);
    BEGIN  -- any error below rolls back to here: no record changes, the batch is marked failed
        v_rows := coalesce(raw.batch_row_count(coalesce(b.raw_batch_id, p_batch_id)), 0);
        PERFORM core.stage_batch(p_batch_id);
        SELECT s.rejected_rows, s.active_records, s.missing_records, s.new_rows,
               s.changed_rows, s.unchanged_rows
        INTO n_rejected, v_active, v_missing, n_inserted, n_updated, n_unchanged
        FROM core.count_stage(p_batch_id, b.source, b.full_extract) AS s;
        PERFORM core.guard_full_extract(p_batch_id, b.source, v_active, v_missing,
                                        p_allow_mass_deactivation OR b.accepted_shape);
        SELECT a.deactivated, a.reprioritized INTO n_deactivated, v_reprioritized
        FROM core.apply_stage(p_batch_id, b.source, v_now, v_missing > 0) AS a;
        n_issues := core.finish_batch(p_batch_id, n_inserted * 10 > v_active,
                                      n_inserted + n_updated + n_deactivated > 0
                                      OR v_reprioritized);
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS v_message = MESSAGE_TEXT;
        IF SQLSTATE = 'FM001' THEN  -- held by core.guard_full_extract: nothing applied
            v_status := 'held';
            n_deactivated := v_missing;
        ELSE
            v_status := 'failed';
            v_message := 'failed, no record changed: ' || v_message;
            n_deactivated := NULL; n_rejected := NULL;
        END IF;
        n_inserted := NULL; n_updated := NULL; n_unchanged := NULL; n_issues := NULL;
    END;
    PERFORM core.record_rerun(b, v_status, v_message, p_actor);
    RETURN QUERY
    UPDATE ops.batch AS ob SET
        status = v_status, row_count = v_rows, inserted = n_inserted, updated = n_updated,
        unchanged = n_unchanged, deactivated = n_deactivated, rejected = n_rejected,
        issues = n_issues, message = v_message, processed_at = v_now,
        unmapped_columns = core.unmapped_columns(b.headers)
    WHERE ob.batch_id = p_batch_id
    RETURNING ob.batch_id, ob.status, ob.row_count, ob.inserted, ob.updated, ob.unchanged,
              ob.deactivated, ob.rejected, ob.issues, ob.message, ob.unmapped_columns;
END
$$;
COMMENT ON FUNCTION core.process_batch(bigint, boolean, text) IS
    'Normalize, deduplicate, upsert and record history for one landed batch, all or nothing. '
    'Returns the counts and the columns that mapped to no field. A full extract deactivates '
    'the source''s records it lacks; one that would deactivate more than half of them is held '
    '(nothing applied) unless p_allow_mass_deactivation or an admin accepted the file''s new '
    'shape. An error marks the batch failed with the message and changes no record; failed '
    'and held batches can be re-run (`fmw batch retry|approve`, recorded in ops.admin_action '
    'as p_actor). A changed source priority re-resolves every record the source reports. Its '
    'steps hand rows on in pg_temp.fmw_raw, pg_temp.fmw_stage, pg_temp.fmw_touched and '
    'pg_temp.fmw_resolved, all dropped at commit.';

CREATE OR REPLACE FUNCTION core.record_rerun(
    b ops.batch, p_status text, p_message text, p_actor text
)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- Running a held batch again is an admin approving it; a failed one, an admin retrying it.
    IF b.status IN ('held', 'failed', 'interrupted') THEN
        PERFORM ops.record_admin_action(
            CASE b.status WHEN 'held' THEN 'batch.approve' ELSE 'batch.retry' END,
            format('batch %s (%s, %s)', b.batch_id, b.source, b.file_name),
            jsonb_build_object('status', b.status, 'message', b.message),
            jsonb_build_object('status', p_status, 'message', p_message), p_actor);
    END IF;
END
$$;
COMMENT ON FUNCTION core.record_rerun(ops.batch, text, text, text) IS
    'Internal to core.process_batch, after processing: when the batch was held, failed or '
    'interrupted '
    'before (claimed as b), records the approval or retry and its outcome in '
    'ops.admin_action as p_actor. No temporary tables.';

CREATE OR REPLACE FUNCTION core.claim_batch(p_batch_id bigint)
RETURNS ops.batch
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    b ops.batch;
    v_newer bigint;
BEGIN
    SELECT * INTO b FROM ops.batch AS ob WHERE ob.batch_id = p_batch_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'batch % does not exist', p_batch_id USING ERRCODE = 'FM003';
    END IF;
    IF b.status = 'processed' THEN
        RAISE EXCEPTION 'batch % is already processed', p_batch_id USING ERRCODE = 'FM003';
    ELSIF b.status = 'discarded' THEN
        RAISE EXCEPTION 'batch % was discarded: load the file again', p_batch_id
            USING ERRCODE = 'FM003';
    ELSIF b.status = 'refused' THEN
        RAISE EXCEPTION 'batch % was refused, nothing landed: %', p_batch_id, b.message
            USING ERRCODE = 'FM003';
    END IF;
    -- One batch of a source at a time: records of a source change in batch order.
    PERFORM pg_advisory_xact_lock(hashtextextended('fmw.source:' || b.source, 0));
    -- An older file must never overwrite a newer one (approving or retrying late).
    SELECT max(ob.batch_id) INTO v_newer
    FROM ops.batch AS ob
    WHERE ob.source = b.source AND ob.status = 'processed' AND ob.batch_id > p_batch_id;
    IF v_newer IS NOT NULL THEN
        RAISE EXCEPTION 'batch % of % is older than batch %, already processed; load the file '
                        'again if it is really the newest', p_batch_id, b.source, v_newer
            USING ERRCODE = 'FM003';
    END IF;
    RETURN b;
END
$$;
COMMENT ON FUNCTION core.claim_batch(bigint) IS
    'Internal to core.process_batch, before anything changes: locks the batch row and its '
    'source (one batch of a source at a time) and raises FM003 when the batch does not exist, '
    'is processed, refused or discarded already, or is older than a processed batch of its '
    'source. Returns the '
    'batch. No temporary tables.';

CREATE OR REPLACE FUNCTION core.count_stage(
    p_batch_id bigint, p_source text, p_full_extract boolean,
    OUT rejected_rows integer, OUT active_records integer, OUT missing_records integer,
    OUT new_rows integer, OUT changed_rows integer, OUT unchanged_rows integer
)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_same integer;  -- rows not staged: their records exactly as they stand, all active
BEGIN
    -- Every row of the batch is in fmw_raw but those (core.stage_raw_rows).
    SELECT coalesce(raw.batch_row_count(coalesce(b.raw_batch_id, b.batch_id)), 0)
           - (SELECT count(*) FROM pg_temp.fmw_raw)
    INTO v_same
    FROM ops.batch AS b
    WHERE b.batch_id = p_batch_id;
    SELECT count(*) INTO rejected_rows
    FROM core.rejected_row AS j
    WHERE j.batch_id = p_batch_id;
    SELECT count(*) INTO active_records
    FROM core.source_record AS sr
    WHERE sr.source = p_source AND sr.is_active;
    SELECT
        CASE WHEN p_full_extract
             THEN active_records - v_same - count(*) FILTER (WHERE s.old_active)
             ELSE 0 END,
        count(*) FILTER (WHERE s.change = 'new'),
        count(*) FILTER (WHERE s.change = 'changed'),
        v_same + count(*) FILTER (WHERE s.change IN ('moved', 'same'))
    INTO missing_records, new_rows, changed_rows, unchanged_rows
    FROM pg_temp.fmw_stage AS s;
END
$$;
COMMENT ON FUNCTION core.count_stage(bigint, text, boolean) IS
    'Internal to core.process_batch, after staging: the batch''s rejected rows, the source''s '
    'active records before the batch, how many of them a full extract leaves out (0 for a '
    'delta), and the rows that are new, changed, or unchanged (moved, same, or not staged: '
    'left out of pg_temp.fmw_raw). Reads pg_temp.fmw_stage, pg_temp.fmw_raw, ops.batch, '
    'raw.batch_rows, core.rejected_row and core.source_record.';

CREATE OR REPLACE FUNCTION core.guard_full_extract(
    p_batch_id bigint, p_source text, p_active integer, p_missing integer, p_allowed boolean
)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- Refuse to silently deactivate most of a source: a truncated export looks like this.
    IF p_missing * 2 > p_active AND NOT p_allowed THEN
        RAISE EXCEPTION USING ERRCODE = 'FM001', MESSAGE = format(
            'held: would deactivate %s of %s active records of source %s; '
            'approve with `fmw batch approve %s` if the file really is complete',
            p_missing, p_active, p_source, p_batch_id);
    END IF;
END
$$;
COMMENT ON FUNCTION core.guard_full_extract(bigint, text, integer, integer, boolean) IS
    'Internal to core.process_batch: the full-extract guard. Raises FM001 (process_batch then '
    'holds the batch, nothing applied) when more than half of the source''s p_active records '
    'would be deactivated, unless p_allowed (`fmw batch approve`). No temporary tables.';

CREATE OR REPLACE FUNCTION core.finish_batch(
    p_batch_id bigint, p_source_grew boolean, p_core_changed boolean
)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- A batch that grew its source by a tenth or more (a first load) leaves the statistics
    -- stale until autovacuum comes by, and the next batch would read every record to find
    -- its few changes (docs/benchmarks.md).
    IF p_source_grew THEN
        ANALYZE core.source_record, core.record, core.record_history;
    END IF;
    IF p_core_changed THEN  -- snapshot.refresh_plan then lists the views to refresh
        INSERT INTO ops.snapshot_state (singleton, dirty) VALUES (true, true)
        ON CONFLICT (singleton) DO UPDATE SET dirty = true;
    END IF;
    -- The source's first processed file, or one whose new shape an admin accepted, declares
    -- which fields its files carry (ops.shape_problem checks the next files against it).
    UPDATE ops.source AS s SET
        shape = CASE WHEN s.shape IS NULL OR s.accept_shape OR b.accepted_shape
                     THEN core.shape_of(b.headers) ELSE s.shape END,
        shape_batch_id = CASE WHEN s.shape IS NULL OR s.accept_shape OR b.accepted_shape
                              THEN b.batch_id ELSE s.shape_batch_id END,
        accept_shape = false, removed_at = NULL
    FROM ops.batch AS b
    WHERE b.batch_id = p_batch_id AND s.name = b.source AND b.kind <> 'remove';
    RETURN (SELECT count(*) FROM core.row_issue AS i WHERE i.batch_id = p_batch_id);
END
$$;
COMMENT ON FUNCTION core.finish_batch(bigint, boolean, boolean) IS
    'Internal to core.process_batch, last step: ANALYZEs the core tables when the batch grew '
    'its source by a tenth or more, marks the snapshot views stale when core changed, keeps '
    'the source''s shape (declared by its first processed file or an accepted new one; a file '
    'brings a removed source back), and returns the batch''s row issues. No temporary tables.';

CREATE OR REPLACE FUNCTION ops.fail_batch(p_batch_id bigint, p_message text)
RETURNS void
LANGUAGE sql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    UPDATE ops.batch SET status = 'failed', message = p_message, processed_at = now()
    WHERE batch_id = p_batch_id AND status NOT IN ('processed', 'discarded');
END;
COMMENT ON FUNCTION ops.fail_batch(bigint, text) IS
    'Mark a batch failed with a reason (e.g. the loader lost its connection); never touches core.';

CREATE OR REPLACE FUNCTION ops.record_failed_file(
    p_source text,
    p_priority integer,
    p_file_name text,
    p_file_sha256 text,
    p_file_encoding text,
    p_headers text[],
    p_full_extract boolean,
    p_reason text
)
RETURNS bigint
LANGUAGE sql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    INSERT INTO ops.source (name, priority, resolved_priority)
    VALUES (p_source, p_priority, p_priority)
    ON CONFLICT (name) DO NOTHING;
    INSERT INTO ops.batch (source, file_name, file_sha256, file_encoding, headers, full_extract,
                           status, message, processed_at)
    VALUES (p_source, p_file_name, p_file_sha256, p_file_encoding, coalesce(p_headers, '{}'),
            p_full_extract, 'failed', p_reason, now())
    RETURNING batch_id;
END;
COMMENT ON FUNCTION ops.record_failed_file(text, integer, text, text, text, text[], boolean,
                                           text) IS
    'Record a file that could not be read or landed (nothing of it landed) as a failed batch, '
    'so `fmw batch list` shows the attempt: p_reason names the file and, where known, the '
    'row and column. p_file_sha256, p_file_encoding and p_headers are NULL when the file could '
    'not be read that far. Returns the batch.';

CREATE OR REPLACE FUNCTION ops.mark_interrupted_batches()
RETURNS TABLE (batch_id bigint, source text, file_name text, raw_rows bigint)
LANGUAGE sql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    UPDATE ops.batch AS ob SET
        status = 'interrupted', processed_at = now(),
        message = 'interrupted: the fmw that loaded it stopped (killed, or it lost the '
                  'database) before processing it, so no record changed; `fmw batch retry '
                  || ob.batch_id || '` processes its landed rows, `fmw batch discard '
                  || ob.batch_id || '` drops them'
    WHERE ob.status = 'landed' AND ops.landing_lock_free(ob.batch_id)
    RETURNING ob.batch_id, ob.source, ob.file_name,
              coalesce(raw.batch_row_count(ob.batch_id), 0);
END;
COMMENT ON FUNCTION ops.mark_interrupted_batches() IS
    'Mark interrupted every landed batch no session is landing or processing (its landing '
    'lock, ops.batch_lock_key, is free: the loader was killed or lost the database), so an '
    'admin can retry or discard it. `fmw sync`, `fmw load` and `fmw doctor` call it first. '
    'Returns the batches it marked and their landed rows.';

CREATE OR REPLACE FUNCTION ops.discard_batch(p_batch_id bigint, p_actor text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    b ops.batch;
    v_rows bigint;
BEGIN
    SELECT * INTO b FROM ops.batch AS ob WHERE ob.batch_id = p_batch_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'batch % does not exist (see `fmw batch list`)', p_batch_id
            USING ERRCODE = 'FM003';
    ELSIF b.status NOT IN ('interrupted', 'failed', 'held') THEN
        RAISE EXCEPTION 'batch % is %; `fmw batch discard` takes interrupted, failed or held '
                        'batches', p_batch_id, b.status USING ERRCODE = 'FM003';
    END IF;
    -- The batch's list of rows goes; the rows themselves stay in raw.cells, where other
    -- batches may share them.
    DELETE FROM raw.batch_rows AS r WHERE r.batch_id = p_batch_id
    RETURNING cardinality(r.prints) INTO v_rows;
    v_rows := coalesce(v_rows, 0);
    DELETE FROM core.row_issue AS i WHERE i.batch_id = p_batch_id;
    DELETE FROM core.rejected_row AS j WHERE j.batch_id = p_batch_id;
    UPDATE ops.batch AS ob SET status = 'discarded', processed_at = now(),
        message = format('discarded (was %s): %s landed rows dropped, no record changed',
                         b.status, v_rows)
    WHERE ob.batch_id = p_batch_id;
    PERFORM ops.record_admin_action(
        'batch.discard', format('batch %s (%s, %s)', b.batch_id, b.source, b.file_name),
        jsonb_build_object('status', b.status, 'message', b.message, 'raw_rows', v_rows),
        jsonb_build_object('status', 'discarded'), p_actor);
    RETURN v_rows;
END
$$;
COMMENT ON FUNCTION ops.discard_batch(bigint, text) IS
    'An admin gives up on an interrupted, failed or held batch (`fmw batch discard`): its '
    'landed rows and issues are deleted, it becomes discarded, no record changes; recorded in '
    'ops.admin_action as p_actor. Returns how many landed rows were dropped.';

REVOKE EXECUTE ON FUNCTION
    core.claim_batch(bigint), core.count_stage(bigint, text, boolean),
    core.record_rerun(ops.batch, text, text, text),
    core.guard_full_extract(bigint, text, integer, integer, boolean),
    core.finish_batch(bigint, boolean, boolean)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    ops.register_batch(text, integer, text, text, text, text[], boolean, boolean, boolean),
    core.process_batch(bigint, boolean, text),
    ops.fail_batch(bigint, text),
    ops.batch_lock_key(bigint),
    ops.record_failed_file(text, integer, text, text, text, text[], boolean, text),
    ops.mark_interrupted_batches(),
    ops.discard_batch(bigint, text),
    ops.landing_here(bigint)
TO fmw_loader;
-- The console approves a held batch and retries a failed one (as `fmw batch approve/retry`).
GRANT EXECUTE ON FUNCTION core.process_batch(bigint, boolean, text), ops.fail_batch(bigint, text)
TO fmw_console;

CREATE OR REPLACE FUNCTION core.integrity_problems()
RETURNS TABLE (problem text, rows bigint)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT p.problem, p.rows FROM (
        SELECT 'raw.batch_rows without its ops.batch', count(*) FROM raw.batch_rows AS r
        WHERE NOT EXISTS (SELECT FROM ops.batch AS b WHERE b.batch_id = r.batch_id)
        UNION ALL
        SELECT 'raw.batch_rows print without its raw.cells', count(*)
        FROM raw.batch_rows AS r CROSS JOIN LATERAL unnest(r.prints) AS p (print)
        WHERE NOT EXISTS (SELECT FROM raw.cells AS c WHERE c.print = p.print)
        UNION ALL
        SELECT 'ops.batch that landed rows without its kept raw.file', count(*)
        FROM ops.batch AS b
        WHERE b.kind = 'file'  -- files are kept since migration 000017
          AND b.created_at >= (SELECT m.applied_at FROM ops.schema_migration AS m
                               WHERE m.version = 17)
          AND EXISTS (SELECT FROM raw.batch_rows AS r WHERE r.batch_id = b.batch_id)
          AND NOT EXISTS (SELECT FROM raw.file AS f WHERE f.file_sha256 = b.file_sha256)
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
        SELECT 'core.record_tally combinations whose count disagrees with core.record',
               count(*)
        FROM (
            SELECT 1
            FROM (
                SELECT r.team, r.region, r.platform, r.status, r.is_active, count(*)
                FROM core.record AS r
                GROUP BY r.team, r.region, r.platform, r.status, r.is_active
                UNION ALL
                SELECT t.team, t.region, t.platform, t.status, t.is_active, -sum(t.records)
                FROM core.record_tally AS t
                GROUP BY t.team, t.region, t.platform, t.status, t.is_active
            ) AS d (team, region, platform, status, is_active, records)
            GROUP BY d.team, d.region, d.platform, d.status, d.is_active
            HAVING sum(d.records) <> 0
        ) AS off_count
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

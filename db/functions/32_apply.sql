-- Applying a staged batch, the second part of core.process_batch: what the source says goes
-- into core.source_record, identities that need resolving go into pg_temp.fmw_touched (then
-- core.resolve_records, 33_resolve.sql), and identities no source reported before go straight
-- into core.record. core.apply_stage is the table of contents; each step's COMMENT names the
-- temporary tables it reads and writes.

CREATE OR REPLACE FUNCTION core.apply_stage(
    p_batch_id bigint, p_source text, p_now timestamptz, p_some_missing boolean,
    OUT deactivated integer, OUT reprioritized boolean
)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- Updates before inserts: the statistics of core.source_record may not know this source
    -- yet (its first file), and then the updates' joins are planned for a source with no
    -- rows. Planned so after the inserts had added its rows, each join compared every new
    -- row with every staged one: 230 s for a second source's 20,000-row first file.
    PERFORM core.update_source_records(p_batch_id, p_source, p_now);
    PERFORM core.insert_source_records(p_batch_id, p_source, p_now);
    PERFORM core.touch_changed_identities();  -- before insert_new_records adds to core.record
    PERFORM core.insert_new_records(p_batch_id, p_source, p_now);
    deactivated := 0;
    IF p_some_missing THEN  -- a full extract without some of the source's active records
        deactivated := core.deactivate_missing(p_batch_id, p_source, p_now);
    END IF;
    reprioritized := core.touch_reprioritized(p_source);
    PERFORM core.resolve_records(p_batch_id, p_now);
END
$$;
COMMENT ON FUNCTION core.apply_stage(bigint, text, timestamptz, boolean) IS
    'Internal to core.process_batch, after the full-extract guard: writes what the staged '
    'batch says into core.source_record, then what users see into core.record and its '
    'history. Returns the records deactivated and whether the source''s priority changed. '
    'Reads pg_temp.fmw_stage; its steps create, write and read pg_temp.fmw_touched.';

CREATE OR REPLACE FUNCTION core.insert_source_records(
    p_batch_id bigint, p_source text, p_now timestamptz
)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_context uuid := core.batch_print_context(p_batch_id);
BEGIN
    -- A plain INSERT (cheaper than ON CONFLICT at a million rows), in key order. Keys are
    -- hashes: inserted as they come, every row lands on another index page; sorted, each
    -- page fills in turn (docs/benchmarks.md). core.record and its history are inserted in
    -- key order too (core.insert_new_records).
    INSERT INTO core.source_record (
        source, identity_hash, feature_code, feature_name, policy_code, policy_name,
        status, status_raw, region, platform, owner, team, effective_from,
        effective_to, note, source_row, content_hash, is_active, first_seen_at,
        last_changed_at, first_batch_id, last_changed_batch_id, raw_print, print_context,
        effective_from_raw, effective_to_raw)
    SELECT
        p_source, x.identity_hash, x.feature_code, x.feature_name, x.policy_code,
        x.policy_name, x.status, x.status_raw, x.region, x.platform, x.owner, x.team,
        x.effective_from, x.effective_to, x.note, x.source_row, x.content_hash, true,
        p_now, p_now, p_batch_id, p_batch_id, x.raw_print, v_context, x.effective_from_raw,
        x.effective_to_raw
    FROM pg_temp.fmw_stage AS x
    WHERE x.change = 'new'
    ORDER BY x.identity_hash;
END
$$;
COMMENT ON FUNCTION core.insert_source_records(bigint, text, timestamptz) IS
    'Internal to core.process_batch: the identities new to the source, in key order. Reads '
    'pg_temp.fmw_stage (change = new); writes core.source_record.';

CREATE OR REPLACE FUNCTION core.update_source_records(
    p_batch_id bigint, p_source text, p_now timestamptz
)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_context uuid := core.batch_print_context(p_batch_id);
BEGIN
    -- Changed or returning identities, as normalized now.
    UPDATE core.source_record AS sr SET
        feature_code = x.feature_code, feature_name = x.feature_name,
        policy_code = x.policy_code, policy_name = x.policy_name,
        status = x.status, status_raw = x.status_raw, region = x.region,
        platform = x.platform, owner = x.owner, team = x.team,
        effective_from = x.effective_from, effective_to = x.effective_to, note = x.note,
        source_row = x.source_row, content_hash = x.content_hash, is_active = true,
        last_changed_at = p_now, last_changed_batch_id = p_batch_id,
        raw_print = x.raw_print, print_context = v_context,
        effective_from_raw = x.effective_from_raw, effective_to_raw = x.effective_to_raw
    FROM pg_temp.fmw_stage AS x
    WHERE sr.source = p_source AND sr.identity_hash = x.identity_hash
      AND x.change = 'changed' AND NOT x.is_known;
    -- Returning exactly as they left (known by their print): their values are in place.
    UPDATE core.source_record AS sr SET
        source_row = x.source_row, is_active = true,
        last_changed_at = p_now, last_changed_batch_id = p_batch_id
    FROM pg_temp.fmw_stage AS x
    WHERE sr.source = p_source AND sr.identity_hash = x.identity_hash
      AND x.change = 'changed' AND x.is_known;
    -- Unchanged rows keep their hash but may sit at another row of the file now, or be
    -- written differently (another Unicode form, spacing, an unparseable date's text):
    -- those were not known by their print.
    UPDATE core.source_record AS sr
    SET source_row = x.source_row, raw_print = x.raw_print, print_context = v_context,
        status_raw = x.status_raw, effective_from_raw = x.effective_from_raw,
        effective_to_raw = x.effective_to_raw
    FROM pg_temp.fmw_stage AS x
    WHERE sr.source = p_source AND sr.identity_hash = x.identity_hash
      AND x.change = 'moved'
      AND (sr.source_row <> x.source_row OR sr.raw_print IS DISTINCT FROM x.raw_print
           OR sr.print_context IS DISTINCT FROM v_context
           OR x.word_changed
           OR sr.effective_from_raw IS DISTINCT FROM x.effective_from_raw
           OR sr.effective_to_raw IS DISTINCT FROM x.effective_to_raw);
END
$$;
COMMENT ON FUNCTION core.update_source_records(bigint, text, timestamptz) IS
    'Internal to core.process_batch: the source''s known identities the batch changes '
    '(changed values, returning ones reactivated) or only moves (another row of the file, '
    'another print). Reads pg_temp.fmw_stage; writes core.source_record.';

CREATE OR REPLACE FUNCTION core.touch_changed_identities()
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- No key: an index maintained row by row costs more than the whole insert.
    CREATE TEMP TABLE fmw_touched (identity_hash text NOT NULL) ON COMMIT DROP;
    -- Changed or returning identities, identities whose source now writes their status with
    -- another word of the same meaning (the record shows the source's word), and identities
    -- new to this source but reported by another. Before core.insert_new_records, which adds
    -- the identities no one reported.
    INSERT INTO fmw_touched
    SELECT x.identity_hash FROM pg_temp.fmw_stage AS x
    WHERE x.change = 'changed'
       OR x.change = 'moved' AND x.word_changed
       OR x.change = 'new'
          AND EXISTS (SELECT FROM core.record AS r WHERE r.identity_hash = x.identity_hash);
END
$$;
COMMENT ON FUNCTION core.touch_changed_identities() IS
    'Internal to core.process_batch: the identities whose record core.resolve_records must '
    'work out again. Reads pg_temp.fmw_stage and core.record; creates and writes '
    'pg_temp.fmw_touched.';

CREATE OR REPLACE FUNCTION core.insert_new_records(
    p_batch_id bigint, p_source text, p_now timestamptz
)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- Identities no source reported before (every row of a first load) need no resolving:
    -- their record is this source's row, alone and active. In key order, like the
    -- source records.
    WITH added AS (
        INSERT INTO core.record (
            identity_hash, feature_code, feature_name, policy_code, policy_name, status,
            status_raw, region, platform, owner, team, effective_from, effective_to, note,
            source, source_row, content_hash, is_active, first_seen_at, last_changed_at,
            last_batch_id, source_count, has_conflict)
        SELECT
            x.identity_hash, x.feature_code, x.feature_name, x.policy_code,
            x.policy_name, x.status, x.status_raw, x.region, x.platform, x.owner, x.team,
            x.effective_from, x.effective_to, x.note, p_source, x.source_row,
            x.content_hash, true, p_now, p_now, p_batch_id, 1, false
        FROM pg_temp.fmw_stage AS x
        WHERE x.change = 'new'
          AND NOT EXISTS (SELECT FROM core.record AS r WHERE r.identity_hash = x.identity_hash)
        ORDER BY x.identity_hash
        RETURNING identity_hash, source, feature_code, feature_name, policy_code,
                  policy_name, status, status_raw, region, platform, owner, team,
                  effective_from, effective_to, note, is_active
    )
    INSERT INTO core.record_history (
        identity_hash, batch_id, changed_at, change, changed_fields, before, after)
    SELECT a.identity_hash, p_batch_id, p_now, 'inserted', '{}', NULL,
           core.history_doc(
               source => a.source, feature_code => a.feature_code,
               feature_name => a.feature_name, policy_code => a.policy_code,
               policy_name => a.policy_name, status => a.status, status_raw => a.status_raw,
               region => a.region, platform => a.platform, owner => a.owner, team => a.team,
               effective_from => a.effective_from, effective_to => a.effective_to,
               note => a.note, is_active => a.is_active)
    FROM added AS a;
END
$$;
COMMENT ON FUNCTION core.insert_new_records(bigint, text, timestamptz) IS
    'Internal to core.process_batch: identities no source reported before become records '
    'with an ''inserted'' history row, in key order. Reads pg_temp.fmw_stage (change = new) '
    'and core.record; writes core.record and core.record_history.';

CREATE OR REPLACE FUNCTION core.deactivate_missing(
    p_batch_id bigint, p_source text, p_now timestamptz
)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n_deactivated integer;
    v_raw_batch_id bigint := (SELECT coalesce(b.raw_batch_id, b.batch_id) FROM ops.batch AS b
                              WHERE b.batch_id = p_batch_id);
    v_context uuid := core.batch_print_context(p_batch_id);
BEGIN
    -- A full extract lists every active record of its source: the ones it lacks are gone.
    WITH gone AS (
        UPDATE core.source_record AS sr
        SET is_active = false, last_changed_at = p_now, last_changed_batch_id = p_batch_id
        WHERE sr.source = p_source AND sr.is_active
          AND NOT EXISTS (
              SELECT FROM pg_temp.fmw_stage AS s WHERE s.identity_hash = sr.identity_hash)
          -- Nor those a row left out of fmw_raw repeats in place (the record as it stands: its
          -- print, read with this context, at its row). Subqueries, not joins, each run once
          -- and hashed: the planner cannot tell how many rows unnest makes.
          AND NOT (coalesce(sr.print_context = v_context, false)
                   AND sr.source_row NOT IN (SELECT r.source_row FROM pg_temp.fmw_raw AS r)
                   AND coalesce((sr.source_row, sr.raw_print) IN (
                           SELECT u.source_row, u.print
                           FROM raw.batch_prints(v_raw_batch_id) AS u), false))
        RETURNING sr.identity_hash
    )
    INSERT INTO pg_temp.fmw_touched SELECT identity_hash FROM gone;
    GET DIAGNOSTICS n_deactivated = ROW_COUNT;
    RETURN n_deactivated;
END
$$;
COMMENT ON FUNCTION core.deactivate_missing(bigint, text, timestamptz) IS
    'Internal to core.process_batch, for a full extract that lacks some of the source''s '
    'active records: deactivates them and returns how many. Reads pg_temp.fmw_stage and '
    'pg_temp.fmw_raw with the batch''s rows (raw.batch_prints); writes core.source_record '
    'and pg_temp.fmw_touched.';

CREATE OR REPLACE FUNCTION core.touch_reprioritized(p_source text)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM ops.source AS src WHERE src.name = p_source
                   AND src.priority IS DISTINCT FROM src.resolved_priority) THEN
        RETURN false;
    END IF;
    -- A changed priority changes which source every shared record shows.
    INSERT INTO pg_temp.fmw_touched
    SELECT sr.identity_hash FROM core.source_record AS sr
    WHERE sr.source = p_source
      AND NOT EXISTS (
          SELECT FROM pg_temp.fmw_touched AS t WHERE t.identity_hash = sr.identity_hash);
    UPDATE ops.source AS src SET resolved_priority = src.priority WHERE src.name = p_source;
    RETURN true;  -- shown sources and snapshot.conflicts may change
END
$$;
COMMENT ON FUNCTION core.touch_reprioritized(text) IS
    'Internal to core.process_batch: when the source''s priority changed since its records '
    'were last resolved, adds all its identities to the ones to resolve and returns true. '
    'Reads ops.source and core.source_record; writes pg_temp.fmw_touched and '
    'ops.source.resolved_priority.';

REVOKE EXECUTE ON FUNCTION
    core.apply_stage(bigint, text, timestamptz, boolean),
    core.insert_source_records(bigint, text, timestamptz),
    core.update_source_records(bigint, text, timestamptz),
    core.touch_changed_identities(),
    core.insert_new_records(bigint, text, timestamptz),
    core.deactivate_missing(bigint, text, timestamptz),
    core.touch_reprioritized(text)
FROM PUBLIC;

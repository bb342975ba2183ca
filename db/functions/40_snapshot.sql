-- Snapshot refresh and export: which views, in which order, how, and as what CSV.

CREATE OR REPLACE FUNCTION snapshot.refresh_plan(p_force boolean DEFAULT false)
RETURNS TABLE (view_name text, is_concurrent boolean)
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT m.matviewname::text, m.ispopulated
    FROM pg_matviews AS m
    WHERE m.schemaname = 'snapshot'
      AND (p_force
           OR NOT m.ispopulated
           OR coalesce((SELECT dirty FROM ops.snapshot_state), true))
    ORDER BY m.matviewname;
END;
COMMENT ON FUNCTION snapshot.refresh_plan(boolean) IS
    'The materialized views to refresh (the other snapshot views are plain views of tables '
    'core.process_batch keeps current), and how: CONCURRENTLY once populated, so psql readers '
    'are never blocked (each has a unique index). Empty when no batch changed core since the '
    'last refresh, unless p_force.';

-- Folded before each refresh: between two refreshes the tally only grows by the rows of the
-- statements that changed records (a few hundred a day); folding keeps it at one row per
-- combination. Rows a running batch added and has not committed are not visible here, so
-- they are neither deleted nor counted: folding never changes a sum.
CREATE OR REPLACE FUNCTION core.fold_record_tally()
RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    WITH folded AS (
        DELETE FROM core.record_tally RETURNING team, region, platform, status, is_active, records
    )
    INSERT INTO core.record_tally (team, region, platform, status, is_active, records)
    SELECT f.team, f.region, f.platform, f.status, f.is_active, sum(f.records)
    FROM folded AS f
    GROUP BY f.team, f.region, f.platform, f.status, f.is_active
    HAVING sum(f.records) <> 0;
END;
COMMENT ON FUNCTION core.fold_record_tally() IS
    'Folds core.record_tally into one row per combination (dropping those at zero); the sums '
    'stay the same. Called by snapshot.refresh_view.';

CREATE OR REPLACE FUNCTION snapshot.refresh_view(p_view text, p_concurrently boolean)
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_rows bigint;
BEGIN
    IF NOT EXISTS (
        SELECT FROM pg_matviews WHERE schemaname = 'snapshot' AND matviewname = p_view
    ) THEN
        RAISE EXCEPTION 'snapshot.% is not a snapshot view', p_view USING ERRCODE = 'FM004';
    END IF;
    PERFORM core.fold_record_tally();  -- what snapshot.home_summary groups
    EXECUTE format('REFRESH MATERIALIZED VIEW %s snapshot.%I',
                   CASE WHEN p_concurrently THEN 'CONCURRENTLY' ELSE '' END, p_view);
    EXECUTE format('SELECT count(*) FROM snapshot.%I', p_view) INTO v_rows;
    RETURN v_rows;
END
$$;
COMMENT ON FUNCTION snapshot.refresh_view(text, boolean) IS
    'Refresh one snapshot view (run each in its own transaction so a plain refresh locks '
    'readers out only for its own duration), after folding core.record_tally; returns its '
    'row count.';

CREATE OR REPLACE FUNCTION snapshot.mark_refreshed()
RETURNS void
LANGUAGE sql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    INSERT INTO ops.snapshot_state (singleton, refreshed_at, dirty) VALUES (true, now(), false)
    ON CONFLICT (singleton) DO UPDATE SET refreshed_at = now(), dirty = false;
END;
COMMENT ON FUNCTION snapshot.mark_refreshed() IS
    'Record that every snapshot view now reflects core (called after the last refresh_view).';

-- Not STRICT, and no regex: PostgreSQL inlines this CASE into the export query (a STRICT
-- function around a CASE is never inlined), and ascii() reads only the first character.
-- Called once per text cell of every exported row, so its cost is much of the export's
-- (docs/benchmarks.md). NULL gives NULL (ascii(NULL) is NULL, so the ELSE branch).
CREATE OR REPLACE FUNCTION snapshot.csv_safe(value text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE
    -- first character + - = @ tab LF CR; ascii('') is 0
    WHEN ascii(value) IN (43, 45, 61, 64, 9, 10, 13) THEN '''' || value
    ELSE value
END;
COMMENT ON FUNCTION snapshot.csv_safe(text) IS
    'OWASP CSV-injection guard for files people open in Excel: a cell starting with = + - @ '
    'tab, CR or LF gets a leading apostrophe.';

CREATE OR REPLACE FUNCTION snapshot.export_plan()
RETURNS TABLE (file_name text, query text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT m.matviewname || '.csv',
           format(
               'SELECT %s FROM snapshot.%I ORDER BY 1',
               string_agg(
                   CASE
                       -- Lowercase hex by construction (core.record's CHECK), so csv_safe
                       -- could never change it; left bare, ORDER BY 1 reads the primary key
                       -- in order instead of sorting a million computed values on disk.
                       WHEN a.attname = 'identity_hash' THEN quote_ident(a.attname)
                       WHEN a.atttypid IN ('text'::regtype, 'varchar'::regtype)
                           THEN format('snapshot.csv_safe(%1$I) AS %1$I', a.attname)
                       WHEN a.atttypid = 'text[]'::regtype
                           THEN format('snapshot.csv_safe(array_to_string(%1$I, '', '')) AS %1$I',
                                       a.attname)
                       ELSE quote_ident(a.attname)
                   END,
                   ', ' ORDER BY a.attnum),
               m.matviewname)
    FROM (
        SELECT matviewname FROM pg_matviews WHERE schemaname = 'snapshot'
        UNION ALL
        SELECT viewname FROM pg_views WHERE schemaname = 'snapshot'
    ) AS m (matviewname)
    JOIN pg_attribute AS a
        ON a.attrelid = format('snapshot.%I', m.matviewname)::regclass
       AND a.attnum > 0 AND NOT a.attisdropped
    WHERE m.matviewname NOT LIKE 'export\_%'  -- feeds of the export's mapped files
    GROUP BY m.matviewname
    ORDER BY m.matviewname;
END;
COMMENT ON FUNCTION snapshot.export_plan() IS
    'One row per snapshot view (plain or materialized) but the export_ feeds: the CSV file '
    'name and the SELECT that `fmw export --csv` COPYs, with text cells passed through '
    'snapshot.csv_safe (identity_hash, hex by construction, needs none).';

CREATE OR REPLACE FUNCTION snapshot.covered_batches()
RETURNS bigint[]
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT coalesce(array_agg(batch_id ORDER BY batch_id), '{}')
    FROM (
        SELECT max(batch_id) AS batch_id FROM ops.batch WHERE status = 'processed' GROUP BY source
    ) AS newest;
END;
COMMENT ON FUNCTION snapshot.covered_batches() IS
    'The newest processed batch of each source: what a snapshot generation reflects.';

CREATE OR REPLACE FUNCTION snapshot.initial_batches()
RETURNS bigint[]
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT coalesce(array_agg(batch_id ORDER BY batch_id), '{}')
    FROM (
        SELECT min(batch_id) AS batch_id FROM ops.batch WHERE status = 'processed' GROUP BY source
    ) AS first;
END;
COMMENT ON FUNCTION snapshot.initial_batches() IS
    'The first processed batch of each source: its inserts are the source''s initial load, '
    'which snapshot.recent_changes leaves out (the dashboard does the same from a '
    'generation''s history).';

-- Which rows changed since the previous export: the transactions a snapshot taken by that
-- export did not see (pg_visible_in_snapshot). Every committed row version is exported by
-- the first export whose own snapshot sees it, however batches interleave; a sequence or a
-- timestamp high-water mark would miss a batch that commits after a later one started.
CREATE OR REPLACE FUNCTION core.keep_row_xid()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    NEW.row_xid := pg_current_xact_id();
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION core.keep_row_xid() IS
    'Trigger of core.record: an updated row remembers the transaction that updated it '
    '(row_xid), so the next export finds it (snapshot.records_since).';
CREATE OR REPLACE TRIGGER record_row_xid
    BEFORE UPDATE ON core.record
    FOR EACH ROW EXECUTE FUNCTION core.keep_row_xid();

CREATE OR REPLACE FUNCTION snapshot.records_since(p_seen pg_snapshot)
RETURNS SETOF snapshot.current_records
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT v.*
    FROM snapshot.current_records AS v
    WHERE v.identity_hash IN (
        SELECT r.identity_hash
        FROM core.record AS r
        WHERE r.row_xid >= pg_snapshot_xmin(p_seen)  -- cheap; the next line decides
          AND NOT pg_visible_in_snapshot(r.row_xid, p_seen)
    )
    ORDER BY v.identity_hash;
END;
COMMENT ON FUNCTION snapshot.records_since(pg_snapshot) IS
    'The current_records rows inserted or updated by transactions p_seen (the previous '
    'export''s pg_current_snapshot()) did not see, by identity_hash: what a daily export '
    'merges into the previous generation''s records. A scan of core.record''s row_xid.';

CREATE OR REPLACE FUNCTION snapshot.history_since(p_seen pg_snapshot)
RETURNS SETOF snapshot.export_history
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT h.*
    FROM snapshot.export_history AS h
    WHERE h.row_xid >= pg_snapshot_xmin(p_seen)  -- record_history_row_xid_idx
      AND NOT pg_visible_in_snapshot(h.row_xid, p_seen)
    ORDER BY h.history_id;
END;
COMMENT ON FUNCTION snapshot.history_since(pg_snapshot) IS
    'The snapshot.export_history rows inserted by transactions p_seen (the previous '
    'export''s pg_current_snapshot()) did not see, by history_id: a daily export''s new '
    'history segment. A full export reads the view itself (a function''s rows are all '
    'gathered before the first is sent; a view''s stream).';

GRANT EXECUTE ON FUNCTION
    snapshot.refresh_plan(boolean), snapshot.refresh_view(text, boolean),
    snapshot.mark_refreshed()
TO fmw_loader;
GRANT EXECUTE ON FUNCTION
    snapshot.csv_safe(text), snapshot.export_plan(), snapshot.covered_batches(),
    snapshot.initial_batches(), snapshot.records_since(pg_snapshot),
    snapshot.history_since(pg_snapshot)
TO fmw_reader;
REVOKE EXECUTE ON FUNCTION core.keep_row_xid() FROM PUBLIC;

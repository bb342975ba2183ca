-- snapshot: the read models the dashboard export and DBAs read; the only schema fmw_reader
-- can read. Chosen per view (issue: never block psql readers for more than a second):
-- * plain views over tables core.process_batch keeps up to date in the batch's own
--   transaction (current_records, conflicts) or that only grow (record_history,
--   recent_changes): always current, never refreshed, readers never blocked, and a sync's
--   cost grows with its change, not with everything ever loaded;
-- * a materialized view where a read would otherwise aggregate every record
--   (home_summary), refreshed CONCURRENTLY by snapshot.refresh_view; it groups the counts
--   core.record_tally keeps as records change, so a refresh costs what changed.

CREATE SCHEMA snapshot;
COMMENT ON SCHEMA snapshot IS
    'Read models of core for the dashboard export and psql: the only schema fmw_reader can read.';

CREATE VIEW snapshot.current_records AS
SELECT
    r.identity_hash,
    r.feature_code,
    r.feature_name,
    r.policy_code,
    r.policy_name,
    r.status,
    r.status_raw,
    r.region,
    r.platform,
    r.owner,
    r.team,
    r.effective_from,
    r.effective_to,
    r.note,
    r.is_active,
    r.source,
    r.source_row,
    r.first_seen_at,
    r.last_changed_at,
    r.source_count,
    r.has_conflict
FROM core.record AS r;
COMMENT ON VIEW snapshot.current_records IS
    'Every record (active and inactive) as users see it; has_conflict: active sources disagree.';

CREATE MATERIALIZED VIEW snapshot.home_summary AS
SELECT
    CASE
        WHEN GROUPING(t.team) = 0 THEN 'team'
        WHEN GROUPING(t.region) = 0 THEN 'region'
        WHEN GROUPING(t.platform) = 0 THEN 'platform'
        ELSE 'total'
    END AS dimension,
    coalesce(t.team, t.region, t.platform) AS value,
    t.status,
    sum(t.records)::bigint AS records,
    coalesce(sum(t.records) FILTER (WHERE t.is_active), 0)::bigint AS active_records,
    md5(coalesce(t.team, t.region, t.platform))::uuid AS value_key
FROM core.record_tally AS t
GROUP BY GROUPING SETS ((t.status), (t.team, t.status), (t.region, t.status), (t.platform, t.status))
HAVING sum(t.records) <> 0  -- a combination whose records all changed away
WITH NO DATA;
COMMENT ON MATERIALIZED VIEW snapshot.home_summary IS
    'Record counts by status, overall (dimension total) and per team, region and platform; '
    'grouped from core.record_tally, which holds the same counts as core.record.';
COMMENT ON COLUMN snapshot.home_summary.value_key IS
    'md5 of value: what the unique index is on, since a value (up to 32,767 characters as '
    'loaded, more after NFKC) can be longer than a btree index row may be.';
-- Unique so it can be refreshed CONCURRENTLY: a plain refresh would lock psql readers out
-- for as long as the grouping takes. On value_key, not value: a long team
-- name would otherwise fail every refresh, and with it every export.
CREATE UNIQUE INDEX home_summary_key_idx
    ON snapshot.home_summary (dimension, value_key, status) NULLS NOT DISTINCT;

CREATE VIEW snapshot.record_history AS
SELECT
    h.history_id,
    h.identity_hash,
    r.feature_code,
    r.policy_code,
    r.region,
    r.platform,
    h.changed_at,
    h.change,
    h.changed_fields,
    h.before,
    h.after,
    h.batch_id,
    b.source AS batch_source,
    b.file_name AS batch_file
FROM core.record_history AS h
JOIN core.record AS r USING (identity_hash)
JOIN ops.batch AS b USING (batch_id);
COMMENT ON VIEW snapshot.record_history IS
    'Each record''s timeline: what changed (before -> after), when, and which batch/file did it. '
    'Filter on identity_hash or changed_at: core.record_history has indexes for both.';

CREATE VIEW snapshot.export_history AS
SELECT
    h.history_id,
    h.identity_hash,
    h.changed_at,
    -- The record's change before this one (an insert has none): what a past day's view in
    -- the dashboard shows as last_changed_at. One probe of record_history_identity_idx per
    -- row, only for the rows selected.
    CASE WHEN h.change <> 'inserted' THEN (
        SELECT p.changed_at
        FROM core.record_history AS p
        WHERE p.identity_hash = h.identity_hash
          AND (p.changed_at, p.history_id) < (h.changed_at, h.history_id)
        ORDER BY p.changed_at DESC, p.history_id DESC
        LIMIT 1
    ) END AS previous_changed_at,
    h.change,
    array_to_string(h.changed_fields, ', ') AS changed_fields,
    h.before::text AS before,
    h.after::text AS after,
    h.batch_id,
    h.row_xid
FROM core.record_history AS h;
COMMENT ON VIEW snapshot.export_history IS
    'What `fmw export` writes into the dashboard''s history segments: each history row with '
    'the time of its record''s change before (previous_changed_at) and the transaction that '
    'wrote it (row_xid; snapshot.history_since). No CSV file: export_ views feed the export.';

CREATE VIEW snapshot.recent_changes AS
SELECT
    h.history_id,
    h.changed_at,
    h.change,
    h.identity_hash,
    h.feature_code,
    h.policy_code,
    h.region,
    h.platform,
    h.changed_fields,
    h.batch_id,
    h.batch_source
FROM snapshot.record_history AS h
-- A filter on history's own columns, applied before the join to core.record: a batch id is
-- its own source's first processed batch exactly when it is any source's.
WHERE h.change <> 'inserted'
   OR h.batch_id NOT IN (
       SELECT min(b.batch_id) FROM ops.batch AS b WHERE b.status = 'processed' GROUP BY b.source
   );
COMMENT ON VIEW snapshot.recent_changes IS
    'Changes users care about: every history row except the records each source''s first '
    'processed batch inserted (its initial load).';

CREATE VIEW snapshot.conflicts AS
SELECT
    sr.identity_hash,
    sr.feature_code,
    sr.policy_code,
    sr.region,
    sr.platform,
    sr.source,
    src.priority,
    sr.source = r.source AS is_shown,
    sr.status,
    sr.owner,
    sr.team,
    sr.feature_name,
    sr.policy_name,
    sr.effective_from,
    sr.effective_to,
    sr.note
FROM core.record AS r
JOIN core.source_record AS sr USING (identity_hash)
JOIN ops.source AS src ON src.name = sr.source
WHERE r.has_conflict AND sr.is_active;
COMMENT ON VIEW snapshot.conflicts IS
    'For admins: identities whose active sources disagree, one row per source; is_shown marks '
    'the source the record displays (lowest priority number).';

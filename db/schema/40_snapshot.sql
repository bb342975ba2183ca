-- snapshot: materialized views the dashboard export and DBAs read. Refreshed by
-- snapshot.refresh(); never written directly.

CREATE SCHEMA snapshot;
COMMENT ON SCHEMA snapshot IS
    'Read models refreshed after each sync: the only schema fmw_reader can read.';

CREATE MATERIALIZED VIEW snapshot.current_records AS
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
    coalesce(s.sources, 1) AS source_count,
    coalesce(s.versions, 1) > 1 AS has_conflict
FROM core.record AS r
LEFT JOIN (
    SELECT
        identity_hash,
        count(*) AS sources,
        count(DISTINCT content_hash) AS versions
    FROM core.source_record
    WHERE is_active
    GROUP BY identity_hash
    HAVING count(*) > 1
) AS s USING (identity_hash)
WITH NO DATA;
COMMENT ON MATERIALIZED VIEW snapshot.current_records IS
    'Every record (active and inactive) as users see it; has_conflict: active sources disagree.';
CREATE UNIQUE INDEX current_records_identity_idx ON snapshot.current_records (identity_hash);

CREATE MATERIALIZED VIEW snapshot.home_summary AS
SELECT
    CASE
        WHEN GROUPING(r.team) = 0 THEN 'team'
        WHEN GROUPING(r.region) = 0 THEN 'region'
        WHEN GROUPING(r.platform) = 0 THEN 'platform'
        ELSE 'total'
    END AS dimension,
    coalesce(r.team, r.region, r.platform) AS value,
    r.status,
    count(*) AS records,
    count(*) FILTER (WHERE r.is_active) AS active_records
FROM core.record AS r
GROUP BY GROUPING SETS ((r.status), (r.team, r.status), (r.region, r.status), (r.platform, r.status))
WITH NO DATA;
COMMENT ON MATERIALIZED VIEW snapshot.home_summary IS
    'Record counts by status, overall (dimension total) and per team, region and platform.';
-- Unique so it can be refreshed CONCURRENTLY: a plain refresh would lock psql readers out
-- for as long as the grouping over every record takes.
CREATE UNIQUE INDEX home_summary_key_idx
    ON snapshot.home_summary (dimension, value, status) NULLS NOT DISTINCT;

CREATE MATERIALIZED VIEW snapshot.record_history AS
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
JOIN ops.batch AS b USING (batch_id)
WITH NO DATA;
COMMENT ON MATERIALIZED VIEW snapshot.record_history IS
    'Each record''s timeline: what changed (before -> after), when, and which batch/file did it.';
CREATE UNIQUE INDEX record_history_id_idx ON snapshot.record_history (history_id);
CREATE INDEX record_history_identity_idx ON snapshot.record_history (identity_hash, changed_at);

CREATE MATERIALIZED VIEW snapshot.recent_changes AS
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
WHERE h.change <> 'inserted' OR h.batch_id <> (
    SELECT min(b.batch_id) FROM ops.batch AS b WHERE b.source = h.batch_source
)
WITH NO DATA;
COMMENT ON MATERIALIZED VIEW snapshot.recent_changes IS
    'Changes users care about: every history row except the initial load of each source.';
CREATE UNIQUE INDEX recent_changes_id_idx ON snapshot.recent_changes (history_id);

CREATE MATERIALIZED VIEW snapshot.conflicts AS
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
FROM core.source_record AS sr
JOIN ops.source AS src ON src.name = sr.source
JOIN core.record AS r USING (identity_hash)
WHERE sr.is_active
  AND sr.identity_hash IN (
      SELECT identity_hash
      FROM core.source_record
      WHERE is_active
      GROUP BY identity_hash
      HAVING count(DISTINCT content_hash) > 1
  )
WITH NO DATA;
COMMENT ON MATERIALIZED VIEW snapshot.conflicts IS
    'For admins: identities whose active sources disagree, one row per source; is_shown marks '
    'the source the record displays (lowest priority number).';
CREATE INDEX conflicts_identity_idx ON snapshot.conflicts (identity_hash);

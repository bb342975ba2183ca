-- 000005 snapshot views: core.record keeps source_count and has_conflict itself (core.process_batch
-- updates them for every identity a batch touches), so current_records, conflicts,
-- record_history and recent_changes become plain views that are always current: no refresh
-- whose cost grows with everything ever loaded, and no reader ever blocked by one.
-- home_summary stays a materialized view (refreshed CONCURRENTLY). The same SQL as
-- db/schema/30_core.sql and db/schema/40_snapshot.sql.
SET LOCAL ROLE fmw_owner;

ALTER TABLE core.record
    ADD COLUMN source_count integer NOT NULL DEFAULT 1,
    ADD COLUMN has_conflict boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN core.record.source_count IS
    'source_count / has_conflict: how many active sources report the identity (1 when one or '
    'none does) and whether their versions disagree. Kept by core.process_batch for every '
    'identity a batch touches, so snapshot.current_records needs no refresh.';

UPDATE core.record AS r
SET source_count = a.sources, has_conflict = a.versions_differ
FROM (
    SELECT identity_hash, count(*) AS sources,
           min(content_hash::text) <> max(content_hash::text) AS versions_differ
    FROM core.source_record
    WHERE is_active
    GROUP BY identity_hash
) AS a
WHERE a.identity_hash = r.identity_hash AND (a.sources > 1 OR a.versions_differ);
CREATE INDEX record_conflict_idx ON core.record (identity_hash) WHERE has_conflict;

DROP MATERIALIZED VIEW snapshot.recent_changes;
DROP MATERIALIZED VIEW snapshot.record_history;
DROP MATERIALIZED VIEW snapshot.current_records;
DROP MATERIALIZED VIEW snapshot.conflicts;

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
JOIN (
    SELECT b.source, min(b.batch_id) AS first_batch_id FROM ops.batch AS b GROUP BY b.source
) AS f ON f.source = h.batch_source
WHERE h.change <> 'inserted' OR h.batch_id <> f.first_batch_id;
COMMENT ON VIEW snapshot.recent_changes IS
    'Changes users care about: every history row except the initial load of each source.';

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

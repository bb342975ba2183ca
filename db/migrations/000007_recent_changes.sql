-- 000007 recent changes: snapshot.recent_changes filtered history rows only after joining
-- every one of them to core.record, because its filter (the initial load of each source)
-- needed the batch's source: a second of export for a million records, most of them
-- dropped. The filter now reads history's own columns and runs first (0.2 s). The initial
-- load is each source's first *processed* batch: a failed first try inserted nothing, so the
-- next batch's records are no "changes" either. The same SQL as db/schema/40_snapshot.sql.
SET LOCAL ROLE fmw_owner;

CREATE OR REPLACE VIEW snapshot.recent_changes AS
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

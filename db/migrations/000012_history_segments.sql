-- 000012 history segments (issue 14).
-- A daily export now writes only what changed since the generation before it: the records
-- and the history rows a transaction committed after that generation's database snapshot
-- (snapshot.records_since, snapshot.history_since). Each row remembers the transaction that
-- last wrote it: row_xid, set on insert (DEFAULT) and on every UPDATE of core.record (the
-- trigger in db/functions/40_snapshot.sql); history rows are never updated. Existing rows
-- get '0', which every snapshot sees: they were exported before. A BRIN index finds a day's
-- new history rows (they are appended, so their transactions rise with the table's pages)
-- without reading a year of history. The same SQL as db/schema/30_core.sql.
SET LOCAL ROLE fmw_owner;

-- A constant default first, so that adding the column does not rewrite the tables.
ALTER TABLE core.record ADD COLUMN row_xid xid8 NOT NULL DEFAULT '0';
ALTER TABLE core.record ALTER COLUMN row_xid SET DEFAULT pg_current_xact_id();
COMMENT ON COLUMN core.record.row_xid IS
    'The transaction that last inserted or updated the row (the trigger record_row_xid keeps '
    'it on UPDATE): what an export compares with the previous export''s snapshot.';

ALTER TABLE core.record_history ADD COLUMN row_xid xid8 NOT NULL DEFAULT '0';
ALTER TABLE core.record_history ALTER COLUMN row_xid SET DEFAULT pg_current_xact_id();
COMMENT ON COLUMN core.record_history.row_xid IS
    'The transaction that inserted the row: what an export compares with the previous '
    'export''s snapshot (history rows are never updated).';
CREATE INDEX record_history_row_xid_idx ON core.record_history (row_xid);

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

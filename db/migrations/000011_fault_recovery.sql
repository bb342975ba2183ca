-- Issue 15 (second half): every interrupted operation ends in a state an admin can act on,
-- and the loader login may do only what loading needs. The functions this relies on
-- (ops.mark_interrupted_batches, ops.discard_batch, ops.record_failed_file, the landing lock
-- in ops.register_batch) live in db/functions/30_batches.sql, re-applied after migrations.
SET LOCAL ROLE fmw_owner;

-- A batch the loader landed but never processed (killed, or the database went away) is
-- marked interrupted on the next start; an admin retries or discards it.
ALTER TABLE ops.batch DROP CONSTRAINT batch_status_check;
ALTER TABLE ops.batch ADD CONSTRAINT batch_status_check CHECK (status IN (
        'landed',       -- rows are in raw.row, not processed yet
        'processed',    -- applied to core
        'held',         -- would deactivate more than half of the source: waits for an admin
        'failed',       -- an error; message says why, no record changed
        'refused',      -- the file's headers or shape were refused before anything landed
        'interrupted',  -- landed, but the loader stopped before processing it: retry or discard
        'discarded'     -- an admin discarded it (was interrupted, failed or held): rows dropped
    ));
COMMENT ON TABLE ops.batch IS
    'One loaded file, or one re-resolve or removal of a source. landed: rows are in raw.row; '
    'processed: applied to core; held: would deactivate more than half of the source, waiting '
    'for an admin; failed: message says why, no record was changed; refused: its headers or '
    'shape were refused (message says why and which command fixes it), nothing landed; '
    'interrupted: landed, but the loader stopped before processing it (`fmw batch retry` or '
    '`fmw batch discard`); discarded: an admin dropped its landed rows, no record changed.';

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

-- Source names are short identifiers (fmw.settings.SOURCE_NAME): names such as '', 10,000
-- characters, control characters or '../../etc/passwd' were accepted. NOT VALID: a database
-- that holds an older name keeps it; every new source is checked.
ALTER TABLE ops.source ADD CONSTRAINT source_name_check
    CHECK (name ~ '^[a-z][a-z0-9_]{0,62}$') NOT VALID;
COMMENT ON CONSTRAINT source_name_check ON ops.source IS
    'A source name is a lowercase letter, then up to 62 lowercase letters, digits or '
    'underscores: it appears in file names, commands, messages and logs.';

-- Least privilege (issue 15): the loader may land raw rows only into a batch its own session
-- is landing (status landed, landing lock held: ops.landing_here), never into a processed
-- batch's kept rows. Checked once per statement over the rows it inserted, so COPY keeps its
-- speed; fmw_owner's functions (a re-resolve re-stages kept rows) are not checked.
CREATE FUNCTION raw.check_landing()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_batch bigint;
BEGIN
    IF pg_has_role(current_user, 'fmw_owner', 'MEMBER') THEN
        RETURN NULL;
    END IF;
    SELECT n.batch_id INTO v_batch
    FROM (SELECT DISTINCT batch_id FROM new_rows) AS n
    LEFT JOIN ops.batch AS b ON b.batch_id = n.batch_id
    WHERE b.status IS DISTINCT FROM 'landed' OR NOT ops.landing_here(n.batch_id)
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'raw rows go only into a batch this session is landing; batch % is not',
                        v_batch USING ERRCODE = '42501';
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION raw.check_landing() IS
    'Trigger of raw.row (after each INSERT or COPY statement): refuses, as insufficient '
    'privilege, rows of a batch that is not landed or that this session is not landing '
    '(ops.landing_here). fmw_owner and its functions are not checked.';
REVOKE EXECUTE ON FUNCTION raw.check_landing() FROM PUBLIC;  -- fired, never called
CREATE TRIGGER row_landing_check
    AFTER INSERT ON raw.row
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION raw.check_landing();
COMMENT ON TRIGGER row_landing_check ON raw.row IS
    'Least privilege: the loader lands raw rows only into the batch it is landing '
    '(raw.check_landing).';

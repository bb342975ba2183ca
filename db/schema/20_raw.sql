-- raw: every landed row exactly as read, kept so nothing is ever lost.

CREATE SCHEMA raw;
COMMENT ON SCHEMA raw IS 'Landing zone: source rows as text cells, exactly as the loader read them.';

CREATE TABLE raw.row (
    batch_id    bigint  NOT NULL,  -- ops.batch; no FK: a COPY would check it row by row
    source_row  integer NOT NULL,
    cells       text[]  NOT NULL,
    PRIMARY KEY (batch_id, source_row)
);
COMMENT ON TABLE raw.row IS
    'One source row per line, cells in header order (ops.batch.headers). source_row is the '
    'spreadsheet row number a person sees: the header is row 1.';

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

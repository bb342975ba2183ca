-- Landing: a batch's rows go into raw.cells (each distinct row once) and raw.batch_rows (which
-- rows the file had, as prints). Runs as the loader (SECURITY INVOKER): it writes nothing the
-- loader could not write itself, and raw.check_landing and raw.cells' CHECK still hold.

CREATE OR REPLACE FUNCTION raw.land_rows(p_batch_id bigint)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET work_mem = '256MB'  -- a million rows' prints are aggregated and hashed in memory
AS $$
DECLARE
    v_before uuid[];  -- the prints of the source's batch landed before this one
    v_rows integer[];  -- the batch's source rows, then the ones whose cells are looked up
    v_prints uuid[];  -- their prints
    v_count integer;
    v_unreadable boolean;
BEGIN
    SELECT br.prints INTO v_before
    FROM ops.batch AS b
    JOIN ops.batch AS ob ON ob.source = b.source AND ob.batch_id < b.batch_id
    JOIN raw.batch_rows AS br ON br.batch_id = ob.batch_id
    WHERE b.batch_id = p_batch_id
    ORDER BY ob.batch_id DESC
    LIMIT 1;
    -- Each row printed once, in a pass that keeps no cells (carrying a million rows' cells
    -- through a sort or a materialized CTE cost more than printing them).
    SELECT coalesce(array_agg(r.source_row), '{}'), coalesce(array_agg(r.print), '{}'),
           coalesce(bool_or(r.print IS NULL), false)
    INTO v_rows, v_prints, v_unreadable
    FROM (
        SELECT f.source_row, raw.cells_print(f.cells) AS print FROM pg_temp.fmw_rows AS f
        OFFSET 0  -- a fence: printed once per row, not once per aggregate that reads it
    ) AS r;
    IF v_unreadable THEN
        RAISE EXCEPTION USING ERRCODE = 'not_null_violation', MESSAGE = format(
            'batch %s: a row has no cells (the reader found it unreadable); nothing landed',
            p_batch_id);
    END IF;
    INSERT INTO raw.batch_rows (batch_id, source_rows, prints)
    VALUES (p_batch_id, v_rows, v_prints);
    v_count := cardinality(v_rows);
    -- A day's file repeats yesterday's rows where they were: a row with the print its
    -- position had in the source's batch before is stored already. The others (the day's new
    -- and edited rows, or every row after one inserted) have their cells read again and are
    -- stored unless a print index probe finds them; in print order, which fills the index
    -- page by page. Listed first, so that the join below is planned for as many rows as
    -- there are.
    SELECT coalesce(array_agg(u.source_row), '{}'), coalesce(array_agg(u.print), '{}')
    INTO v_rows, v_prints
    FROM unnest(v_rows, v_prints, v_before[1:cardinality(v_rows)])
        AS u (source_row, print, print_before)
    WHERE u.print IS DISTINCT FROM u.print_before;
    INSERT INTO raw.cells (print, cells)
    SELECT n.print, f.cells
    FROM unnest(v_rows, v_prints) AS n (source_row, print)
    JOIN pg_temp.fmw_rows AS f ON f.source_row = n.source_row
    ORDER BY n.print
    ON CONFLICT (print) DO NOTHING;
    RETURN v_count;
END
$$;
COMMENT ON FUNCTION raw.land_rows(bigint) IS
    'Called by the loader while it lands batch p_batch_id, after it has put the file''s rows '
    'in pg_temp.fmw_rows (source_row integer, cells text[]; a table or a view): stores each '
    'row not in raw.cells yet and the batch''s list of rows in raw.batch_rows. A row at the '
    'position where the source''s previous batch had it costs a comparison, not a write. A '
    'row with cells NULL (one the caller found unreadable) fails it with not_null_violation, '
    'and nothing lands. Returns how many rows landed.';

CREATE OR REPLACE FUNCTION raw.batch_row_count(p_batch_id bigint)
RETURNS integer
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT cardinality(br.source_rows) FROM raw.batch_rows AS br WHERE br.batch_id = p_batch_id;
END;
COMMENT ON FUNCTION raw.batch_row_count(bigint) IS
    'How many rows batch p_batch_id landed (raw.batch_rows); NULL when it landed none.';

CREATE OR REPLACE FUNCTION raw.batch_prints(p_batch_id bigint)
RETURNS TABLE (source_row integer, print uuid)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT u.source_row, u.print
    FROM raw.batch_rows AS br
    CROSS JOIN LATERAL unnest(br.source_rows, br.prints) AS u (source_row, print)
    WHERE br.batch_id = p_batch_id;
END;
COMMENT ON FUNCTION raw.batch_prints(bigint) IS
    'The rows batch p_batch_id landed, one per line: file row and print (raw.batch_rows). '
    'Not inlined: ask it once, in a subquery PostgreSQL hashes, not per row of a join.';

GRANT EXECUTE ON FUNCTION raw.land_rows(bigint), raw.batch_row_count(bigint) TO fmw_loader;

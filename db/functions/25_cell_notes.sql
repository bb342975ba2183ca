-- Cell notes: what the loader's reader did with a cell that a person must hear about (a merged
-- cell whose value it copied down, a formula saved without its value). Data about the file,
-- not a rule: filed as row issues like those core.process_batch finds, so `fmw batch show` and
-- the batch's issue count name every such cell.

CREATE OR REPLACE FUNCTION ops.note_cells(
    p_batch_id bigint, p_rows integer[], p_columns integer[], p_notes text[], p_values text[]
)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_headers text[];
    v_count integer;
BEGIN
    -- Only a batch still being landed: a processed batch's issues are its own record.
    SELECT b.headers INTO v_headers
    FROM ops.batch AS b
    WHERE b.batch_id = p_batch_id AND b.status = 'landed'
      AND (ops.landing_here(p_batch_id) OR pg_has_role(session_user, 'fmw_owner', 'MEMBER'));
    IF NOT FOUND THEN
        RAISE EXCEPTION 'batch % is not being landed by this session: cells can be noted only '
                        'while landing', p_batch_id USING ERRCODE = '42501';
    END IF;
    INSERT INTO core.row_issue (batch_id, source_row, column_name, issue, raw_value)
    SELECT p_batch_id, n.source_row, v_headers[n.column_number], n.note, n.raw_value
    FROM unnest(p_rows, p_columns, p_notes, p_values)
        AS n (source_row, column_number, note, raw_value);
    GET DIAGNOSTICS v_count = ROW_COUNT;
    RETURN v_count;
END
$$;
COMMENT ON FUNCTION ops.note_cells(bigint, integer[], integer[], text[], text[]) IS
    'Called by the loader while it lands batch p_batch_id: files the reader''s notes about '
    'cells (the i-th note is about row p_rows[i], column p_columns[i], 1-based in header order; '
    'p_values[i] is the value landed or the formula left out) as core.row_issue rows under the '
    'column''s header. Refused (insufficient privilege) unless this session is landing the '
    'batch (ops.landing_here; fmw_owner may) and it is still landed. Returns how many.';

GRANT EXECUTE ON FUNCTION ops.note_cells(bigint, integer[], integer[], text[], text[])
TO fmw_loader;

-- Header mapping: which file column feeds which canonical field, and whether a file's
-- headers can be loaded at all (core.check_headers) and as the shape its source declared
-- (ops.shape_problem). Refusals name the command that fixes them, never a table.

CREATE OR REPLACE FUNCTION core.map_headers(headers text[])
RETURNS TABLE (col integer, header text, field text)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT h.col::integer, h.header, a.field
    FROM unnest(headers) WITH ORDINALITY AS h (header, col)
    LEFT JOIN core.header_alias AS a ON a.alias_key = core.header_key(h.header)
    ORDER BY h.col;
END;
COMMENT ON FUNCTION core.map_headers(text[]) IS
    'For each header cell (1-based column), the canonical field it maps to, or NULL when '
    'core.header_alias has no match (that column is ignored).';

CREATE OR REPLACE FUNCTION core.unmapped_columns(headers text[])
RETURNS text[]
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT coalesce(array_agg(m.header ORDER BY m.col), '{}')
    FROM core.map_headers(headers) AS m
    WHERE m.field IS NULL;
END;
COMMENT ON FUNCTION core.unmapped_columns(text[]) IS
    'The headers, in file order, that map to no field: their cells are not loaded. '
    '`fmw vocab alias add HEADER FIELD` makes one map.';

CREATE OR REPLACE FUNCTION core.shape_of(headers text[])
RETURNS text[]
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT coalesce(array_agg(DISTINCT m.field ORDER BY m.field), '{}')
    FROM core.map_headers(headers) AS m
    WHERE m.field IS NOT NULL;
END;
COMMENT ON FUNCTION core.shape_of(text[]) IS
    'A file''s shape: the fields its headers map to, sorted (see ops.source.shape).';

CREATE OR REPLACE FUNCTION core.check_headers(headers text[])
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT coalesce(
        (SELECT 'columns ' || string_agg(format('%s (%s)', m.col, m.header), ' and ' ORDER BY m.col)
                || ' both map to ' || m.field
                || ': remove or rename one of them in the file, then load it again'
         FROM core.map_headers(headers) AS m
         WHERE m.field IN (
             SELECT field FROM core.map_headers(headers)
             WHERE field IS NOT NULL GROUP BY field HAVING count(*) > 1
         )
         GROUP BY m.field
         ORDER BY min(m.col)
         LIMIT 1),
        CASE WHEN NOT EXISTS (
            SELECT FROM core.map_headers(headers) WHERE field = 'feature_code'
        ) THEN 'no column maps to feature_code (headers: ' || array_to_string(headers, ', ')
               || coalesce(
                   '); if ' || (core.unmapped_columns(headers))[1] || ' holds the feature code: '
                   || '`fmw vocab alias add '
                   || ops.command_word((core.unmapped_columns(headers))[1])
                   || ' feature_code`',
                   '): the file needs a column with the feature code')
        END
    );
END;
COMMENT ON FUNCTION core.check_headers(text[]) IS
    'NULL when the headers can be loaded, else why not and what fixes it: no column maps to '
    'feature_code (the fix names the first unmapped column: `fmw vocab alias add ...`), or '
    'two columns map to the same field. ops.register_batch calls it before landing anything.';

CREATE OR REPLACE FUNCTION ops.shape_problem(p_source text, p_headers text[])
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    src ops.source;
    v_fields text[] := core.shape_of(p_headers);
    v_unmapped text[] := core.unmapped_columns(p_headers);
    v_accept text := format('`fmw source accept-shape %s`', ops.command_word(p_source));
    v_lacking text[];
    v_adding text[];
BEGIN
    SELECT * INTO src FROM ops.source AS s WHERE s.name = p_source;
    IF src.shape IS NULL THEN  -- the first file declares the shape: nothing may go unseen
        IF cardinality(v_unmapped) > 0 THEN
            RETURN format('this first file of source %s declares the fields its files carry, but '
                          '%s to no field: add an alias for each (`fmw vocab alias add %s FIELD`; '
                          '`fmw vocab unknown` suggests fields), or accept %s as ignored (%s)',
                          p_source,
                          CASE WHEN cardinality(v_unmapped) = 1 THEN 'column ' || v_unmapped[1]
                               || ' maps' ELSE 'columns ' || array_to_string(v_unmapped, ', ')
                               || ' map' END,
                          ops.command_word(v_unmapped[1]),
                          CASE WHEN cardinality(v_unmapped) = 1 THEN 'it' ELSE 'them' END,
                          v_accept);
        ELSIF NOT 'status' = ANY (v_fields) THEN
            RETURN format('this first file of source %s has no status column (headers: %s), so '
                          'every record would be unknown: add the column, or accept a source '
                          'without status (%s)', p_source, array_to_string(p_headers, ', '),
                          v_accept);
        END IF;
        RETURN NULL;
    END IF;
    SELECT array_agg(f.name ORDER BY f.name) FILTER (WHERE f.name = ANY (src.shape)
                                                     AND NOT f.name = ANY (v_fields)),
           array_agg(f.name ORDER BY f.name) FILTER (WHERE f.is_key AND f.name = ANY (v_fields)
                                                     AND NOT f.name = ANY (src.shape))
    INTO v_lacking, v_adding
    FROM core.field AS f
    WHERE f.is_key OR f.name = 'status';
    IF v_lacking IS NOT NULL THEN
        RETURN format('source %s''s files carry %s (declared by batch %s) but this file has no '
                      'column for %s: %s; fix the file, or accept its new shape (%s)',
                      p_source, array_to_string(v_lacking, ', '), src.shape_batch_id,
                      CASE WHEN cardinality(v_lacking) = 1 THEN 'it' ELSE 'them' END,
                      CASE WHEN v_lacking = '{status}'
                           THEN 'every record would become unknown'
                           ELSE 'its records would get new identities and the old ones be '
                                'deactivated' END,
                      v_accept);
    ELSIF v_adding IS NOT NULL THEN
        RETURN format('this file maps key field %s, which source %s''s files never carried '
                      '(declared by batch %s): every record would get a new identity and the '
                      'old ones be deactivated; if that is right, accept its new shape (%s)',
                      array_to_string(v_adding, ', '), p_source, src.shape_batch_id, v_accept);
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION ops.shape_problem(text, text[]) IS
    'NULL when a file with these headers keeps its source''s shape (ops.source.shape), else '
    'why not and the command that accepts it: a first file must map every column and have a '
    'status column; a later one must map every key field the shape has and no other, and '
    'status if the shape has it. An admin accepts a new shape with `fmw source accept-shape` '
    '(or `fmw load --accept-shape`).';

GRANT EXECUTE ON FUNCTION
    core.map_headers(text[]), core.check_headers(text[]), core.unmapped_columns(text[]),
    core.shape_of(text[])
TO fmw_loader;
REVOKE EXECUTE ON FUNCTION ops.shape_problem(text, text[]) FROM PUBLIC;
-- the console shows how an unknown file's headers map
GRANT EXECUTE ON FUNCTION core.map_headers(text[]) TO fmw_console;

-- Header mapping: which file column feeds which canonical field.

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

CREATE OR REPLACE FUNCTION core.check_headers(headers text[])
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT coalesce(
        (SELECT 'columns ' || string_agg(format('%s (%s)', m.col, m.header), ' and ' ORDER BY m.col)
                || ' both map to ' || m.field
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
               || '); add an alias to core.header_alias or fix the file'
        END
    );
END;
COMMENT ON FUNCTION core.check_headers(text[]) IS
    'NULL when the headers can be loaded, else why not: no column maps to feature_code, or two '
    'columns map to the same field. The loader calls it before landing anything.';

GRANT EXECUTE ON FUNCTION core.map_headers(text[]), core.check_headers(text[]) TO fmw_loader;

CREATE OR REPLACE FUNCTION core.add_header_alias(p_alias text, p_field text)
RETURNS text
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    INSERT INTO core.header_alias (alias_key, field, alias)
    VALUES (core.header_key(p_alias), p_field, p_alias)
    ON CONFLICT (alias_key) DO UPDATE SET field = excluded.field, alias = excluded.alias
    RETURNING alias_key;
END;
COMMENT ON FUNCTION core.add_header_alias(text, text) IS
    'For admins: make header p_alias map to canonical field p_field (the key is computed).';

CREATE OR REPLACE FUNCTION core.add_status_synonym(p_synonym text, p_status text)
RETURNS text
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    INSERT INTO core.status_synonym (synonym_key, status, synonym)
    VALUES (core.status_key(p_synonym), p_status, p_synonym)
    ON CONFLICT (synonym_key) DO UPDATE SET status = excluded.status, synonym = excluded.synonym
    RETURNING synonym_key;
END;
COMMENT ON FUNCTION core.add_status_synonym(text, text) IS
    'For admins: make status word p_synonym mean canonical status p_status (the key is computed).';

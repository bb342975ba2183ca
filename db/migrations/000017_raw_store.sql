-- 000017 raw store (issue 14): a day's landing writes what the day changed, and each file is
-- kept verbatim. A source row is stored once in raw.cells by its print (md5 of its cells),
-- whichever files sent it; each batch keeps its list of rows as two arrays (raw.batch_rows);
-- raw.row becomes a view of the two, so what reads it reads the same rows. Each landed file
-- is kept verbatim from now on (raw.file, raw.file_part; batches landed before have their
-- rows only). A source record remembers the print of the raw row it was read from and the
-- context it was read with (core.source_record.print_context): the prints before this
-- migration included the context, so they are cleared and the first sync after the upgrade
-- reads every row again, without a history row. The same SQL as db/schema/20_raw.sql; the
-- functions that change shape are dropped here and created again from db/functions.
SET LOCAL ROLE fmw_owner;

-- Functions whose SQL body names raw.row or core.raw_print (PostgreSQL keeps them dependent;
-- absent in a new database, where db/functions comes after the migrations), and the step
-- whose arguments change.
DROP FUNCTION IF EXISTS core.sources_reading_as_now();  -- its SQL body calls reads_as_now
DROP FUNCTION IF EXISTS core.reads_as_now(text);
DROP FUNCTION IF EXISTS core.integrity_problems();
DROP FUNCTION IF EXISTS ops.mark_interrupted_batches();
DROP FUNCTION IF EXISTS core.raw_print(text, text[]);
DROP FUNCTION IF EXISTS core.stage_raw_rows(bigint, text, text);

COMMENT ON SCHEMA raw IS
    'Landing zone: each source file kept verbatim, and its rows as text cells exactly as the '
    'loader read them (raw.row), each distinct row stored once (raw.cells).';

-- A row's print: md5 of its cells' text form. Distinct cell arrays have distinct text forms
-- (array_out quotes what needs it and writes NULL unquoted), so equal prints mean equal rows.
-- STABLE, not IMMUTABLE, as text[] -> text is: so PostgreSQL inlines it into the landing's
-- query instead of calling it per row.
CREATE FUNCTION raw.cells_print(cells text[])
RETURNS uuid
LANGUAGE sql STABLE PARALLEL SAFE
RETURN md5(cells::text)::uuid;
COMMENT ON FUNCTION raw.cells_print(text[]) IS
    'A raw row''s print: md5 of its cells'' text form (cells::text), as a uuid. The key of '
    'raw.cells; recompute it in psql with md5(cells::text)::uuid.';
REVOKE EXECUTE ON FUNCTION raw.cells_print(text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION raw.cells_print(text[]) TO fmw_loader;  -- raw.cells' CHECK calls it

CREATE TABLE raw.cells (
    print   uuid    PRIMARY KEY,
    cells   text[]  NOT NULL,
    -- Checked for the rows a day adds (the new and edited ones), never for the rows it shares
    -- with earlier files: no one can store cells under another row's print.
    CONSTRAINT cells_print_matches CHECK (print = raw.cells_print(cells))
);
COMMENT ON TABLE raw.cells IS
    'Every distinct source row ever landed, once, keyed by its print (raw.cells_print): a '
    'daily file that repeats yesterday''s rows adds only its new or edited rows here. Which '
    'batch sent which rows is raw.batch_rows; raw.row shows them joined.';

CREATE TABLE raw.batch_rows (
    batch_id    bigint      PRIMARY KEY,  -- ops.batch; no FK, like the core tables (30_core.sql)
    source_rows integer[]   NOT NULL,
    prints      uuid[]      NOT NULL,
    CONSTRAINT batch_rows_pair_up CHECK (cardinality(source_rows) = cardinality(prints))
);
-- Stored as they are: trying to compress a million random prints cost more than writing them.
ALTER TABLE raw.batch_rows
    ALTER COLUMN source_rows SET STORAGE EXTERNAL,
    ALTER COLUMN prints SET STORAGE EXTERNAL;
COMMENT ON TABLE raw.batch_rows IS
    'The rows of one landed batch: its n-th row is file row source_rows[n] with the cells of '
    'print prints[n] (raw.cells). One row per batch, however many rows its file has. '
    'source_row is the spreadsheet row number a person sees: the header is row 1.';
-- The rows landed so far: each distinct row once, each batch's list in source row order.
INSERT INTO raw.cells (print, cells)
SELECT raw.cells_print(r.cells), r.cells FROM raw.row AS r
ON CONFLICT (print) DO NOTHING;
INSERT INTO raw.batch_rows (batch_id, source_rows, prints)
SELECT r.batch_id, array_agg(r.source_row ORDER BY r.source_row),
       array_agg(raw.cells_print(r.cells) ORDER BY r.source_row)
FROM raw.row AS r
GROUP BY r.batch_id;
DROP TABLE raw.row;

CREATE VIEW raw.row AS
SELECT b.batch_id, r.source_row, c.cells
FROM raw.batch_rows AS b
CROSS JOIN LATERAL unnest(b.source_rows, b.prints) AS r (source_row, print)
JOIN raw.cells AS c ON c.print = r.print;
COMMENT ON VIEW raw.row IS
    'One source row per line, cells in header order (ops.batch.headers), of every landed '
    'batch: raw.batch_rows with raw.cells. Filter on batch_id: a batch''s rows are read '
    'without reading the others.';

-- Each source file exactly as it arrived, once per distinct content, compressed in parts.
CREATE TABLE raw.file (
    file_sha256 text        PRIMARY KEY
        CHECK (octet_length(file_sha256) = 64 AND file_sha256 ~ '^[0-9a-f]+$'),
    byte_size   bigint      NOT NULL CHECK (byte_size >= 0),
    parts       integer     NOT NULL CHECK (parts >= 0),
    kept_at     timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE raw.file IS
    'Each landed source file verbatim, once per content (ops.batch.file_sha256 finds it): '
    'byte_size bytes, zlib-compressed and cut into raw.file_part rows. `fmw batch original` '
    'writes it back byte for byte and checks its SHA-256.';

CREATE TABLE raw.file_part (
    file_sha256 text    NOT NULL REFERENCES raw.file (file_sha256),
    part        integer NOT NULL CHECK (part >= 1),
    data        bytea   NOT NULL,
    PRIMARY KEY (file_sha256, part)
);
ALTER TABLE raw.file_part ALTER COLUMN data SET STORAGE EXTERNAL;  -- compressed already
COMMENT ON TABLE raw.file_part IS
    'A kept file''s zlib stream (raw.file), in order of part: their concatenation '
    'decompresses to the file.';

-- The landing check, now of raw.batch_rows: one row per batch, so checked per row.
CREATE OR REPLACE FUNCTION raw.check_landing()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT pg_has_role(current_user, 'fmw_owner', 'MEMBER')
       AND NOT EXISTS (SELECT FROM ops.batch AS b
                       WHERE b.batch_id = NEW.batch_id AND b.status = 'landed'
                         AND ops.landing_here(NEW.batch_id)) THEN
        RAISE EXCEPTION 'raw rows go only into a batch this session is landing; batch % is not',
                        NEW.batch_id USING ERRCODE = '42501';
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION raw.check_landing() IS
    'Trigger of raw.batch_rows (before each row is inserted): refuses, as insufficient '
    'privilege, the rows of a batch that is not landed or that this session is not landing '
    '(ops.landing_here). fmw_owner and its functions are not checked.';
CREATE TRIGGER batch_rows_landing_check
    BEFORE INSERT ON raw.batch_rows
    FOR EACH ROW EXECUTE FUNCTION raw.check_landing();
COMMENT ON TRIGGER batch_rows_landing_check ON raw.batch_rows IS
    'Least privilege: the loader lands raw rows only into the batch it is landing '
    '(raw.check_landing).';

GRANT SELECT, INSERT ON raw.cells, raw.batch_rows, raw.file, raw.file_part TO fmw_loader;
GRANT SELECT ON raw.batch_rows TO fmw_console;
GRANT SELECT ON raw.file TO fmw_console;

ALTER TABLE core.source_record ADD COLUMN print_context uuid;
UPDATE core.source_record SET raw_print = NULL WHERE raw_print IS NOT NULL;
COMMENT ON COLUMN core.source_record.raw_print IS
    'The print of the raw row this record was read from (raw.cells.print: its cells are '
    'there), read with print_context. A later raw row with the same print and context is taken '
    'from here instead of being normalized again. NULL: never printed.';
COMMENT ON COLUMN core.source_record.print_context IS
    'What raw_print''s row was read with (core.batch_print_context: the column mapping, the '
    'status vocabulary and the normalization code): when any of them changes, the rows are '
    'read again.';

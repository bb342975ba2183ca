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

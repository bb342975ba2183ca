-- 000010 sources and vocabulary: admins onboard a team's file without SQL, and no file loads
-- quietly wrong. The same SQL as db/schema/10_ops.sql, 30_core.sql and 90_grants.sql.
-- * ops.source keeps each source's shape (the fields its files carry: a later file that lacks
--   a key field or its status is refused unless an admin accepts it), and when it was removed.
-- * ops.batch keeps refused files (status refused, nothing landed), re-resolves and removals
--   (kind), which raw rows a re-resolve reads, and the columns that mapped to no field.
-- * ops.admin_action is the admin audit log; ops.vocabulary_version records which
--   db/vocabulary files (the default aliases and status words) a database holds.
-- * core.field and core.status move into db/schema/30_core.sql (their rows are unchanged);
--   the default aliases and status words of 000001 are db/vocabulary/000001_defaults.sql,
--   recorded here as applied so that upgrading never puts back one an admin removed.
-- The functions whose arguments or results changed are dropped; db/functions recreates them.
SET LOCAL ROLE fmw_owner;

ALTER TABLE ops.source
    ADD COLUMN shape text[],
    ADD COLUMN shape_batch_id bigint,
    ADD COLUMN accept_shape boolean NOT NULL DEFAULT false,
    ADD COLUMN removed_at timestamptz;
COMMENT ON TABLE ops.source IS
    'Sources that ever landed a batch. Lower priority wins when sources disagree on a record. '
    'Which sources sync loads is configured in fmw.toml; `fmw source list` shows both.';
COMMENT ON COLUMN ops.source.shape IS
    'The fields the source''s files carry (sorted), declared by its first processed batch '
    '(shape_batch_id) or by one whose new shape an admin accepted. A later file that lacks '
    'one of its key fields or its status, or adds a key field, is refused (ops.shape_problem). '
    'NULL: no file processed yet.';
COMMENT ON COLUMN ops.source.accept_shape IS
    'Set by `fmw source accept-shape` (ops.accept_source_shape): the next file may declare a '
    'new shape. Cleared when a batch of the source is processed.';
COMMENT ON COLUMN ops.source.removed_at IS
    'When `fmw source remove` (ops.remove_source) deactivated every record of the source; '
    'NULL while the source is in use. A file loaded later brings it back.';

ALTER TABLE ops.batch
    ALTER COLUMN file_sha256 DROP NOT NULL,
    DROP CONSTRAINT batch_status_check,
    ADD COLUMN kind text NOT NULL DEFAULT 'file',
    ADD COLUMN raw_batch_id bigint REFERENCES ops.batch (batch_id),
    ADD COLUMN accepted_shape boolean NOT NULL DEFAULT false,
    ADD COLUMN unmapped_columns text[] NOT NULL DEFAULT '{}',
    ADD CONSTRAINT batch_status_check CHECK (status IN (
        'landed',       -- rows are in raw.row, not processed yet
        'processed',    -- applied to core
        'held',         -- would deactivate more than half of the source: waits for an admin
        'failed',       -- an error; message says why, no record changed
        'refused'       -- the file's headers or shape were refused before anything landed
    )),
    ADD CONSTRAINT batch_kind_check CHECK (kind IN (
        'file',         -- a loaded file (fmw load, fmw sync)
        'reresolve',    -- raw_batch_id's rows staged again with a changed vocabulary
        'remove'        -- fmw source remove: an empty full extract, every record deactivated
    ));
COMMENT ON TABLE ops.batch IS
    'One loaded file, or one re-resolve or removal of a source. landed: rows are in raw.row; '
    'processed: applied to core; held: would deactivate more than half of the source, waiting '
    'for an admin; failed: message says why, no record was changed; refused: its headers or '
    'shape were refused (message says why and which command fixes it), nothing landed.';
COMMENT ON COLUMN ops.batch.file_sha256 IS
    'SHA-256 of the file (of the re-staged file for a re-resolve); NULL for a removal.';
COMMENT ON COLUMN ops.batch.raw_batch_id IS
    'The batch whose raw.row rows this batch reads: NULL for its own (a file), the re-staged '
    'batch for a re-resolve (core.reresolve_sources), NULL with no rows for a removal.';
COMMENT ON COLUMN ops.batch.accepted_shape IS
    'An admin accepted this file''s new shape (`fmw load --accept-shape`, `fmw source '
    'accept-shape`): it declares the source''s shape, and deactivating most records is allowed.';
COMMENT ON COLUMN ops.batch.unmapped_columns IS
    'Headers of the file that map to no field (core.unmapped_columns) when it was registered '
    'or processed: their cells were not loaded.';

CREATE TABLE ops.admin_action (
    action_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    actor       text        NOT NULL,
    db_user     text        NOT NULL DEFAULT session_user,
    action      text        NOT NULL CHECK (action ~ '^[a-z_]+(\.[a-z_]+)+$'),
    target      text        NOT NULL,
    before      jsonb,
    after       jsonb,
    note        text
);
COMMENT ON TABLE ops.admin_action IS
    'The admin audit log: one row per admin action, in the transaction that made it (so a '
    'change that rolled back leaves no row). action is dotted: vocab.alias.add, '
    'vocab.alias.remove, vocab.status.add, vocab.status.remove, vocab.apply, source.remove, '
    'source.accept_shape, batch.approve, batch.retry. before/after hold what changed as JSON '
    '(NULL before an add, NULL after a removal). Never updated or deleted.';
COMMENT ON COLUMN ops.admin_action.actor IS
    'Who the caller says acted: the OS user for the fmw command, the signed-in user for a '
    'console; session_user when the caller names no one.';
COMMENT ON COLUMN ops.admin_action.db_user IS
    'The database login that ran the change (session_user): the identity PostgreSQL checked.';
CREATE INDEX admin_action_at_idx ON ops.admin_action (at);

CREATE TABLE ops.vocabulary_version (
    version     integer PRIMARY KEY,
    name        text        NOT NULL,
    checksum    text        NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now(),
    applied_by  text        NOT NULL DEFAULT session_user
);
COMMENT ON TABLE ops.vocabulary_version IS
    'One row per applied db/vocabulary file (default header aliases and status words), '
    'applied once by `fmw db upgrade`: an entry an admin removed later is never put back. '
    'checksum is SHA-256 of the file with LF line endings.';
-- 000001_initial.sql inserted exactly the rows of db/vocabulary/000001_defaults.sql.
INSERT INTO ops.vocabulary_version (version, name, checksum)
VALUES (1, 'defaults', '07beb160868012189ddaaa1bcd5a639d44b75c1e59678ccb69c879fadeb0e9a1');

COMMENT ON TABLE core.header_alias IS
    'Header names that map to a canonical field. alias_key = core.header_key(alias): NFKC, '
    'zero-width removed, trimmed, spaces collapsed, ASCII lower-cased. Defaults come from '
    'db/vocabulary; admins change them with `fmw vocab alias add|remove` '
    '(core.add_header_alias, core.remove_header_alias), recorded in ops.admin_action.';
COMMENT ON TABLE core.status_synonym IS
    'Words sources use for a status. synonym_key = core.status_key(synonym): NFKC, all white '
    'space and zero-width removed, ASCII lower-cased. Defaults come from db/vocabulary; admins '
    'change them with `fmw vocab status add|remove` (core.add_status_synonym, '
    'core.remove_status_synonym), recorded in ops.admin_action.';

GRANT SELECT ON ops.vocabulary_version TO fmw_loader;  -- every fmw command checks it
GRANT SELECT ON core.field, core.header_alias, core.status, core.status_synonym TO fmw_loader;

-- Sources loaded before this migration: the shape their newest processed file has, and the
-- columns each batch's file left unmapped. Run as text: core.header_key is a db/functions
-- function, which a database being built from scratch does not have yet (and has no batch).
DO $backfill$
BEGIN
    IF EXISTS (SELECT FROM ops.batch) THEN
        EXECUTE $sql$
            UPDATE ops.batch AS b
            SET unmapped_columns = coalesce((
                SELECT array_agg(h.header ORDER BY h.col)
                FROM unnest(b.headers) WITH ORDINALITY AS h (header, col)
                WHERE NOT EXISTS (SELECT FROM core.header_alias AS a
                                  WHERE a.alias_key = core.header_key(h.header))), '{}');
            UPDATE ops.source AS s
            SET shape = f.shape, shape_batch_id = f.batch_id
            FROM (
                SELECT DISTINCT ON (b.source) b.source, b.batch_id, (
                    SELECT coalesce(array_agg(DISTINCT a.field ORDER BY a.field), '{}')
                    FROM unnest(b.headers) AS h (header)
                    JOIN core.header_alias AS a ON a.alias_key = core.header_key(h.header)
                ) AS shape
                FROM ops.batch AS b
                WHERE b.status = 'processed'
                ORDER BY b.source, b.processed_at DESC, b.batch_id DESC
            ) AS f
            WHERE f.source = s.name;
        $sql$;
    END IF;
END
$backfill$;

DROP FUNCTION IF EXISTS
    ops.register_batch(text, integer, text, text, text, text[], boolean, boolean),
    core.process_batch(bigint, boolean),
    core.add_header_alias(text, text),
    core.add_status_synonym(text, text);

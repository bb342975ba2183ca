-- ops: what admins operate on: migrations applied, sources, batches, snapshot state.

CREATE SCHEMA IF NOT EXISTS ops;
COMMENT ON SCHEMA ops IS
    'FMW operations: migration bookkeeping, configured sources, load batches, snapshot state.';

-- Created by `fmw db upgrade` itself before the first migration (it must exist to
-- record that migration); the first migration hands it to fmw_owner.
CREATE TABLE IF NOT EXISTS ops.schema_migration (
    version     integer PRIMARY KEY,
    name        text        NOT NULL,
    checksum    text        NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now(),
    applied_by  text        NOT NULL DEFAULT session_user
);
COMMENT ON TABLE ops.schema_migration IS
    'One row per applied db/migrations file; checksum is SHA-256 of the file with LF line endings.';

CREATE TABLE ops.source (
    name        text PRIMARY KEY,
    priority    integer     NOT NULL DEFAULT 100,
    resolved_priority integer,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    shape       text[],
    shape_batch_id bigint,
    accept_shape boolean    NOT NULL DEFAULT false,
    removed_at  timestamptz
);
COMMENT ON TABLE ops.source IS
    'Sources that ever landed a batch. Lower priority wins when sources disagree on a record. '
    'Which sources sync loads is configured in fmw.toml; `fmw source list` shows both.';
-- Source names are short identifiers (fmw.settings.SOURCE_NAME). NOT VALID: a database that
-- holds an older name keeps it (and its batches); every new or renamed source is checked.
ALTER TABLE ops.source ADD CONSTRAINT source_name_check
    CHECK (name ~ '^[a-z][a-z0-9_]{0,62}$') NOT VALID;
COMMENT ON CONSTRAINT source_name_check ON ops.source IS
    'A source name is a lowercase letter, then up to 62 lowercase letters, digits or '
    'underscores: it appears in file names, commands, messages and logs.';
COMMENT ON COLUMN ops.source.resolved_priority IS
    'The priority core.record was last resolved with; when it differs from priority, the '
    'source''s next batch re-resolves every identity it reports.';
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

CREATE TABLE ops.batch (
    batch_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source          text        NOT NULL REFERENCES ops.source (name),
    file_name       text        NOT NULL,
    file_sha256     text        CHECK (file_sha256 ~ '^[0-9a-f]{64}$'),
    file_encoding   text,
    headers         text[]      NOT NULL,
    full_extract    boolean     NOT NULL DEFAULT true,
    row_count       integer,
    status          text        NOT NULL DEFAULT 'landed',
    -- what processing did, as counts of this source's records
    inserted        integer,
    updated         integer,
    unchanged       integer,
    deactivated     integer,
    rejected        integer,
    issues          integer,
    message         text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    processed_at    timestamptz,
    kind            text        NOT NULL DEFAULT 'file',
    raw_batch_id    bigint      REFERENCES ops.batch (batch_id),
    accepted_shape  boolean     NOT NULL DEFAULT false,
    unmapped_columns text[]     NOT NULL DEFAULT '{}',
    CONSTRAINT batch_status_check CHECK (status IN (
        'landed',       -- rows are in raw.row, not processed yet
        'processed',    -- applied to core
        'held',         -- would deactivate more than half of the source: waits for an admin
        'failed',       -- an error; message says why, no record changed
        'refused',      -- the file's headers or shape were refused before anything landed
        'interrupted',  -- landed, but the loader stopped before processing it: retry or discard
        'discarded'     -- an admin discarded it (was interrupted, failed or held): rows dropped
    )),
    CONSTRAINT batch_kind_check CHECK (kind IN (
        'file',         -- a loaded file (fmw load, fmw sync)
        'reresolve',    -- raw_batch_id's rows staged again with a changed vocabulary
        'remove'        -- fmw source remove: an empty full extract, every record deactivated
    ))
);
COMMENT ON TABLE ops.batch IS
    'One loaded file, or one re-resolve or removal of a source. landed: rows are in raw.row; '
    'processed: applied to core; held: would deactivate more than half of the source, waiting '
    'for an admin; failed: message says why, no record was changed; refused: its headers or '
    'shape were refused (message says why and which command fixes it), nothing landed; '
    'interrupted: landed, but the loader stopped before processing it (`fmw batch retry` or '
    '`fmw batch discard`); discarded: an admin dropped its landed rows, no record changed.';
COMMENT ON COLUMN ops.batch.file_sha256 IS
    'SHA-256 of the file (of the re-staged file for a re-resolve); NULL for a removal.';
COMMENT ON COLUMN ops.batch.headers IS 'Header cells exactly as in the file, in file order.';
COMMENT ON COLUMN ops.batch.full_extract IS
    'true: the file lists every record of its source, so records missing from it are '
    'deactivated; false (a delta file): records it does not mention stay as they are.';
COMMENT ON COLUMN ops.batch.inserted IS
    'inserted / updated / unchanged / deactivated / rejected / issues: counts of this batch''s '
    'effect on its source''s records, filled when processed (or would-be counts when held).';
COMMENT ON COLUMN ops.batch.raw_batch_id IS
    'The batch whose raw.row rows this batch reads: NULL for its own (a file), the re-staged '
    'batch for a re-resolve (core.reresolve_sources), NULL with no rows for a removal.';
COMMENT ON COLUMN ops.batch.accepted_shape IS
    'An admin accepted this file''s new shape (`fmw load --accept-shape`, `fmw source '
    'accept-shape`): it declares the source''s shape, and deactivating most records is allowed.';
COMMENT ON COLUMN ops.batch.unmapped_columns IS
    'Headers of the file that map to no field (core.unmapped_columns) when it was registered '
    'or processed: their cells were not loaded.';
CREATE INDEX batch_source_sha_idx ON ops.batch (source, file_sha256);

CREATE TABLE ops.snapshot_state (
    singleton       boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    refreshed_at    timestamptz,
    dirty           boolean     NOT NULL DEFAULT true
);
COMMENT ON TABLE ops.snapshot_state IS
    'One row: when the snapshot views were last refreshed and whether a batch changed core since.';

-- Every admin action, whoever makes it (the fmw command today, an admin console later):
-- written only by the SECURITY DEFINER functions that make the change, in its transaction.
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

-- Which db/vocabulary files this database holds, like ops.schema_migration for migrations.
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

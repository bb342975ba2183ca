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
    updated_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE ops.source IS
    'Sources that ever landed a batch. Lower priority wins when sources disagree on a record.';
COMMENT ON COLUMN ops.source.resolved_priority IS
    'The priority core.record was last resolved with; when it differs from priority, the '
    'source''s next batch re-resolves every identity it reports.';

CREATE TABLE ops.batch (
    batch_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source          text        NOT NULL REFERENCES ops.source (name),
    file_name       text        NOT NULL,
    file_sha256     text        NOT NULL CHECK (file_sha256 ~ '^[0-9a-f]{64}$'),
    file_encoding   text,
    headers         text[]      NOT NULL,
    full_extract    boolean     NOT NULL DEFAULT true,
    row_count       integer,
    status          text        NOT NULL DEFAULT 'landed'
        CHECK (status IN ('landed', 'processed', 'held', 'failed')),
    -- what processing did, as counts of this source's records
    inserted        integer,
    updated         integer,
    unchanged       integer,
    deactivated     integer,
    rejected        integer,
    issues          integer,
    message         text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    processed_at    timestamptz
);
COMMENT ON TABLE ops.batch IS
    'One loaded file. landed: rows are in raw.row; processed: applied to core; held: would '
    'deactivate more than half of the source, waiting for an admin; failed: message says why, '
    'no record was changed.';
COMMENT ON COLUMN ops.batch.headers IS 'Header cells exactly as in the file, in file order.';
COMMENT ON COLUMN ops.batch.full_extract IS
    'true: the file lists every record of its source, so records missing from it are '
    'deactivated; false (a delta file): records it does not mention stay as they are.';
COMMENT ON COLUMN ops.batch.inserted IS
    'inserted / updated / unchanged / deactivated / rejected / issues: counts of this batch''s '
    'effect on its source''s records, filled when processed (or would-be counts when held).';
CREATE INDEX batch_source_sha_idx ON ops.batch (source, file_sha256);

CREATE TABLE ops.snapshot_state (
    singleton       boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    refreshed_at    timestamptz,
    dirty           boolean     NOT NULL DEFAULT true
);
COMMENT ON TABLE ops.snapshot_state IS
    'One row: when the snapshot views were last refreshed and whether a batch changed core since.';

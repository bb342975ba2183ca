-- core: the vocabularies (data, editable by admins), the records and their history.

CREATE SCHEMA core;
COMMENT ON SCHEMA core IS
    'Normalized records, one per identity, with per-source facts, history, rejects and issues.';

-- The canonical fields a source column can map to.
CREATE TABLE core.field (
    name        text PRIMARY KEY,
    is_key      boolean NOT NULL DEFAULT false,
    description text    NOT NULL
);
COMMENT ON TABLE core.field IS
    'Canonical record fields. is_key: part of identity_hash (feature_code, policy_code, region, platform).';
-- One row per field of core.field_columns: the stage reads each by name.
INSERT INTO core.field (name, is_key, description) VALUES
    ('feature_code', true, 'Feature identifier as the teams write it'),
    ('feature_name', false, 'Feature display name'),
    ('policy_code', true, 'Policy identifier'),
    ('policy_name', false, 'Policy display name'),
    ('status', false, 'Canonical status (core.status)'),
    ('region', true, 'Market or country'),
    ('platform', true, 'Platform (iOS, Android, Web, ...)'),
    ('owner', false, 'Person responsible'),
    ('team', false, 'Owning team or department'),
    ('effective_from', false, 'Date the status applies from'),
    ('effective_to', false, 'Date the status applies until'),
    ('note', false, 'Free-text remarks');

-- A batch's column mapping, handed from core.stage_batch to its steps as one value whose
-- fields are read by name (core.field_columns_of fills it from the file's headers).
CREATE TYPE core.field_columns AS (
    feature_code    integer,
    feature_name    integer,
    policy_code     integer,
    policy_name     integer,
    status          integer,
    region          integer,
    platform        integer,
    owner           integer,
    team            integer,
    effective_from  integer,
    effective_to    integer,
    note            integer
);
COMMENT ON TYPE core.field_columns IS
    'Which column (1-based, as in raw.row.cells) of a batch''s file feeds each record field; '
    'NULL when the file has no column for it. One field per core.field row.';

CREATE TABLE core.header_alias (
    alias_key   text PRIMARY KEY,
    field       text NOT NULL REFERENCES core.field (name),
    alias       text NOT NULL,
    CONSTRAINT header_alias_key_is_normalized CHECK (alias_key <> '')
);
COMMENT ON TABLE core.header_alias IS
    'Header names that map to a canonical field. alias_key = core.header_key(alias): NFKC, '
    'zero-width removed, trimmed, spaces collapsed, ASCII lower-cased. Defaults come from '
    'db/vocabulary; admins change them with `fmw vocab alias add|remove` '
    '(core.add_header_alias, core.remove_header_alias), recorded in ops.admin_action.';

CREATE TABLE core.status (
    code        text PRIMARY KEY,
    label_ko    text    NOT NULL,
    label_en    text    NOT NULL,
    sort_order  integer NOT NULL
);
COMMENT ON TABLE core.status IS 'Canonical statuses. unknown marks a value no synonym matched.';
INSERT INTO core.status (code, label_ko, label_en, sort_order) VALUES
    ('enabled', '적용', 'Enabled', 1),
    ('disabled', '미적용', 'Disabled', 2),
    ('pilot', '시범', 'Pilot', 3),
    ('planned', '예정', 'Planned', 4),
    ('deprecated', '폐기', 'Deprecated', 5),
    ('unknown', '미확인', 'Unknown', 9);

CREATE TABLE core.status_synonym (
    synonym_key text PRIMARY KEY,
    status      text NOT NULL REFERENCES core.status (code),
    synonym     text NOT NULL
);
COMMENT ON TABLE core.status_synonym IS
    'Words sources use for a status. synonym_key = core.status_key(synonym): NFKC, all white '
    'space and zero-width removed, ASCII lower-cased. Defaults come from db/vocabulary; admins '
    'change them with `fmw vocab status add|remove` (core.add_status_synonym, '
    'core.remove_status_synonym), recorded in ops.admin_action.';

-- What each source says about each identity (latest batch of that source).
CREATE TABLE core.source_record (
    source              text    NOT NULL,
    identity_hash       text    NOT NULL,
    feature_code        text    NOT NULL,
    feature_name        text,
    policy_code         text,
    policy_name         text,
    status              text    NOT NULL,
    status_raw          text,
    region              text,
    platform            text,
    owner               text,
    team                text,
    effective_from      date,
    effective_to        date,
    note                text,
    source_row          integer NOT NULL,
    content_hash        uuid    NOT NULL,
    is_active           boolean NOT NULL DEFAULT true,
    first_seen_at       timestamptz NOT NULL,
    last_changed_at     timestamptz NOT NULL,
    first_batch_id      bigint  NOT NULL,
    last_changed_batch_id bigint NOT NULL,
    raw_print           uuid,
    effective_from_raw  text,
    effective_to_raw    text,
    print_context       uuid,
    PRIMARY KEY (source, identity_hash)
);
COMMENT ON TABLE core.source_record IS
    'Per-source facts: what each source''s newest batch says about an identity. A record '
    'missing from a newer full extract is deactivated (is_active = false), never deleted.';
COMMENT ON COLUMN core.source_record.status_raw IS
    'The source''s own status word as written (normalized), whatever status it means: EOL for '
    'retired. Shown on the record; not part of content_hash unless it matches no synonym '
    '(status = unknown), so a new word with the same meaning changes no value and no history.';
COMMENT ON COLUMN core.source_record.content_hash IS
    'md5 of the normalized field values: equal hashes mean nothing visible changed.';
COMMENT ON COLUMN core.source_record.raw_print IS
    'The print of the raw row this record was read from (raw.cells.print: its cells are '
    'there), read with print_context. A later raw row with the same print and context is taken '
    'from here instead of being normalized again. NULL: never printed.';
COMMENT ON COLUMN core.source_record.print_context IS
    'What raw_print''s row was read with (core.batch_print_context: the column mapping, the '
    'status vocabulary and the normalization code): when any of them changes, the rows are '
    'read again.';
COMMENT ON COLUMN core.source_record.effective_from_raw IS
    'effective_from_raw / effective_to_raw: the normalized cell text when it is not a date '
    '(the date is then NULL and the batch has a row issue), else NULL.';
CREATE INDEX source_record_identity_idx ON core.source_record (identity_hash);
-- core.source_record, core.record and core.record_history have no foreign keys on purpose:
-- a million-row batch would fire millions of RI triggers. Only core.process_batch writes
-- them, and core.integrity_problems() checks the references (tests call it).

-- The record set users see: one row per identity, from the highest-priority active source.
CREATE TABLE core.record (
    -- 64 lowercase hex digits. Not '{64}' in the pattern: PostgreSQL's regex engine runs a
    -- bounded repeat slowly, and this check runs for every row inserted (docs/benchmarks.md).
    identity_hash       text    PRIMARY KEY
        CHECK (octet_length(identity_hash) = 64 AND identity_hash ~ '^[0-9a-f]+$'),
    feature_code        text    NOT NULL,
    feature_name        text,
    policy_code         text,
    policy_name         text,
    status              text    NOT NULL,
    status_raw          text,
    region              text,
    platform            text,
    owner               text,
    team                text,
    effective_from      date,
    effective_to        date,
    note                text,
    source              text    NOT NULL,
    source_row          integer NOT NULL,
    content_hash        uuid    NOT NULL,
    is_active           boolean NOT NULL,
    first_seen_at       timestamptz NOT NULL,
    last_changed_at     timestamptz NOT NULL,
    last_batch_id       bigint  NOT NULL,
    source_count        integer NOT NULL DEFAULT 1,
    has_conflict        boolean NOT NULL DEFAULT false,
    row_xid             xid8    NOT NULL DEFAULT pg_current_xact_id()
);
COMMENT ON TABLE core.record IS
    'One record per identity_hash (see docs/identity-hash.md), showing the active source with '
    'the lowest priority number; inactive when no source reports it any more.';
COMMENT ON COLUMN core.record.identity_hash IS
    'Lowercase hex SHA-256 of core.key_part(feature_code, policy_code, region, platform) '
    'joined by U+001F; recompute with core.identity_hash(...).';
COMMENT ON COLUMN core.record.status_raw IS
    'The shown source''s own status word (core.source_record.status_raw).';
COMMENT ON COLUMN core.record.source_count IS
    'source_count / has_conflict: how many active sources report the identity (1 when one or '
    'none does) and whether their versions disagree. Kept by core.process_batch for every '
    'identity a batch touches, so snapshot.current_records needs no refresh.';
COMMENT ON COLUMN core.record.row_xid IS
    'The transaction that last inserted or updated the row (the trigger record_row_xid keeps '
    'it on UPDATE): what an export compares with the previous export''s snapshot.';
-- Admins look conflicts up often; they are few.
CREATE INDEX record_conflict_idx ON core.record (identity_hash) WHERE has_conflict;

-- The counts behind snapshot.home_summary, kept as records change: a day's refresh groups the
-- few thousand combinations of these columns instead of every record (issue 14).
CREATE TABLE core.record_tally (
    team        text,
    region      text,
    platform    text,
    status      text    NOT NULL,
    is_active   boolean NOT NULL,
    records     bigint  NOT NULL
);
COMMENT ON TABLE core.record_tally IS
    'How many core.record rows have each team, region, platform, status and is_active: the '
    'sum of records over the rows with those values. Each statement that changes records adds '
    'one row per combination it changed (+n, or -n for what it took away), so batches only '
    'insert here and never wait for each other; snapshot.refresh_view folds the rows into one '
    'per combination (core.fold_record_tally). Kept by the record_tally_* triggers of '
    'core.record; what snapshot.home_summary groups.';

-- SECURITY DEFINER: whoever may change core.record keeps its tally, without a right of its own
-- on core.record_tally.
CREATE FUNCTION core.tally_records()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- Each transition table exists only in the triggers that declare it.
    IF TG_OP = 'INSERT' THEN
        INSERT INTO core.record_tally (team, region, platform, status, is_active, records)
        SELECT n.team, n.region, n.platform, n.status, n.is_active, count(*)
        FROM new_rows AS n
        GROUP BY n.team, n.region, n.platform, n.status, n.is_active;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO core.record_tally (team, region, platform, status, is_active, records)
        SELECT c.team, c.region, c.platform, c.status, c.is_active, sum(c.records)
        FROM (
            SELECT n.team, n.region, n.platform, n.status, n.is_active, 1 AS records
            FROM new_rows AS n
            UNION ALL
            SELECT o.team, o.region, o.platform, o.status, o.is_active, -1
            FROM old_rows AS o
        ) AS c
        GROUP BY c.team, c.region, c.platform, c.status, c.is_active
        HAVING sum(c.records) <> 0;  -- an update that kept these columns changes no count
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO core.record_tally (team, region, platform, status, is_active, records)
        SELECT o.team, o.region, o.platform, o.status, o.is_active, -count(*)
        FROM old_rows AS o
        GROUP BY o.team, o.region, o.platform, o.status, o.is_active;
    ELSE
        TRUNCATE core.record_tally;
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION core.tally_records() IS
    'Trigger of core.record (after each statement): adds to core.record_tally, per combination '
    'of team, region, platform, status and is_active, how many records the statement added '
    'and took away; a TRUNCATE empties it.';
REVOKE EXECUTE ON FUNCTION core.tally_records() FROM PUBLIC;  -- fired, never called
CREATE TRIGGER record_tally_insert
    AFTER INSERT ON core.record REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION core.tally_records();
CREATE TRIGGER record_tally_update
    AFTER UPDATE ON core.record REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION core.tally_records();
CREATE TRIGGER record_tally_delete
    AFTER DELETE ON core.record REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION core.tally_records();
CREATE TRIGGER record_tally_truncate
    AFTER TRUNCATE ON core.record
    FOR EACH STATEMENT EXECUTE FUNCTION core.tally_records();
COMMENT ON TRIGGER record_tally_insert ON core.record IS 'Keeps core.record_tally (core.tally_records).';
COMMENT ON TRIGGER record_tally_update ON core.record IS 'Keeps core.record_tally (core.tally_records).';
COMMENT ON TRIGGER record_tally_delete ON core.record IS 'Keeps core.record_tally (core.tally_records).';
COMMENT ON TRIGGER record_tally_truncate ON core.record IS 'Keeps core.record_tally (core.tally_records).';

CREATE TABLE core.record_history (
    history_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    identity_hash   text        NOT NULL,
    batch_id        bigint      NOT NULL,
    changed_at      timestamptz NOT NULL,
    change          text        NOT NULL
        CHECK (change IN ('inserted', 'updated', 'deactivated', 'reactivated')),
    changed_fields  text[]      NOT NULL,
    before          jsonb,
    after           jsonb       NOT NULL,
    row_xid         xid8        NOT NULL DEFAULT pg_current_xact_id()
);
COMMENT ON TABLE core.record_history IS
    'Every change of a core.record: before and after field values and the batch that caused '
    'it. "What changed since yesterday" is a WHERE changed_at >= ... on this table.';
COMMENT ON COLUMN core.record_history.changed_fields IS
    'Fields whose value differs between before and after (empty for an insert).';
CREATE INDEX record_history_identity_idx ON core.record_history (identity_hash, changed_at);
CREATE INDEX record_history_changed_at_idx ON core.record_history (changed_at);
COMMENT ON COLUMN core.record_history.row_xid IS
    'The transaction that inserted the row: what an export compares with the previous '
    'export''s snapshot (history rows are never updated).';
-- Finds a day's new rows without reading a year of history (snapshot.history_since). All
-- rows of a batch share one transaction, so the btree keeps them as one deduplicated entry
-- list at its right edge: cheap to keep up (xid8 has no BRIN operator class).
CREATE INDEX record_history_row_xid_idx ON core.record_history (row_xid);

CREATE TABLE core.rejected_row (
    batch_id    bigint  NOT NULL REFERENCES ops.batch (batch_id),
    source_row  integer NOT NULL,
    reason      text    NOT NULL,
    cells       text[]  NOT NULL,
    PRIMARY KEY (batch_id, source_row)
);
COMMENT ON TABLE core.rejected_row IS
    'Rows set aside (e.g. no feature_code) with the reason; the rest of the batch proceeds.';

CREATE TABLE core.row_issue (
    issue_id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    batch_id    bigint  NOT NULL REFERENCES ops.batch (batch_id),
    source_row  integer NOT NULL,
    column_name text,
    issue       text    NOT NULL,
    raw_value   text
);
COMMENT ON TABLE core.row_issue IS
    'Problems in rows that were still loaded: unknown status, unparseable date, duplicate '
    'identity within a batch. column_name is the header as written in the file.';
CREATE INDEX row_issue_batch_idx ON core.row_issue (batch_id, source_row);

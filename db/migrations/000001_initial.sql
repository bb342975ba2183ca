-- 000001 initial: FMW's first schema (roles, ops, raw, core, snapshot) and its vocabularies.
-- `fmw db upgrade` created ops.schema_migration before running this file; it is handed to
-- fmw_owner right after the roles exist.

-- ===== from db/schema/00_roles.sql =====
-- Roles: who may do what. Cluster-wide, so created only when missing.
--   fmw_owner  owns every FMW object; `fmw db upgrade` runs as (or SET ROLE to) it.
--   fmw_loader lands files into raw and processes batches through functions only.
--   fmw_reader reads the snapshot schema and nothing else.
-- Deployments create LOGIN users and GRANT these group roles to them.
DO $roles$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'fmw_owner') THEN
        CREATE ROLE fmw_owner NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'fmw_loader') THEN
        CREATE ROLE fmw_loader NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'fmw_reader') THEN
        CREATE ROLE fmw_reader NOLOGIN;
    END IF;
    IF NOT pg_has_role(current_user, 'fmw_owner', 'MEMBER') THEN
        EXECUTE format('GRANT fmw_owner TO %I', current_user);
    END IF;
    EXECUTE format('GRANT CREATE, CONNECT ON DATABASE %I TO fmw_owner', current_database());
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO fmw_loader, fmw_reader', current_database());
END
$roles$;

GRANT fmw_reader TO fmw_loader;  -- the daily sync exports what it refreshed

ALTER SCHEMA ops OWNER TO fmw_owner;
ALTER TABLE ops.schema_migration OWNER TO fmw_owner;

-- Everything below is created as, and owned by, fmw_owner.
SET LOCAL ROLE fmw_owner;

-- ===== from db/schema/10_ops.sql =====
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

-- ===== from db/schema/20_raw.sql =====
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

-- ===== from db/schema/30_core.sql =====
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

CREATE TABLE core.header_alias (
    alias_key   text PRIMARY KEY,
    field       text NOT NULL REFERENCES core.field (name),
    alias       text NOT NULL,
    CONSTRAINT header_alias_key_is_normalized CHECK (alias_key <> '')
);
COMMENT ON TABLE core.header_alias IS
    'Header names that map to a canonical field. alias_key = core.header_key(alias): NFKC, '
    'zero-width removed, trimmed, spaces collapsed, ASCII lower-cased. Admins add rows here.';

CREATE TABLE core.status (
    code        text PRIMARY KEY,
    label_ko    text    NOT NULL,
    label_en    text    NOT NULL,
    sort_order  integer NOT NULL
);
COMMENT ON TABLE core.status IS 'Canonical statuses. unknown marks a value no synonym matched.';

CREATE TABLE core.status_synonym (
    synonym_key text PRIMARY KEY,
    status      text NOT NULL REFERENCES core.status (code),
    synonym     text NOT NULL
);
COMMENT ON TABLE core.status_synonym IS
    'Words sources use for a status. synonym_key = core.status_key(synonym): NFKC, all white '
    'space and zero-width removed, ASCII lower-cased. Admins add rows here.';

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
    PRIMARY KEY (source, identity_hash)
);
COMMENT ON TABLE core.source_record IS
    'Per-source facts: what each source''s newest batch says about an identity. A record '
    'missing from a newer full extract is deactivated (is_active = false), never deleted.';
COMMENT ON COLUMN core.source_record.status_raw IS
    'The source''s own text when it matched no synonym (status = unknown), else null.';
COMMENT ON COLUMN core.source_record.content_hash IS
    'md5 of the normalized field values: equal hashes mean nothing visible changed.';
CREATE INDEX source_record_identity_idx ON core.source_record (identity_hash);
-- core.source_record, core.record and core.record_history have no foreign keys on purpose:
-- a million-row batch would fire millions of RI triggers. Only core.process_batch writes
-- them, and core.integrity_problems() checks the references (tests call it).

-- The record set users see: one row per identity, from the highest-priority active source.
CREATE TABLE core.record (
    identity_hash       text    PRIMARY KEY CHECK (identity_hash ~ '^[0-9a-f]{64}$'),
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
    last_batch_id       bigint  NOT NULL
);
COMMENT ON TABLE core.record IS
    'One record per identity_hash (see docs/identity-hash.md), showing the active source with '
    'the lowest priority number; inactive when no source reports it any more.';
COMMENT ON COLUMN core.record.identity_hash IS
    'Lowercase hex SHA-256 of core.key_part(feature_code, policy_code, region, platform) '
    'joined by U+001F; recompute with core.identity_hash(...).';

CREATE TABLE core.record_history (
    history_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    identity_hash   text        NOT NULL,
    batch_id        bigint      NOT NULL,
    changed_at      timestamptz NOT NULL,
    change          text        NOT NULL
        CHECK (change IN ('inserted', 'updated', 'deactivated', 'reactivated')),
    changed_fields  text[]      NOT NULL,
    before          jsonb,
    after           jsonb       NOT NULL
);
COMMENT ON TABLE core.record_history IS
    'Every change of a core.record: before and after field values and the batch that caused '
    'it. "What changed since yesterday" is a WHERE changed_at >= ... on this table.';
COMMENT ON COLUMN core.record_history.changed_fields IS
    'Fields whose value differs between before and after (empty for an insert).';
CREATE INDEX record_history_identity_idx ON core.record_history (identity_hash, changed_at);
CREATE INDEX record_history_changed_at_idx ON core.record_history (changed_at);

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

-- ===== from db/schema/40_snapshot.sql =====
-- snapshot: materialized views the dashboard export and DBAs read. Refreshed by
-- snapshot.refresh(); never written directly.

CREATE SCHEMA snapshot;
COMMENT ON SCHEMA snapshot IS
    'Read models refreshed after each sync: the only schema fmw_reader can read.';

CREATE MATERIALIZED VIEW snapshot.current_records AS
SELECT
    r.identity_hash,
    r.feature_code,
    r.feature_name,
    r.policy_code,
    r.policy_name,
    r.status,
    r.status_raw,
    r.region,
    r.platform,
    r.owner,
    r.team,
    r.effective_from,
    r.effective_to,
    r.note,
    r.is_active,
    r.source,
    r.source_row,
    r.first_seen_at,
    r.last_changed_at,
    coalesce(s.sources, 1) AS source_count,
    coalesce(s.versions, 1) > 1 AS has_conflict
FROM core.record AS r
LEFT JOIN (
    SELECT
        identity_hash,
        count(*) AS sources,
        count(DISTINCT content_hash) AS versions
    FROM core.source_record
    WHERE is_active
    GROUP BY identity_hash
    HAVING count(*) > 1
) AS s USING (identity_hash)
WITH NO DATA;
COMMENT ON MATERIALIZED VIEW snapshot.current_records IS
    'Every record (active and inactive) as users see it; has_conflict: active sources disagree.';
CREATE UNIQUE INDEX current_records_identity_idx ON snapshot.current_records (identity_hash);

CREATE MATERIALIZED VIEW snapshot.home_summary AS
SELECT
    CASE
        WHEN GROUPING(r.team) = 0 THEN 'team'
        WHEN GROUPING(r.region) = 0 THEN 'region'
        WHEN GROUPING(r.platform) = 0 THEN 'platform'
        ELSE 'total'
    END AS dimension,
    coalesce(r.team, r.region, r.platform) AS value,
    r.status,
    count(*) AS records,
    count(*) FILTER (WHERE r.is_active) AS active_records
FROM core.record AS r
GROUP BY GROUPING SETS ((r.status), (r.team, r.status), (r.region, r.status), (r.platform, r.status))
WITH NO DATA;
COMMENT ON MATERIALIZED VIEW snapshot.home_summary IS
    'Record counts by status, overall (dimension total) and per team, region and platform.';
-- Unique so it can be refreshed CONCURRENTLY: a plain refresh would lock psql readers out
-- for as long as the grouping over every record takes.
CREATE UNIQUE INDEX home_summary_key_idx
    ON snapshot.home_summary (dimension, value, status) NULLS NOT DISTINCT;

CREATE MATERIALIZED VIEW snapshot.record_history AS
SELECT
    h.history_id,
    h.identity_hash,
    r.feature_code,
    r.policy_code,
    r.region,
    r.platform,
    h.changed_at,
    h.change,
    h.changed_fields,
    h.before,
    h.after,
    h.batch_id,
    b.source AS batch_source,
    b.file_name AS batch_file
FROM core.record_history AS h
JOIN core.record AS r USING (identity_hash)
JOIN ops.batch AS b USING (batch_id)
WITH NO DATA;
COMMENT ON MATERIALIZED VIEW snapshot.record_history IS
    'Each record''s timeline: what changed (before -> after), when, and which batch/file did it.';
CREATE UNIQUE INDEX record_history_id_idx ON snapshot.record_history (history_id);
CREATE INDEX record_history_identity_idx ON snapshot.record_history (identity_hash, changed_at);

CREATE MATERIALIZED VIEW snapshot.recent_changes AS
SELECT
    h.history_id,
    h.changed_at,
    h.change,
    h.identity_hash,
    h.feature_code,
    h.policy_code,
    h.region,
    h.platform,
    h.changed_fields,
    h.batch_id,
    h.batch_source
FROM snapshot.record_history AS h
WHERE h.change <> 'inserted' OR h.batch_id <> (
    SELECT min(b.batch_id) FROM ops.batch AS b WHERE b.source = h.batch_source
)
WITH NO DATA;
COMMENT ON MATERIALIZED VIEW snapshot.recent_changes IS
    'Changes users care about: every history row except the initial load of each source.';
CREATE UNIQUE INDEX recent_changes_id_idx ON snapshot.recent_changes (history_id);

CREATE MATERIALIZED VIEW snapshot.conflicts AS
SELECT
    sr.identity_hash,
    sr.feature_code,
    sr.policy_code,
    sr.region,
    sr.platform,
    sr.source,
    src.priority,
    sr.source = r.source AS is_shown,
    sr.status,
    sr.owner,
    sr.team,
    sr.feature_name,
    sr.policy_name,
    sr.effective_from,
    sr.effective_to,
    sr.note
FROM core.source_record AS sr
JOIN ops.source AS src ON src.name = sr.source
JOIN core.record AS r USING (identity_hash)
WHERE sr.is_active
  AND sr.identity_hash IN (
      SELECT identity_hash
      FROM core.source_record
      WHERE is_active
      GROUP BY identity_hash
      HAVING count(DISTINCT content_hash) > 1
  )
WITH NO DATA;
COMMENT ON MATERIALIZED VIEW snapshot.conflicts IS
    'For admins: identities whose active sources disagree, one row per source; is_shown marks '
    'the source the record displays (lowest priority number).';
CREATE INDEX conflicts_identity_idx ON snapshot.conflicts (identity_hash);

-- ===== from db/schema/90_grants.sql =====
-- Privileges: least privilege for the loader and the reader. Functions run by the
-- loader are SECURITY DEFINER (owned by fmw_owner) with a fixed search_path.

REVOKE ALL ON SCHEMA ops, raw, core, snapshot FROM PUBLIC;

GRANT USAGE ON SCHEMA ops, raw, core TO fmw_loader;
GRANT INSERT ON raw.row TO fmw_loader;           -- COPY ... FROM STDIN needs INSERT
GRANT SELECT ON ops.batch, ops.source TO fmw_loader;

GRANT USAGE ON SCHEMA snapshot TO fmw_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA snapshot TO fmw_reader;
ALTER DEFAULT PRIVILEGES FOR ROLE fmw_owner IN SCHEMA snapshot GRANT SELECT ON TABLES TO fmw_reader;

-- Functions are not executable by PUBLIC; each file in db/functions grants its own.
ALTER DEFAULT PRIVILEGES FOR ROLE fmw_owner REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;

-- ===== vocabularies =====
-- Vocabularies: data, editable by admins (core.add_header_alias, core.add_status_synonym).
-- Keys are written pre-normalized; tests check key = core.header_key(alias) / core.status_key(synonym).

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

INSERT INTO core.header_alias (alias_key, field, alias) VALUES
    ('feature code', 'feature_code', 'feature_code'),
    ('기능코드', 'feature_code', '기능코드'),
    ('피처코드', 'feature_code', '피처코드'),
    ('feature name', 'feature_name', 'feature_name'),
    ('기능명', 'feature_name', '기능명'),
    ('피처명', 'feature_name', '피처명'),
    ('policy code', 'policy_code', 'policy_code'),
    ('정책코드', 'policy_code', '정책코드'),
    ('policy name', 'policy_name', 'policy_name'),
    ('정책명', 'policy_name', '정책명'),
    ('status', 'status', 'status'),
    ('상태', 'status', '상태'),
    ('region', 'region', 'region'),
    ('국가', 'region', '국가'),
    ('지역', 'region', '지역'),
    ('market', 'region', 'market'),
    ('platform', 'platform', 'platform'),
    ('플랫폼', 'platform', '플랫폼'),
    ('owner', 'owner', 'owner'),
    ('담당자', 'owner', '담당자'),
    ('team', 'team', 'team'),
    ('팀', 'team', '팀'),
    ('부서', 'team', '부서'),
    ('effective from', 'effective_from', 'effective_from'),
    ('start date', 'effective_from', 'start_date'),
    ('시작일', 'effective_from', '시작일'),
    ('적용일', 'effective_from', '적용일'),
    ('effective to', 'effective_to', 'effective_to'),
    ('end date', 'effective_to', 'end_date'),
    ('종료일', 'effective_to', '종료일'),
    ('note', 'note', 'note'),
    ('비고', 'note', '비고'),
    ('remarks', 'note', 'remarks');

INSERT INTO core.status (code, label_ko, label_en, sort_order) VALUES
    ('enabled', '적용', 'Enabled', 1),
    ('disabled', '미적용', 'Disabled', 2),
    ('pilot', '시범', 'Pilot', 3),
    ('planned', '예정', 'Planned', 4),
    ('deprecated', '폐기', 'Deprecated', 5),
    ('unknown', '미확인', 'Unknown', 9);

INSERT INTO core.status_synonym (synonym_key, status, synonym) VALUES
    ('enabled', 'enabled', 'enabled'),
    ('on', 'enabled', 'on'),
    ('y', 'enabled', 'y'),
    ('yes', 'enabled', 'yes'),
    ('active', 'enabled', 'active'),
    ('적용', 'enabled', '적용'),
    ('사용', 'enabled', '사용'),
    ('활성', 'enabled', '활성'),
    ('운영', 'enabled', '운영'),
    ('disabled', 'disabled', 'disabled'),
    ('off', 'disabled', 'off'),
    ('n', 'disabled', 'n'),
    ('no', 'disabled', 'no'),
    ('inactive', 'disabled', 'inactive'),
    ('미적용', 'disabled', '미적용'),
    ('미사용', 'disabled', '미사용'),
    ('비활성', 'disabled', '비활성'),
    ('중지', 'disabled', '중지'),
    ('pilot', 'pilot', 'pilot'),
    ('beta', 'pilot', 'beta'),
    ('test', 'pilot', 'test'),
    ('시범', 'pilot', '시범'),
    ('테스트', 'pilot', '테스트'),
    ('planned', 'planned', 'planned'),
    ('todo', 'planned', 'todo'),
    ('예정', 'planned', '예정'),
    ('계획', 'planned', '계획'),
    ('deprecated', 'deprecated', 'deprecated'),
    ('retired', 'deprecated', 'retired'),
    ('eol', 'deprecated', 'eol'),
    ('폐기', 'deprecated', '폐기'),
    ('종료', 'deprecated', '종료');

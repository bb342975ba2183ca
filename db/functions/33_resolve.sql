-- Resolving, the last part of core.process_batch: for every identity in pg_temp.fmw_touched,
-- what users see in core.record (the active source with the lowest priority number) and a
-- history row when that changed. core.resolve_records is the table of contents.

CREATE OR REPLACE FUNCTION core.resolve_records(p_batch_id bigint, p_now timestamptz)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    ANALYZE pg_temp.fmw_touched;
    PERFORM core.resolve_touched();
    PERFORM core.write_resolved_records(p_batch_id, p_now);
    PERFORM core.write_resolved_history(p_batch_id, p_now);
    DROP TABLE pg_temp.fmw_resolved;
END
$$;
COMMENT ON FUNCTION core.resolve_records(bigint, timestamptz) IS
    'Internal to core.process_batch: for each touched identity, show the active source with the '
    'lowest priority number in core.record, keep its source_count and has_conflict, and write a '
    'history row when what users see changed. Reads pg_temp.fmw_touched; its steps hand rows '
    'on in pg_temp.fmw_resolved, dropped at the end.';

CREATE OR REPLACE FUNCTION core.resolve_touched()
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- Per touched identity: the shown source (active first, then the lowest priority
    -- number), how many active sources report it and whether they disagree. The sort
    -- carries the source rows only; the history documents are built after it.
    CREATE TEMP TABLE fmw_resolved ON COMMIT DROP AS
    SELECT
        (w.shown).*,
        greatest(w.active_sources, 1) AS source_count,
        coalesce(w.versions_differ, false) AS has_conflict,
        core.history_doc(
            source => (w.shown).source, feature_code => (w.shown).feature_code,
            feature_name => (w.shown).feature_name, policy_code => (w.shown).policy_code,
            policy_name => (w.shown).policy_name, status => (w.shown).status,
            status_raw => (w.shown).status_raw, region => (w.shown).region,
            platform => (w.shown).platform, owner => (w.shown).owner, team => (w.shown).team,
            effective_from => (w.shown).effective_from,
            effective_to => (w.shown).effective_to, note => (w.shown).note,
            is_active => (w.shown).is_active) AS doc,
        r.identity_hash IS NULL AS is_new,
        r.identity_hash IS NOT NULL AND r.is_active = (w.shown).is_active
            AND r.content_hash = (w.shown).content_hash
            AND r.source = (w.shown).source AS same_record,
        r.status_raw IS NOT DISTINCT FROM (w.shown).status_raw AS same_word,
        r.source_count AS old_source_count,
        r.has_conflict AS old_has_conflict,
        r.is_active AS was_active,
        CASE WHEN r.identity_hash IS NOT NULL THEN core.history_doc(
            source => r.source, feature_code => r.feature_code, feature_name => r.feature_name,
            policy_code => r.policy_code, policy_name => r.policy_name, status => r.status,
            status_raw => r.status_raw, region => r.region, platform => r.platform,
            owner => r.owner, team => r.team, effective_from => r.effective_from,
            effective_to => r.effective_to, note => r.note, is_active => r.is_active)
        END AS before_doc
    FROM (
        SELECT DISTINCT ON (sr.identity_hash)
            sr AS shown,
            sr.identity_hash,
            count(*) FILTER (WHERE sr.is_active) OVER same_identity AS active_sources,
            min(sr.content_hash::text) FILTER (WHERE sr.is_active) OVER same_identity
                <> max(sr.content_hash::text) FILTER (WHERE sr.is_active) OVER same_identity
                AS versions_differ
        FROM core.source_record AS sr
        JOIN pg_temp.fmw_touched AS t USING (identity_hash)
        JOIN ops.source AS src ON src.name = sr.source
        WINDOW same_identity AS (PARTITION BY sr.identity_hash)
        ORDER BY sr.identity_hash, sr.is_active DESC, src.priority, sr.source
    ) AS w
    LEFT JOIN core.record AS r USING (identity_hash);

    -- Nothing to write where the shown source, its values, word and agreement are the same.
    DELETE FROM pg_temp.fmw_resolved
    WHERE same_record AND same_word AND old_source_count = source_count
      AND old_has_conflict = has_conflict;
END
$$;
COMMENT ON FUNCTION core.resolve_touched() IS
    'Internal to core.resolve_records: each touched identity''s shown source row, '
    'source_count, has_conflict and history documents, beside its current record; identities '
    'whose record stays as it is are left out. Reads pg_temp.fmw_touched, core.source_record, '
    'ops.source and core.record; creates and writes pg_temp.fmw_resolved.';

CREATE OR REPLACE FUNCTION core.write_resolved_records(p_batch_id bigint, p_now timestamptz)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    INSERT INTO core.record (
        identity_hash, feature_code, feature_name, policy_code, policy_name, status,
        status_raw, region, platform, owner, team, effective_from, effective_to, note, source,
        source_row, content_hash, is_active, first_seen_at, last_changed_at, last_batch_id,
        source_count, has_conflict)
    SELECT
        identity_hash, feature_code, feature_name, policy_code, policy_name, status,
        status_raw, region, platform, owner, team, effective_from, effective_to, note, source,
        source_row, content_hash, is_active, p_now, p_now, p_batch_id, source_count,
        has_conflict
    FROM pg_temp.fmw_resolved
    WHERE is_new;

    -- What users see changed, or only whether other sources agree or the source's word.
    UPDATE core.record AS r SET
        feature_code = x.feature_code, feature_name = x.feature_name,
        policy_code = x.policy_code, policy_name = x.policy_name,
        status = x.status, status_raw = x.status_raw, region = x.region,
        platform = x.platform, owner = x.owner, team = x.team,
        effective_from = x.effective_from, effective_to = x.effective_to,
        note = x.note, source = x.source, source_row = x.source_row,
        content_hash = x.content_hash, is_active = x.is_active,
        last_changed_at = CASE WHEN x.same_record THEN r.last_changed_at ELSE p_now END,
        last_batch_id = CASE WHEN x.same_record THEN r.last_batch_id ELSE p_batch_id END,
        source_count = x.source_count, has_conflict = x.has_conflict
    FROM pg_temp.fmw_resolved AS x
    WHERE r.identity_hash = x.identity_hash AND NOT x.is_new;
END
$$;
COMMENT ON FUNCTION core.write_resolved_records(bigint, timestamptz) IS
    'Internal to core.resolve_records: inserts the resolved identities that have no record '
    'yet and updates the others. Reads pg_temp.fmw_resolved; writes core.record.';

CREATE OR REPLACE FUNCTION core.write_resolved_history(p_batch_id bigint, p_now timestamptz)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- A history row when what users see changed (not when only the agreement did).
    INSERT INTO core.record_history (
        identity_hash, batch_id, changed_at, change, changed_fields, before, after)
    SELECT
        identity_hash, p_batch_id, p_now,
        CASE
            WHEN is_new THEN 'inserted'
            WHEN was_active AND NOT is_active THEN 'deactivated'
            WHEN NOT was_active AND is_active THEN 'reactivated'
            ELSE 'updated'
        END,
        CASE WHEN is_new THEN '{}'::text[] ELSE ARRAY(
            SELECT a.key FROM jsonb_each(doc) AS a (key, value)
            WHERE before_doc -> a.key IS DISTINCT FROM a.value
            ORDER BY a.key
        ) END,
        before_doc, doc
    FROM pg_temp.fmw_resolved
    WHERE NOT same_record;
END
$$;
COMMENT ON FUNCTION core.write_resolved_history(bigint, timestamptz) IS
    'Internal to core.resolve_records: a core.record_history row (change, changed fields, '
    'before and after) for each resolved identity whose shown values changed. Reads '
    'pg_temp.fmw_resolved; writes core.record_history.';

REVOKE EXECUTE ON FUNCTION
    core.resolve_records(bigint, timestamptz), core.resolve_touched(),
    core.write_resolved_records(bigint, timestamptz),
    core.write_resolved_history(bigint, timestamptz)
FROM PUBLIC;

-- 000018 record tally (issue 14): snapshot.home_summary groups core.record_tally, counts kept
-- by triggers of core.record as records change, instead of every record: a day's refresh
-- costs what the day changed. The same SQL as db/schema/30_core.sql and 40_snapshot.sql.
-- The tally is filled from the records under a lock that keeps every writer of core.record
-- out until the triggers exist, so no change is missed or counted twice.
SET LOCAL ROLE fmw_owner;

LOCK TABLE core.record IN SHARE ROW EXCLUSIVE MODE;

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

INSERT INTO core.record_tally (team, region, platform, status, is_active, records)
SELECT r.team, r.region, r.platform, r.status, r.is_active, count(*)
FROM core.record AS r
GROUP BY r.team, r.region, r.platform, r.status, r.is_active;

-- Refreshed (not concurrently: it is empty) by the next sync, as any unpopulated view.
DROP MATERIALIZED VIEW snapshot.home_summary;
CREATE MATERIALIZED VIEW snapshot.home_summary AS
SELECT
    CASE
        WHEN GROUPING(t.team) = 0 THEN 'team'
        WHEN GROUPING(t.region) = 0 THEN 'region'
        WHEN GROUPING(t.platform) = 0 THEN 'platform'
        ELSE 'total'
    END AS dimension,
    coalesce(t.team, t.region, t.platform) AS value,
    t.status,
    sum(t.records)::bigint AS records,
    coalesce(sum(t.records) FILTER (WHERE t.is_active), 0)::bigint AS active_records,
    md5(coalesce(t.team, t.region, t.platform))::uuid AS value_key
FROM core.record_tally AS t
GROUP BY GROUPING SETS ((t.status), (t.team, t.status), (t.region, t.status), (t.platform, t.status))
HAVING sum(t.records) <> 0  -- a combination whose records all changed away
WITH NO DATA;
COMMENT ON MATERIALIZED VIEW snapshot.home_summary IS
    'Record counts by status, overall (dimension total) and per team, region and platform; '
    'grouped from core.record_tally, which holds the same counts as core.record.';
COMMENT ON COLUMN snapshot.home_summary.value_key IS
    'md5 of value: what the unique index is on, since a value (up to 32,767 characters as '
    'loaded, more after NFKC) can be longer than a btree index row may be.';
-- Unique so it can be refreshed CONCURRENTLY: a plain refresh would lock psql readers out
-- for as long as the grouping over every record takes. On value_key, not value: a long team
-- name would otherwise fail every refresh, and with it every export.
CREATE UNIQUE INDEX home_summary_key_idx
    ON snapshot.home_summary (dimension, value_key, status) NULLS NOT DISTINCT;
-- Filled now (from the small tally), so psql readers never meet an unpopulated view.
REFRESH MATERIALIZED VIEW snapshot.home_summary;

-- Issue 15: a team, region or platform longer than a btree index row may be (about 2.7 kB,
-- and the loader takes cells of 32,767 characters, which NFKC can make many times longer)
-- failed every refresh of snapshot.home_summary, and so every later export. Its unique index
-- (which REFRESH CONCURRENTLY needs) is now on value_key, the md5 of the value. The view is
-- created empty; the next `fmw sync` or `fmw export` fills it (snapshot.refresh_plan lists a
-- view that is not populated). The same SQL as db/schema/40_snapshot.sql.
SET LOCAL ROLE fmw_owner;

DROP MATERIALIZED VIEW snapshot.home_summary;

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
    count(*) FILTER (WHERE r.is_active) AS active_records,
    md5(coalesce(r.team, r.region, r.platform))::uuid AS value_key
FROM core.record AS r
GROUP BY GROUPING SETS ((r.status), (r.team, r.status), (r.region, r.status), (r.platform, r.status))
WITH NO DATA;
COMMENT ON MATERIALIZED VIEW snapshot.home_summary IS
    'Record counts by status, overall (dimension total) and per team, region and platform.';
COMMENT ON COLUMN snapshot.home_summary.value_key IS
    'md5 of value: what the unique index is on, since a value (up to 32,767 characters as '
    'loaded, more after NFKC) can be longer than a btree index row may be.';
CREATE UNIQUE INDEX home_summary_key_idx
    ON snapshot.home_summary (dimension, value_key, status) NULLS NOT DISTINCT;

-- A year of history for bench/pipeline.py (issue 14): run once, right after the first sync
-- of one source ('bench'), as the admin, with psql-style variables replaced by the script:
--   :days     days of history (365)
-- Every day, 1% of the records change their owner and change back later, so that after the
-- year every record shows exactly what the first sync loaded: the next real load (day 2)
-- then changes the same 1% of records as without the year. Built set-wise, in minutes rather
-- than 365 runs of core.process_batch (about an hour), but written the way process_batch
-- writes: one processed ops.batch row a day, history rows with core.history_doc documents
-- (the record's own, the owner replaced), changed_fields {owner}, the initial load moved a
-- year back. Slots spread the changes: change number s (0 .. days x N/100 - 1) is on day
-- s / (N/100) + 1 and changes record (s x 7919) mod N, so each record changes 3 or 4 times
-- a year, about 100 days apart, and each day exactly 1% of the records change.

SET LOCAL work_mem = '512MB';

CREATE TEMP TABLE bench_year_record ON COMMIT DROP AS
SELECT
    r.identity_hash,
    row_number() OVER (ORDER BY r.identity_hash) - 1 AS i,
    r.owner,
    core.history_doc(
        source => r.source, feature_code => r.feature_code, feature_name => r.feature_name,
        policy_code => r.policy_code, policy_name => r.policy_name, status => r.status,
        status_raw => r.status_raw, region => r.region, platform => r.platform,
        owner => r.owner, team => r.team, effective_from => r.effective_from,
        effective_to => r.effective_to, note => r.note, is_active => r.is_active) AS doc
FROM core.record AS r;
CREATE UNIQUE INDEX ON bench_year_record (i);

CREATE TEMP TABLE bench_year_day ON COMMIT DROP AS
SELECT
    d AS day,
    (SELECT min(first_seen_at) FROM core.record) - make_interval(days => :days + 1 - d) AS at
FROM generate_series(0, :days) AS d;

-- One processed batch a day, dated that day.
CREATE TEMP TABLE bench_year_batch ON COMMIT DROP AS
WITH added AS (
    INSERT INTO ops.batch (
        source, file_name, file_sha256, file_encoding, headers, full_extract, row_count, status,
        inserted, updated, unchanged, deactivated, rejected, issues, created_at, processed_at)
    SELECT
        'bench', format('year-day-%s.csv', d.day),
        encode(sha256(convert_to('bench year day ' || d.day, 'UTF8')), 'hex'), 'utf-8', '{}',
        true, n.records, 'processed', 0, n.records / 100, n.records - n.records / 100, 0, 0, 0,
        d.at, d.at
    FROM bench_year_day AS d, (SELECT count(*) AS records FROM bench_year_record) AS n
    WHERE d.day > 0
    ORDER BY d.day
    RETURNING batch_id, file_name
)
SELECT a.batch_id, d.day, d.at
FROM added AS a
JOIN bench_year_day AS d ON a.file_name = format('year-day-%s.csv', d.day);

-- Which record changes on which day: j-th of its k changes this year.
CREATE TEMP TABLE bench_year_change ON COMMIT DROP AS
WITH slot AS (
    SELECT (s * 7919) % n.records AS i, s / greatest(n.records / 100, 1) + 1 AS day
    FROM (SELECT count(*) AS records FROM bench_year_record) AS n,
         generate_series(0, :days * greatest(n.records / 100, 1) - 1) AS s
)
SELECT
    i,
    day,
    row_number() OVER (PARTITION BY i ORDER BY day) AS j,
    count(*) OVER (PARTITION BY i) AS k
FROM slot;

-- The owner a record had after its change number j (the last change restores its own).
CREATE FUNCTION pg_temp.bench_owner(p_j bigint, p_k bigint, p_owner text)
RETURNS jsonb
LANGUAGE sql IMMUTABLE
RETURN CASE WHEN p_j = p_k THEN coalesce(to_jsonb(p_owner), 'null') ELSE to_jsonb('이력 ' || p_j) END;

INSERT INTO core.record_history (identity_hash, batch_id, changed_at, change, changed_fields,
                                 before, after)
SELECT
    r.identity_hash,
    b.batch_id,
    b.at,
    'updated',
    '{owner}',
    jsonb_set(r.doc, '{owner}', pg_temp.bench_owner(c.j - 1, c.k, r.owner)),
    jsonb_set(r.doc, '{owner}', pg_temp.bench_owner(c.j, c.k, r.owner))
FROM bench_year_change AS c
JOIN bench_year_record AS r USING (i)
JOIN bench_year_batch AS b USING (day)
ORDER BY c.day, r.identity_hash;

-- The first sync happened a year earlier, with the owners the year then changed.
UPDATE core.record_history AS h
SET changed_at = (SELECT at FROM bench_year_day WHERE day = 0),
    after = CASE WHEN c.i IS NULL THEN h.after
                 ELSE jsonb_set(h.after, '{owner}', pg_temp.bench_owner(0, 1, NULL)) END
FROM bench_year_record AS r
LEFT JOIN (SELECT DISTINCT i FROM bench_year_change) AS c USING (i)
WHERE h.batch_id = (SELECT min(batch_id) FROM ops.batch)
  AND h.identity_hash = r.identity_hash;

UPDATE ops.batch
SET created_at = (SELECT at FROM bench_year_day WHERE day = 0),
    processed_at = (SELECT at FROM bench_year_day WHERE day = 0)
WHERE batch_id = (SELECT min(batch_id) FROM ops.batch);

UPDATE core.record AS r
SET first_seen_at = y.start, last_changed_at = coalesce(l.last_at, y.start)
FROM (SELECT at AS start FROM bench_year_day WHERE day = 0) AS y,
     bench_year_record AS x
LEFT JOIN (
    SELECT c.i, max(b.at) AS last_at
    FROM bench_year_change AS c JOIN bench_year_batch AS b USING (day)
    GROUP BY c.i
) AS l USING (i)
WHERE r.identity_hash = x.identity_hash;

ANALYZE core.record, core.record_history, ops.batch;

-- ops jobs: what `fmw scheduler run` runs, in pg_cron's shapes (cron.job and
-- cron.job_run_details) so a DBA who knows pg_cron feels at home and a later move
-- to real pg_cron is an INSERT ... SELECT of the same columns.
SET LOCAL ROLE fmw_owner;

-- The schedule grammar, in SQL, so that no row can hold a schedule the scheduler
-- cannot run. fmw.scheduler.cron.parse_schedule (Python) gives the same reasons word for word;
-- tests/integration/test_jobs_sql.py feeds both the corpus in tests/support/cron_corpus.py
-- and generated schedules, and requires the same verdicts.
CREATE FUNCTION ops.schedule_problem(p_schedule text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c_names constant text[] := ARRAY['minute', 'hour', 'day of month', 'month', 'day of week'];
    c_low constant int[] := ARRAY[0, 0, 1, 1, 0];
    c_high constant int[] := ARRAY[59, 23, 31, 12, 7];
    c_months constant text[] := ARRAY['jan', 'feb', 'mar', 'apr', 'may', 'jun',
                                      'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
    c_dows constant text[] := ARRAY['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
    c_max_days constant int[] := ARRAY[31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    v_seconds text[];
    v_char text;
    v_words text[];
    v_word text;
    v_item text;
    v_parts text[];
    v_names text[];
    v_name text;
    v_low int;
    v_high int;
    v_start int;
    v_stop int;
    v_step int;
    v_value text;
    v_number int;
    v_months int[] := '{}';
    v_days int[] := '{}';
    v_last_day boolean := false;
BEGIN
    IF length(p_schedule) > 999 THEN
        RETURN 'it is longer than 999 characters';
    END IF;
    v_seconds := regexp_match(p_schedule, '^[ \t]*([0-9]+)[ \t]*second(s[ \t]*)?$', 'i');
    IF v_seconds IS NOT NULL THEN
        IF v_seconds[1]::numeric BETWEEN 1 AND 59 THEN
            RETURN NULL;
        END IF;
        RETURN format('%s seconds: an interval runs from 1 to 59 seconds '
                      '(use a cron schedule such as */5 * * * * for longer ones)',
                      v_seconds[1]::numeric);
    END IF;
    v_char := substring(p_schedule FROM '[^A-Za-z0-9 \t*,/$@-]');
    IF v_char IS NOT NULL THEN
        RETURN 'unexpected character ' || CASE
            WHEN ascii(v_char) < 32 OR ascii(v_char) BETWEEN 127 AND 159
                THEN 'U+' || upper(lpad(to_hex(ascii(v_char)), 4, '0'))
            ELSE '''' || v_char || ''''
        END;
    END IF;
    IF btrim(p_schedule, E' \t') = '' THEN
        RETURN 'it is empty';
    END IF;
    v_words := regexp_split_to_array(btrim(p_schedule, E' \t'), E'[ \t]+');
    IF left(v_words[1], 1) = '@' THEN
        IF v_words[1] IN ('@reboot', '@restart') THEN
            RETURN v_words[1] || ' is not supported: FMW''s scheduler runs jobs by time only';
        ELSIF v_words[1] NOT IN ('@yearly', '@annually', '@monthly', '@weekly', '@daily',
                                 '@midnight', '@hourly') THEN
            RETURN 'unknown shortcut ' || v_words[1] || ': use @yearly, @annually, @monthly, '
                   '@weekly, @daily, @midnight or @hourly';
        ELSIF cardinality(v_words) > 1 THEN
            RETURN 'nothing may follow ' || v_words[1];
        END IF;
        RETURN NULL;
    END IF;
    IF cardinality(v_words) <> 5 THEN
        RETURN 'a cron schedule has 5 fields (minute hour day-of-month month day-of-week), '
               'this one has ' || cardinality(v_words);
    END IF;
    FOR i IN 1..5 LOOP
        v_word := v_words[i];
        IF i = 3 AND v_word = '$' THEN
            v_last_day := true;
            CONTINUE;
        END IF;
        v_name := c_names[i];
        v_low := c_low[i];
        v_high := c_high[i];
        v_names := CASE i WHEN 4 THEN c_months WHEN 5 THEN c_dows ELSE '{}'::text[] END;
        FOREACH v_item IN ARRAY string_to_array(v_word, ',') LOOP
            IF strpos(v_item, '$') > 0 THEN
                RETURN '$ (the last day of the month) must be the whole day-of-month field';
            ELSIF strpos(v_item, '@') > 0 THEN
                RETURN 'a shortcut such as @daily must be the whole schedule';
            ELSIF v_item = '' THEN
                RETURN format('%s: empty list item in ''%s''', v_name, v_word);
            END IF;
            v_parts := regexp_match(
                v_item,
                '^(?:(\*)|([A-Za-z0-9]+)(?:-([A-Za-z0-9]+))?)(?:/([A-Za-z0-9]*))?$');
            IF v_parts IS NULL THEN
                RETURN format('%s: cannot read ''%s''', v_name, v_item);
            END IF;
            IF v_parts[1] IS NOT NULL THEN
                v_start := v_low;
                v_stop := v_high;
            ELSE
                -- the first value, then the last one: each a number in range or a name
                FOR j IN 2..3 LOOP
                    v_value := v_parts[j];
                    CONTINUE WHEN v_value IS NULL;
                    IF v_value ~ '^[0-9]+$' THEN
                        IF v_value::numeric NOT BETWEEN v_low AND v_high THEN
                            RETURN format('%s: %s is out of range %s-%s',
                                          v_name, v_value::numeric, v_low, v_high);
                        END IF;
                        v_number := v_value::int;
                    ELSIF lower(v_value) = ANY (v_names) THEN
                        v_number := array_position(v_names, lower(v_value)) - 1 + v_low;
                    ELSIF cardinality(v_names) > 0 THEN
                        RETURN format('%s: ''%s'' is not a number or a name (%s-%s)',
                                      v_name, v_value, v_names[1],
                                      v_names[cardinality(v_names)]);
                    ELSE
                        RETURN format('%s: ''%s'' is not a number', v_name, v_value);
                    END IF;
                    IF j = 2 THEN
                        v_start := v_number;
                        v_stop := v_number;
                    ELSE
                        v_stop := v_number;
                    END IF;
                END LOOP;
                IF v_parts[4] IS NOT NULL AND v_parts[3] IS NULL THEN
                    RETURN format('%s: a step needs a range or * before it (write %s-%s/%s, not %s)',
                                  v_name, v_parts[2], v_high, v_parts[4], v_item);
                END IF;
                IF v_stop < v_start THEN
                    RETURN format('%s: the range %s runs backwards', v_name, v_item);
                END IF;
            END IF;
            v_step := 1;
            IF v_parts[4] IS NOT NULL THEN
                IF v_parts[4] !~ '^[0-9]+$' OR v_parts[4]::numeric < 1 THEN
                    RETURN format('%s: the step in ''%s'' must be a whole number of 1 or more',
                                  v_name, v_item);
                END IF;
                v_step := least(v_parts[4]::numeric, 100)::int;  -- any step past 59 is one value
            END IF;
            IF i = 3 THEN
                v_days := v_days || ARRAY(SELECT generate_series(v_start, v_stop, v_step));
            ELSIF i = 4 THEN
                v_months := v_months || ARRAY(SELECT generate_series(v_start, v_stop, v_step));
            END IF;
        END LOOP;
    END LOOP;
    -- day-of-month AND day-of-week when either starts with '*': some month must have the day
    IF (left(v_words[3], 1) = '*' OR left(v_words[5], 1) = '*') AND NOT v_last_day
       AND NOT EXISTS (SELECT FROM unnest(v_months) AS m, unnest(v_days) AS d
                       WHERE d <= c_max_days[m]) THEN
        RETURN 'it never fires: none of its months has the days of month it names';
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION ops.schedule_problem(text) IS
    'Why a text is not a pg_cron schedule FMW accepts (NULL when it is one): five fields with '
    'names, ranges, steps and lists, $ for the last day of the month, @daily and friends, '
    '"N seconds" (1-59). Same verdicts and reasons as fmw.scheduler.cron.parse_schedule.';

CREATE TABLE ops.job (
    jobid       bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    schedule    text    NOT NULL,
    command     text    NOT NULL,
    nodename    text    NOT NULL DEFAULT 'localhost',
    nodeport    integer NOT NULL DEFAULT coalesce(inet_server_port(), current_setting('port')::integer),
    database    text    NOT NULL DEFAULT current_database(),
    username    text    NOT NULL DEFAULT current_user,
    active      boolean NOT NULL DEFAULT true,
    jobname     text    NOT NULL,
    CONSTRAINT job_jobname_key UNIQUE (jobname),
    CONSTRAINT job_jobname_check CHECK (jobname ~ '^[A-Za-z0-9][A-Za-z0-9_.-]*$'),
    CONSTRAINT job_schedule_check CHECK (ops.schedule_problem(schedule) IS NULL),
    CONSTRAINT job_command_check CHECK (
        btrim(command) <> ''
        AND (command !~ '^fmw:'
             OR command IN ('fmw:sync', 'fmw:export', 'fmw:backup', 'fmw:prune', 'fmw:report'))
    )
);
COMMENT ON TABLE ops.job IS
    'Scheduled jobs, shaped like pg_cron''s cron.job. command is SQL (run in database as '
    'username, like pg_cron) or an FMW task: fmw:sync, fmw:export, fmw:backup, fmw:prune, '
    'fmw:report. Change it with ops.schedule / ops.unschedule (or `fmw job schedule`); a '
    'running `fmw scheduler run` picks changes up within its poll interval. Unlike pg_cron, '
    'jobname is required and unique across users. At most one run per job at a time: the '
    'scheduler holds pg_advisory_lock(1179473738, jobid) while a run is under way.';
COMMENT ON COLUMN ops.job.schedule IS
    'pg_cron syntax: "min hour day-of-month month day-of-week" (names, ranges, steps, '
    'lists; 0 and 7 are Sunday; $ = last day of the month), @daily etc., or "N seconds". '
    'Evaluated in the scheduler''s time zone (setting scheduler.time_zone).';
COMMENT ON COLUMN ops.job.nodename IS
    'nodename / nodeport: kept for pg_cron compatibility; FMW''s scheduler always uses its '
    'configured connection and only switches database.';
COMMENT ON COLUMN ops.job.username IS
    'The role a SQL command runs as (the scheduler does SET ROLE to it when it differs from '
    'its own login); FMW tasks run with the scheduler''s own connection.';

CREATE TABLE ops.job_run_details (
    jobid           bigint,
    runid           bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    job_pid         integer,
    database        text,
    username        text,
    command         text,
    status          text,
    return_message  text,
    start_time      timestamptz,
    end_time        timestamptz,
    -- FMW's own columns (not in pg_cron): which fire this run serves, and which try it is
    scheduled_for   timestamptz,
    attempt         integer NOT NULL DEFAULT 1 CHECK (attempt >= 1),
    CONSTRAINT job_run_details_status_check CHECK (status IN (
        'running',      -- under way
        'succeeded',    -- finished; return_message is the command tag or the task summary
        'failed',       -- return_message is the error; a retry, if any, is a new row
        'interrupted',  -- the scheduler stopped (Ctrl-C, SIGTERM, crash) before it finished;
                        -- its transaction was rolled back
        'skipped'       -- missed while the scheduler was down, beyond the catch-up grace
    ))
);
COMMENT ON TABLE ops.job_run_details IS
    'One row per run attempt of a scheduled job, shaped like pg_cron''s cron.job_run_details '
    'plus scheduled_for (the fire time the run serves: a manual run uses its request time) '
    'and attempt (1, 2, … for retries of a failed fmw:sync). Kept after a job is '
    'unscheduled; pruned by the fmw:prune job (ops.prune_job_run_details).';
CREATE UNIQUE INDEX job_run_details_fire_idx
    ON ops.job_run_details (jobid, scheduled_for, attempt);
CREATE INDEX job_run_details_jobid_start_idx ON ops.job_run_details (jobid, start_time);

-- "Run now" from the console: a request the scheduler takes on its next poll, so the web
-- request returns at once and the run is the scheduler's, recorded like every other.
CREATE TABLE ops.job_run_request (
    request_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    jobid           bigint      NOT NULL REFERENCES ops.job (jobid) ON DELETE CASCADE,
    requested_by    text        NOT NULL,   -- the admin the console names
    requested_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    taken_at        timestamptz             -- NULL: pending; else the run's scheduled_for
);
COMMENT ON TABLE ops.job_run_request IS
    'Runs asked for now (the console''s "run now", ops.request_job_run), pending until a '
    'running `fmw scheduler run` takes them on its next poll (ops.take_job_run_requests) and '
    'runs the job once, like `fmw job run`: its ops.job_run_details row has scheduled_for = '
    'taken_at. Deleted with its job.';
CREATE INDEX job_run_request_pending_idx ON ops.job_run_request (request_id)
    WHERE taken_at IS NULL;
CREATE INDEX job_run_details_start_idx ON ops.job_run_details (start_time);

-- The 98% bar, as one query: SELECT success_rate FROM ops.sync_success_rate;
CREATE FUNCTION ops.sync_success_rate_over(p_days integer)
RETURNS TABLE (
    window_days     integer,
    first_day       date,
    last_day        date,
    days_counted    integer,
    days_succeeded  integer,
    success_rate    numeric,
    failed_days     date[]
)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF p_days IS NULL OR p_days < 1 THEN
        RAISE EXCEPTION 'the window must be 1 day or more, not %', p_days
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN QUERY
    WITH sync_run AS (
        SELECT coalesce(r.scheduled_for, r.start_time)::date AS day, r.status
        FROM ops.job_run_details AS r
        WHERE r.command = 'fmw:sync' AND r.status <> 'running'
    ),
    bounds AS (
        SELECT
            CASE WHEN min(s.day) IS NULL THEN NULL
                 ELSE greatest(current_date - (p_days - 1), min(s.day)) END AS lo,
            CASE WHEN bool_or(s.day = current_date) THEN current_date
                 ELSE current_date - 1 END AS hi
        FROM sync_run AS s
    ),
    per_day AS (
        SELECT d::date AS day,
               coalesce(bool_or(s.status = 'succeeded'), false) AS ok
        FROM bounds AS b
        CROSS JOIN generate_series(b.lo::timestamp, b.hi::timestamp, interval '1 day') AS d
        LEFT JOIN sync_run AS s ON s.day = d::date
        GROUP BY d
    )
    SELECT
        p_days,
        min(pd.day),
        max(pd.day),
        count(pd.day)::integer,
        (count(pd.day) FILTER (WHERE pd.ok))::integer,
        round((count(pd.day) FILTER (WHERE pd.ok))::numeric / nullif(count(pd.day), 0), 4),
        coalesce(array_agg(pd.day ORDER BY pd.day) FILTER (WHERE NOT pd.ok), '{}'::date[])
    FROM per_day AS pd;
END
$$;
COMMENT ON FUNCTION ops.sync_success_rate_over(integer) IS
    'Share of days whose fmw:sync succeeded (at least one attempt) over the last p_days days, '
    'counted from the first day any sync ran; today counts once a sync has run today. Days '
    'follow the session''s TimeZone. NULL rate when no sync has run yet.';

CREATE VIEW ops.sync_success_rate AS
SELECT * FROM ops.sync_success_rate_over(30);
COMMENT ON VIEW ops.sync_success_rate IS
    'ops.sync_success_rate_over(30): the daily sync success rate over the last 30 days '
    '(the bar is 0.98). failed_days lists the days without a successful sync.';

-- Default jobs; change their times with `fmw job schedule NAME 'SCHEDULE' COMMAND`.
INSERT INTO ops.job (jobname, schedule, command, username) VALUES
    ('daily-sync', '0 6 * * *', 'fmw:sync', session_user),
    ('daily-backup', '30 23 * * *', 'fmw:backup', session_user),
    ('weekly-prune-history', '0 5 * * 0', 'fmw:prune', session_user),
    ('daily-report', '15 0 * * *', 'fmw:report', session_user);

REVOKE EXECUTE ON FUNCTION ops.schedule_problem(text), ops.sync_success_rate_over(integer)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.schedule_problem(text), ops.sync_success_rate_over(integer)
    TO fmw_loader;
-- The scheduler (fmw_loader) reads jobs and history; it writes both only through the
-- SECURITY DEFINER functions in db/functions/50_jobs.sql.
GRANT SELECT ON ops.job, ops.job_run_details, ops.sync_success_rate, ops.job_run_request
TO fmw_loader;

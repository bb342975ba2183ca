-- Jobs: schedule, unschedule and record runs. The scheduler runs as fmw_loader, which
-- may only read ops.job and ops.job_run_details; every write goes through these
-- SECURITY DEFINER functions (owned by fmw_owner, search_path pinned).

CREATE OR REPLACE FUNCTION ops.schedule(p_jobname text, p_schedule text, p_command text)
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_problem text := ops.schedule_problem(p_schedule);
    v_jobid bigint;
BEGIN
    IF p_jobname IS NULL OR p_jobname !~ '^[A-Za-z0-9][A-Za-z0-9_.-]*$' THEN
        RAISE EXCEPTION 'invalid job name %: use letters, digits, _ . - (starting with a '
                        'letter or digit)', coalesce(quote_literal(p_jobname), 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_schedule IS NULL OR v_problem IS NOT NULL THEN
        RAISE EXCEPTION 'invalid schedule %: %', coalesce(quote_literal(p_schedule), 'NULL'),
                        coalesce(v_problem, 'a schedule is required')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use cron format (e.g. 5 4 * * *), or interval format ''[1-59] seconds''';
    END IF;
    IF p_command IS NULL OR btrim(p_command) = '' THEN
        RAISE EXCEPTION 'job %: the command is empty', p_jobname
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_command ~ '^fmw:'
       AND p_command NOT IN ('fmw:sync', 'fmw:export', 'fmw:backup', 'fmw:prune', 'fmw:report') THEN
        RAISE EXCEPTION 'job %: unknown FMW task %', p_jobname, p_command
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'FMW tasks are fmw:sync, fmw:export, fmw:backup, fmw:prune and '
                         'fmw:report; '
                         'any other command is SQL.';
    END IF;
    INSERT INTO ops.job AS j (jobname, schedule, command, username)
    VALUES (p_jobname, p_schedule, p_command, session_user)
    ON CONFLICT (jobname) DO UPDATE
        SET schedule = excluded.schedule, command = excluded.command,
            username = excluded.username, database = current_database()
    RETURNING j.jobid INTO v_jobid;
    RETURN v_jobid;
END
$$;
COMMENT ON FUNCTION ops.schedule(text, text, text) IS
    'Like pg_cron''s cron.schedule(job_name, schedule, command): create the job, or change '
    'the schedule and command of the job with that name; returns its jobid. The job runs as '
    'the calling login (session_user) in the current database.';

CREATE OR REPLACE FUNCTION ops.unschedule(p_jobname text)
RETURNS boolean
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    DELETE FROM ops.job WHERE jobname = p_jobname;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'could not find a job named %', coalesce(quote_literal(p_jobname), 'NULL')
            USING ERRCODE = 'no_data_found';
    END IF;
    RETURN true;
END
$$;
COMMENT ON FUNCTION ops.unschedule(text) IS
    'Like pg_cron''s cron.unschedule(job_name): delete the job (its run history stays). '
    'Raises no_data_found when there is no such job.';

CREATE OR REPLACE FUNCTION ops.start_job_run(
    p_jobid bigint,
    p_scheduled_for timestamptz,
    p_attempt integer,
    p_job_pid integer
)
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_runid bigint;
BEGIN
    INSERT INTO ops.job_run_details (jobid, job_pid, database, username, command, status,
                                     start_time, scheduled_for, attempt)
    SELECT j.jobid, p_job_pid, j.database, j.username, j.command, 'running',
           clock_timestamp(), p_scheduled_for, p_attempt
    FROM ops.job AS j
    WHERE j.jobid = p_jobid
    ON CONFLICT (jobid, scheduled_for, attempt) DO NOTHING
    RETURNING runid INTO v_runid;
    RETURN v_runid;
END
$$;
COMMENT ON FUNCTION ops.start_job_run(bigint, timestamptz, integer, integer) IS
    'Record that attempt p_attempt of the run for fire time p_scheduled_for starts now; '
    'returns its runid, or NULL when that attempt was already recorded (another scheduler '
    'ran this fire) or the job no longer exists. Call it holding the job''s advisory lock.';

CREATE OR REPLACE FUNCTION ops.finish_job_run(p_runid bigint, p_status text, p_message text)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF p_status NOT IN ('succeeded', 'failed', 'interrupted') THEN
        RAISE EXCEPTION 'a run ends succeeded, failed or interrupted, not %', p_status
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    UPDATE ops.job_run_details
    SET status = p_status, return_message = p_message, end_time = clock_timestamp()
    WHERE runid = p_runid AND status = 'running';
END
$$;
COMMENT ON FUNCTION ops.finish_job_run(bigint, text, text) IS
    'Record how a running run ended (succeeded, failed or interrupted) with its message.';

CREATE OR REPLACE FUNCTION ops.skip_job_run(
    p_jobid bigint,
    p_scheduled_for timestamptz,
    p_message text
)
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_runid bigint;
BEGIN
    INSERT INTO ops.job_run_details (jobid, database, username, command, status,
                                     return_message, start_time, end_time, scheduled_for)
    SELECT j.jobid, j.database, j.username, j.command, 'skipped', p_message,
           clock_timestamp(), clock_timestamp(), p_scheduled_for
    FROM ops.job AS j
    WHERE j.jobid = p_jobid
    ON CONFLICT (jobid, scheduled_for, attempt) DO NOTHING
    RETURNING runid INTO v_runid;
    RETURN v_runid;
END
$$;
COMMENT ON FUNCTION ops.skip_job_run(bigint, timestamptz, text) IS
    'Record that the fire p_scheduled_for was missed (the scheduler was down past the '
    'catch-up grace) and will not run; NULL when that fire already has a row.';

CREATE OR REPLACE FUNCTION ops.interrupt_unfinished_runs(p_jobid bigint, p_message text)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_count integer;
BEGIN
    UPDATE ops.job_run_details
    SET status = 'interrupted', return_message = p_message,
        end_time = coalesce(end_time, clock_timestamp())
    WHERE jobid = p_jobid AND status = 'running';
    GET DIAGNOSTICS v_count = ROW_COUNT;
    RETURN v_count;
END
$$;
COMMENT ON FUNCTION ops.interrupt_unfinished_runs(bigint, text) IS
    'Mark the job''s runs still "running" as interrupted (a scheduler died mid-run, like '
    'pg_cron''s "server restarted"). Call it holding the job''s advisory lock, so no live '
    'run is touched.';

CREATE OR REPLACE FUNCTION ops.prune_job_run_details(p_older_than interval)
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_count bigint;
BEGIN
    IF p_older_than IS NULL OR p_older_than < interval '1 day' THEN
        RAISE EXCEPTION 'run history is kept at least 1 day, not %', p_older_than
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    DELETE FROM ops.job_run_details
    WHERE start_time < clock_timestamp() - p_older_than AND status <> 'running';
    GET DIAGNOSTICS v_count = ROW_COUNT;
    -- Their requests go with them (a run starts after its request was taken), so that
    -- ops.requeue_job_run_requests never takes a pruned run for one that never started.
    DELETE FROM ops.job_run_request
    WHERE taken_at < clock_timestamp() - p_older_than;
    RETURN v_count;
END
$$;
COMMENT ON FUNCTION ops.prune_job_run_details(interval) IS
    'Delete finished runs that started more than p_older_than ago (at least 1 day); returns '
    'how many; the run requests taken as long ago go too. The fmw:prune job calls it with '
    'the scheduler.keep_run_history_days setting.';

-- Job changes go through fmw_owner (an admin login such as fmw_admin), never the loader:
-- the loader login runs jobs, it does not decide them (issue 15).
REVOKE EXECUTE ON FUNCTION ops.schedule(text, text, text), ops.unschedule(text) FROM fmw_loader;
GRANT EXECUTE ON FUNCTION
    ops.start_job_run(bigint, timestamptz, integer, integer),
    ops.finish_job_run(bigint, text, text),
    ops.skip_job_run(bigint, timestamptz, text),
    ops.interrupt_unfinished_runs(bigint, text),
    ops.prune_job_run_details(interval)
TO fmw_loader;

CREATE OR REPLACE FUNCTION ops.job_setting(p_jobname text)
RETURNS jsonb
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT jsonb_build_object('schedule', j.schedule, 'command', j.command)
    FROM ops.job AS j
    WHERE j.jobname = p_jobname;
END;
COMMENT ON FUNCTION ops.job_setting(text) IS
    'A job''s schedule and command as the audit log records them (before -> after); NULL '
    'when there is no such job.';

CREATE OR REPLACE FUNCTION ops.audited_schedule(
    p_jobname text, p_schedule text, p_command text, p_actor text
)
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_before jsonb := ops.job_setting(p_jobname);
    v_jobid bigint;
BEGIN
    v_jobid := ops.schedule(p_jobname, p_schedule, p_command);
    PERFORM ops.record_admin_action(
        'job.schedule', p_jobname, v_before,
        jsonb_build_object('schedule', p_schedule, 'command', p_command), p_actor
    );
    RETURN v_jobid;
END
$$;
COMMENT ON FUNCTION ops.audited_schedule(text, text, text, text) IS
    'ops.schedule (any command: an FMW task or SQL, run as the calling login) with the change '
    '(before -> after) written to ops.admin_action under p_actor in the same transaction: '
    '`fmw job schedule` calls it with the OS user. Administrators only.';

CREATE OR REPLACE FUNCTION ops.audited_unschedule(p_jobname text, p_actor text)
RETURNS boolean
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_before jsonb := ops.job_setting(p_jobname);
BEGIN
    PERFORM ops.unschedule(p_jobname);
    PERFORM ops.record_admin_action('job.unschedule', p_jobname, v_before, NULL, p_actor);
    RETURN true;
END
$$;
COMMENT ON FUNCTION ops.audited_unschedule(text, text) IS
    'ops.unschedule with the deleted job (before) written to ops.admin_action under p_actor in '
    'the same transaction: `fmw job unschedule` calls it with the OS user. Administrators only.';

CREATE OR REPLACE FUNCTION ops.admin_schedule(
    p_jobname text, p_schedule text, p_command text, p_actor text
)
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- A SQL job runs as the login that scheduled it, and the scheduler's login cannot become
    -- the web app's; nor should a web form carry SQL. The console schedules FMW tasks.
    IF p_command IS NOT NULL AND p_command !~ '^fmw:' THEN
        RAISE EXCEPTION 'job %: the console schedules FMW tasks only (fmw:sync, fmw:export, '
                        'fmw:backup, fmw:prune, fmw:report), not SQL', p_jobname
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'An administrator schedules a SQL job with `fmw job schedule`.';
    END IF;
    RETURN ops.audited_schedule(p_jobname, p_schedule, p_command, p_actor);
END
$$;
COMMENT ON FUNCTION ops.admin_schedule(text, text, text, text) IS
    'ops.audited_schedule for the console: FMW tasks only (a SQL command is refused: it is '
    'scheduled with `fmw job schedule`); the change is audited under p_actor.';

-- The console (fmw_console) schedules through the audited function only.
GRANT EXECUTE ON FUNCTION ops.admin_schedule(text, text, text, text) TO fmw_console;

CREATE OR REPLACE FUNCTION ops.request_job_run(p_jobname text, p_actor text)
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_jobid bigint;
    v_request_id bigint;
BEGIN
    SELECT j.jobid INTO v_jobid FROM ops.job AS j WHERE j.jobname = p_jobname;
    IF v_jobid IS NULL THEN
        RAISE EXCEPTION 'no job is named %', coalesce(quote_literal(p_jobname), 'NULL')
            USING ERRCODE = 'no_data_found';
    END IF;
    INSERT INTO ops.job_run_request (jobid, requested_by)
    VALUES (v_jobid, coalesce(nullif(btrim(p_actor), ''), session_user))
    RETURNING request_id INTO v_request_id;
    PERFORM ops.record_admin_action(
        'job.run_now', p_jobname, NULL, jsonb_build_object('request_id', v_request_id), p_actor
    );
    RETURN v_request_id;
END
$$;
COMMENT ON FUNCTION ops.request_job_run(text, text) IS
    'Ask the scheduler to run job p_jobname once, now (the console''s "run now"): a pending '
    'ops.job_run_request row, audited in ops.admin_action under p_actor; returns its '
    'request_id. A running `fmw scheduler run` takes it within scheduler.poll_seconds.';

CREATE OR REPLACE FUNCTION ops.take_job_run_requests()
RETURNS TABLE (request_id bigint, jobid bigint, fire timestamptz)
LANGUAGE sql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    UPDATE ops.job_run_request AS r
    SET taken_at = clock_timestamp()
    WHERE r.request_id IN (
        SELECT p.request_id FROM ops.job_run_request AS p
        WHERE p.taken_at IS NULL
        ORDER BY p.request_id
        FOR UPDATE SKIP LOCKED
    )
    RETURNING r.request_id, r.jobid, r.taken_at;
END;
COMMENT ON FUNCTION ops.take_job_run_requests() IS
    'For the scheduler: mark every pending run request taken (taken_at, which becomes the '
    'run''s scheduled_for) and return them; a request is taken by one scheduler only.';

CREATE OR REPLACE FUNCTION ops.requeue_job_run_requests()
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_count integer;
BEGIN
    -- Taken but never started: no run of the job serves the fire time the request was given.
    UPDATE ops.job_run_request AS r
    SET taken_at = NULL
    WHERE r.taken_at IS NOT NULL
      AND NOT EXISTS (
          SELECT FROM ops.job_run_details AS d
          WHERE d.jobid = r.jobid AND d.scheduled_for = r.taken_at
      );
    GET DIAGNOSTICS v_count = ROW_COUNT;
    RETURN v_count;
END
$$;
COMMENT ON FUNCTION ops.requeue_job_run_requests() IS
    'For a scheduler starting: put back as pending every run request a scheduler took but '
    'never started (it stopped or died first: no ops.job_run_details row has the request''s '
    'taken_at as scheduled_for); returns how many. One scheduler serves a database.';

GRANT EXECUTE ON FUNCTION ops.request_job_run(text, text) TO fmw_console;
GRANT EXECUTE ON FUNCTION ops.take_job_run_requests(), ops.requeue_job_run_requests() TO fmw_loader;

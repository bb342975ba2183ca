-- 000015 job run request: the console's "run now" asks, the scheduler runs. The same SQL as
-- db/schema/50_ops_jobs.sql and 90_grants.sql; the functions are in db/functions/50_jobs.sql.
SET LOCAL ROLE fmw_owner;

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

GRANT SELECT ON ops.job_run_request TO fmw_loader;
GRANT SELECT ON ops.job_run_request TO fmw_console;

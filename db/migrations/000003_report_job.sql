-- 000003 report job: the edge's daily reports (`fmw:report`: nginx's logs -> the security and
-- usage reports under /api/dev/) become an FMW task ops.job accepts, with a default daily
-- job; and the loader role (the scheduler's, the sync's) may read which migrations are
-- applied, which every `fmw` command checks first. The same SQL as db/schema/50_ops_jobs.sql
-- and db/schema/90_grants.sql.
SET LOCAL ROLE fmw_owner;

ALTER TABLE ops.job DROP CONSTRAINT job_command_check;
ALTER TABLE ops.job ADD CONSTRAINT job_command_check CHECK (
    btrim(command) <> ''
    AND (command !~ '^fmw:'
         OR command IN ('fmw:sync', 'fmw:export', 'fmw:backup', 'fmw:prune', 'fmw:report'))
);
COMMENT ON TABLE ops.job IS
    'Scheduled jobs, shaped like pg_cron''s cron.job. command is SQL (run in database as '
    'username, like pg_cron) or an FMW task: fmw:sync, fmw:export, fmw:backup, fmw:prune, '
    'fmw:report. Change it with ops.schedule / ops.unschedule (or `fmw job schedule`); a '
    'running `fmw scheduler run` picks changes up within its poll interval. Unlike pg_cron, '
    'jobname is required and unique across users. At most one run per job at a time: the '
    'scheduler holds pg_advisory_lock(1179473738, jobid) while a run is under way.';

-- A database whose admin already made a job of that name keeps it.
INSERT INTO ops.job (jobname, schedule, command, username)
VALUES ('daily-report', '15 0 * * *', 'fmw:report', session_user)
ON CONFLICT (jobname) DO NOTHING;

GRANT SELECT ON ops.schema_migration TO fmw_loader;

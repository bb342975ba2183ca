-- 000008 readable SQL: core.process_batch, core.stage_batch and core.resolve_records are
-- split into named steps (db/functions/30_batches.sql .. 33_resolve.sql), re-applied with the
-- other functions after the migrations. Two things here are not functions of db/functions
-- and so belong to a migration. The same SQL as db/schema/30_core.sql and 50_ops_jobs.sql.
SET LOCAL ROLE fmw_owner;

-- The column mapping core.stage_batch hands its steps, one value read by field name.
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

-- The Python parser moved from fmw.cron to fmw.scheduler.cron.
COMMENT ON FUNCTION ops.schedule_problem(text) IS
    'Why a text is not a pg_cron schedule FMW accepts (NULL when it is one): five fields with '
    'names, ranges, steps and lists, $ for the last day of the month, @daily and friends, '
    '"N seconds" (1-59). Same verdicts and reasons as fmw.scheduler.cron.parse_schedule.';

-- 000014 web role: fmw_console, the group role of the web app's login (fmw_web), with least
-- privilege: it reads the bookkeeping tables the console shows, executes exactly the admin
-- functions the console calls (granted in db/functions), and reads and writes Django's own
-- tables in the django schema. No DDL, no direct write to ops, raw or core. The same SQL as
-- db/schema/00_roles.sql and 90_grants.sql.
DO $roles$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'fmw_console') THEN
        -- fmw_admin (NOCREATEROLE) cannot: the DBA re-runs the bootstrap first
        IF NOT (SELECT rolcreaterole OR rolsuper FROM pg_roles WHERE rolname = current_user) THEN
            RAISE EXCEPTION 'role fmw_console does not exist and % cannot create it',
                            current_user
                USING ERRCODE = 'insufficient_privilege',
                      HINT = 'A superuser runs db/bootstrap/roles.sql again (it creates '
                             'fmw_console and the fmw_web login; re-running changes nothing '
                             'else), then fmw db upgrade.';
        END IF;
        CREATE ROLE fmw_console NOLOGIN;
    END IF;
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO fmw_console', current_database());
END
$roles$;

SET LOCAL ROLE fmw_owner;

GRANT USAGE ON SCHEMA ops, raw, core, django TO fmw_console;
GRANT SELECT ON ops.batch, ops.source, ops.schema_migration, ops.vocabulary_version,
    ops.admin_action, ops.job, ops.job_run_details, ops.sync_success_rate
TO fmw_console;
GRANT SELECT ON core.field, core.header_alias, core.status, core.status_synonym,
    core.rejected_row, core.row_issue
TO fmw_console;
GRANT SELECT ON raw.row TO fmw_console;  -- approve/retry first check that rows landed
GRANT EXECUTE ON FUNCTION ops.schedule_problem(text), ops.sync_success_rate_over(integer)
TO fmw_console;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA django TO fmw_console;

-- Privileges: least privilege for the loader and the reader. Functions run by the
-- loader are SECURITY DEFINER (owned by fmw_owner) with a fixed search_path.

REVOKE ALL ON SCHEMA ops, raw, core, snapshot FROM PUBLIC;

GRANT USAGE ON SCHEMA ops, raw, core TO fmw_loader;
-- Landing (raw.land_rows runs as the loader): rows and kept files are added, never changed.
-- SELECT: a row or file stored already is not stored again.
GRANT SELECT, INSERT ON raw.cells, raw.batch_rows, raw.file, raw.file_part TO fmw_loader;
GRANT SELECT ON ops.batch, ops.source TO fmw_loader;
GRANT SELECT ON ops.schema_migration TO fmw_loader;  -- every fmw command checks it
GRANT SELECT ON ops.vocabulary_version TO fmw_loader;  -- and this
-- The vocabulary is readable (`fmw vocab list`); only fmw_owner changes it, through the
-- functions in db/functions/21_vocabulary.sql.
GRANT SELECT ON core.field, core.header_alias, core.status, core.status_synonym TO fmw_loader;

GRANT USAGE ON SCHEMA snapshot TO fmw_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA snapshot TO fmw_reader;
ALTER DEFAULT PRIVILEGES FOR ROLE fmw_owner IN SCHEMA snapshot GRANT SELECT ON TABLES TO fmw_reader;

-- The web app (fmw_console): reads what the console shows; every change goes through the
-- SECURITY DEFINER admin functions that db/functions grants it. It keeps Django's own tables.
GRANT USAGE ON SCHEMA ops, raw, core, django TO fmw_console;
GRANT SELECT ON ops.batch, ops.source, ops.schema_migration, ops.vocabulary_version,
    ops.admin_action, ops.job, ops.job_run_details, ops.sync_success_rate
TO fmw_console;
GRANT SELECT ON ops.job_run_request TO fmw_console;  -- pending "run now" requests
GRANT SELECT ON core.field, core.header_alias, core.status, core.status_synonym,
    core.rejected_row, core.row_issue
TO fmw_console;
GRANT SELECT ON raw.batch_rows TO fmw_console;  -- approve/retry first check that rows landed
GRANT SELECT ON raw.file TO fmw_console;  -- a batch says whether its file is kept (not its bytes)
GRANT EXECUTE ON FUNCTION ops.schedule_problem(text), ops.sync_success_rate_over(integer)
TO fmw_console;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA django TO fmw_console;

-- Functions are not executable by PUBLIC; each file in db/functions grants its own.
ALTER DEFAULT PRIVILEGES FOR ROLE fmw_owner REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;

-- Privileges: least privilege for the loader and the reader. Functions run by the
-- loader are SECURITY DEFINER (owned by fmw_owner) with a fixed search_path.

REVOKE ALL ON SCHEMA ops, raw, core, snapshot FROM PUBLIC;

GRANT USAGE ON SCHEMA ops, raw, core TO fmw_loader;
GRANT INSERT ON raw.row TO fmw_loader;           -- COPY ... FROM STDIN needs INSERT
GRANT SELECT ON ops.batch, ops.source TO fmw_loader;
GRANT SELECT ON ops.schema_migration TO fmw_loader;  -- every fmw command checks it
GRANT SELECT ON ops.vocabulary_version TO fmw_loader;  -- and this
-- The vocabulary is readable (`fmw vocab list`); only fmw_owner changes it, through the
-- functions in db/functions/21_vocabulary.sql.
GRANT SELECT ON core.field, core.header_alias, core.status, core.status_synonym TO fmw_loader;

GRANT USAGE ON SCHEMA snapshot TO fmw_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA snapshot TO fmw_reader;
ALTER DEFAULT PRIVILEGES FOR ROLE fmw_owner IN SCHEMA snapshot GRANT SELECT ON TABLES TO fmw_reader;

-- Functions are not executable by PUBLIC; each file in db/functions grants its own.
ALTER DEFAULT PRIVILEGES FOR ROLE fmw_owner REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;

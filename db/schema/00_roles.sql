-- Roles: who may do what. Cluster-wide, so created only when missing.
--   fmw_owner  owns every FMW object; `fmw db upgrade` runs as (or SET ROLE to) it.
--   fmw_loader lands files into raw and processes batches through functions only.
--   fmw_reader reads the snapshot schema and nothing else.
--   fmw_console is the web app's (fmw web): it reads the bookkeeping tables, executes the
--               admin functions the console calls and keeps Django's own tables.
-- Deployments create LOGIN users and GRANT these group roles to them.
DO $roles$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'fmw_owner') THEN
        CREATE ROLE fmw_owner NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'fmw_loader') THEN
        CREATE ROLE fmw_loader NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'fmw_reader') THEN
        CREATE ROLE fmw_reader NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'fmw_console') THEN
        CREATE ROLE fmw_console NOLOGIN;
    END IF;
    IF NOT pg_has_role(current_user, 'fmw_owner', 'MEMBER') THEN
        EXECUTE format('GRANT fmw_owner TO %I', current_user);
    END IF;
    EXECUTE format('GRANT CREATE, CONNECT ON DATABASE %I TO fmw_owner', current_database());
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO fmw_loader, fmw_reader', current_database());
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO fmw_console', current_database());
END
$roles$;

GRANT fmw_reader TO fmw_loader;  -- the daily sync exports what it refreshed

-- Everything below is created as, and owned by, fmw_owner.
SET LOCAL ROLE fmw_owner;

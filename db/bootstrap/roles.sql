-- FMW on a configured PostgreSQL: the roles, created once per cluster by a superuser (a DBA),
-- before the first `fmw db upgrade`. Nothing FMW runs afterwards needs a superuser.
--
--   psql -U postgres -f db/bootstrap/roles.sql
--   psql -U postgres -c "CREATE DATABASE fmw OWNER fmw_admin"
--   psql -U postgres -c "\password fmw_admin"      (and fmw_sync, fmw_web; or peer/SSPI auth)
--
-- fmw_admin  a login in fmw_owner: runs `fmw db upgrade` (migrations and db/functions).
--            It owns the database; ADMIN OPTION on fmw_reader because 00_roles.sql grants
--            fmw_reader to fmw_loader. `fmw backup` with backup_verify = "restore" needs
--            CREATEDB too (ALTER ROLE fmw_admin CREATEDB), or use backup_verify = "read".
-- fmw_sync   a login in fmw_loader: the scheduler and `fmw sync` / `fmw load` / `fmw export`
--            (FMW_DATABASE_URL=postgresql://fmw_sync@localhost/fmw, password in PGPASSWORD
--            or pgpass). It lands rows and runs the SECURITY DEFINER processing, refresh and
--            job functions; it cannot create, alter or drop anything.
-- fmw_web    a login in fmw_console: the web app (`fmw web`, [web] database_url =
--            "postgresql://fmw_web@localhost/fmw", password in PGPASSWORD or pgpass). It reads
--            the bookkeeping tables, executes the admin functions the console calls (approve,
--            retry, vocabulary, schedule, run now) and keeps Django's tables (schema django);
--            it cannot create anything nor write ops, raw or core tables itself.
-- Re-running this file changes nothing.
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
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'fmw_admin') THEN
        CREATE ROLE fmw_admin LOGIN NOSUPERUSER NOCREATEROLE;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'fmw_sync') THEN
        CREATE ROLE fmw_sync LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'fmw_web') THEN
        CREATE ROLE fmw_web LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE;
    END IF;
END
$roles$;

GRANT fmw_reader TO fmw_loader;
GRANT fmw_owner TO fmw_admin;
GRANT fmw_reader TO fmw_admin WITH ADMIN OPTION;
GRANT fmw_loader TO fmw_sync;
GRANT fmw_console TO fmw_web;

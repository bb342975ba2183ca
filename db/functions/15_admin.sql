-- The admin audit log's one writer. Every admin function (vocabulary, sources, approving or
-- retrying a batch) calls it in the transaction of the change it records, so a change that
-- rolls back leaves no audit row and no change goes unrecorded.

CREATE OR REPLACE FUNCTION ops.record_admin_action(
    p_action text, p_target text, p_before jsonb, p_after jsonb,
    p_actor text DEFAULT NULL, p_note text DEFAULT NULL
)
RETURNS bigint
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    INSERT INTO ops.admin_action (actor, action, target, before, after, note)
    VALUES (coalesce(nullif(btrim(p_actor), ''), session_user), p_action, p_target, p_before,
            p_after, p_note)
    RETURNING action_id;
END;
COMMENT ON FUNCTION ops.record_admin_action(text, text, jsonb, jsonb, text, text) IS
    'Internal to the admin functions: one ops.admin_action row (who, what, on what, before -> '
    'after). p_actor is who the caller says acted (the fmw command passes the OS user); empty '
    'or NULL means session_user. Not executable by the loader or reader.';

REVOKE EXECUTE ON FUNCTION ops.record_admin_action(text, text, jsonb, jsonb, text, text)
FROM PUBLIC;

CREATE OR REPLACE FUNCTION ops.command_word(p_word text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN CASE
    WHEN p_word <> '' AND p_word !~ '[[:space:]"''`$\\;&|<>()*?!#~%^{}\[\],]' THEN p_word
    ELSE '"' || replace(p_word, '"', '\"') || '"'
END;
COMMENT ON FUNCTION ops.command_word(text) IS
    'A word as an admin types it into a command that a message suggests (fmw vocab alias add '
    '"기능 ID" feature_code): as it is when it has no space or shell character, else in double '
    'quotes, which cmd.exe, PowerShell and POSIX shells all read as one argument.';

GRANT EXECUTE ON FUNCTION ops.command_word(text) TO fmw_loader, fmw_console;

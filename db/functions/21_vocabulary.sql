-- The vocabulary, changed by admins: which header means which field (core.header_alias) and
-- which word means which status (core.status_synonym). `fmw vocab alias|status add|remove`
-- call these; so will an admin console. Each checks its input and says what is wrong (SQLSTATE
-- FM005), refuses to silently re-point a header or word that already means something else,
-- and records the change in ops.admin_action. Only fmw_owner may run them: a vocabulary change
-- changes how every source's files are read. Records follow with core.reresolve_sources.

CREATE OR REPLACE FUNCTION core.add_header_alias(
    p_alias text, p_field text, p_actor text DEFAULT NULL,
    OUT alias_key text, OUT field_before text, OUT field_after text
)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    alias_key := core.header_key(p_alias);
    IF alias_key IS NULL THEN
        RAISE EXCEPTION 'the header is empty: give it as the file writes it, e.g. '
                        '`fmw vocab alias add "기능 ID" feature_code`' USING ERRCODE = 'FM005';
    END IF;
    IF NOT EXISTS (SELECT FROM core.field AS f WHERE f.name = p_field) THEN
        RAISE EXCEPTION 'unknown field %: a header feeds one of %', quote_nullable(p_field),
            (SELECT string_agg(f.name, ', ' ORDER BY f.name) FROM core.field AS f)
            USING ERRCODE = 'FM005';
    END IF;
    SELECT a.field INTO field_before
    FROM core.header_alias AS a WHERE a.alias_key = add_header_alias.alias_key FOR UPDATE;
    field_after := p_field;
    IF field_before = p_field THEN
        RETURN;  -- already so: nothing changes, nothing to record
    ELSIF field_before IS NOT NULL THEN
        RAISE EXCEPTION 'header % already maps to %: remove that first (`fmw vocab alias remove '
                        '% %`)', p_alias, field_before, ops.command_word(p_alias), field_before
            USING ERRCODE = 'FM005';
    END IF;
    INSERT INTO core.header_alias (alias_key, field, alias) VALUES (alias_key, p_field, p_alias);
    PERFORM ops.record_admin_action(
        'vocab.alias.add', p_alias, NULL,
        jsonb_build_object('alias', p_alias, 'alias_key', alias_key, 'field', p_field), p_actor);
END
$$;
COMMENT ON FUNCTION core.add_header_alias(text, text, text) IS
    'For admins (`fmw vocab alias add HEADER FIELD`): make header p_alias (and its spelling '
    'variants, core.header_key) map to field p_field; recorded in ops.admin_action as p_actor. '
    'Refuses (FM005) an empty header, an unknown field, and a header that maps to another '
    'field already. Returns the key and the field before (NULL) and after; no change when it '
    'maps to p_field already.';

CREATE OR REPLACE FUNCTION core.remove_header_alias(
    p_alias text, p_field text, p_actor text DEFAULT NULL,
    OUT alias_key text, OUT field_before text, OUT field_after text
)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_alias text;
BEGIN
    alias_key := core.header_key(p_alias);
    SELECT a.field, a.alias INTO field_before, v_alias
    FROM core.header_alias AS a WHERE a.alias_key = remove_header_alias.alias_key FOR UPDATE;
    IF field_before IS NULL THEN
        RAISE EXCEPTION 'header % maps to no field, so there is nothing to remove; '
                        '`fmw vocab list` shows the aliases', quote_nullable(p_alias)
            USING ERRCODE = 'FM005';
    ELSIF field_before <> p_field THEN
        RAISE EXCEPTION 'header % maps to %, not %: `fmw vocab alias remove % %` removes it',
                        p_alias, field_before, p_field, ops.command_word(p_alias), field_before
            USING ERRCODE = 'FM005';
    END IF;
    DELETE FROM core.header_alias AS a WHERE a.alias_key = remove_header_alias.alias_key;
    PERFORM ops.record_admin_action(
        'vocab.alias.remove', p_alias,
        jsonb_build_object('alias', v_alias, 'alias_key', alias_key, 'field', field_before), NULL,
        p_actor);
END
$$;
COMMENT ON FUNCTION core.remove_header_alias(text, text, text) IS
    'For admins (`fmw vocab alias remove HEADER FIELD`): header p_alias no longer maps to '
    'p_field; recorded in ops.admin_action as p_actor. Refuses (FM005) a header that is no '
    'alias or maps to another field. A removed default is not put back by upgrades.';

CREATE OR REPLACE FUNCTION core.add_status_synonym(
    p_synonym text, p_status text, p_actor text DEFAULT NULL,
    OUT synonym_key text, OUT status_before text, OUT status_after text
)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    synonym_key := core.status_key(p_synonym);
    IF synonym_key IS NULL THEN
        RAISE EXCEPTION 'the status word is empty: give it as the files write it, e.g. '
                        '`fmw vocab status add 보류 planned`' USING ERRCODE = 'FM005';
    END IF;
    IF NOT EXISTS (SELECT FROM core.status AS s WHERE s.code = p_status) THEN
        RAISE EXCEPTION 'unknown status %: a word means one of %', quote_nullable(p_status),
            (SELECT string_agg(s.code, ', ' ORDER BY s.sort_order) FROM core.status AS s)
            USING ERRCODE = 'FM005';
    END IF;
    SELECT s.status INTO status_before
    FROM core.status_synonym AS s WHERE s.synonym_key = add_status_synonym.synonym_key FOR UPDATE;
    status_after := p_status;
    IF status_before = p_status THEN
        RETURN;
    ELSIF status_before IS NOT NULL THEN
        RAISE EXCEPTION 'status word % already means %: remove that first (`fmw vocab status '
                        'remove % %`)', p_synonym, status_before, ops.command_word(p_synonym),
                        status_before
            USING ERRCODE = 'FM005';
    END IF;
    INSERT INTO core.status_synonym (synonym_key, status, synonym)
    VALUES (synonym_key, p_status, p_synonym);
    PERFORM ops.record_admin_action(
        'vocab.status.add', p_synonym, NULL,
        jsonb_build_object('synonym', p_synonym, 'synonym_key', synonym_key, 'status', p_status),
        p_actor);
END
$$;
COMMENT ON FUNCTION core.add_status_synonym(text, text, text) IS
    'For admins (`fmw vocab status add WORD STATUS`): make status word p_synonym (and its '
    'spelling variants, core.status_key) mean p_status; recorded in ops.admin_action as '
    'p_actor. Refuses (FM005) an empty word, an unknown status, and a word that means another '
    'status already. Returns the key and the status before (NULL) and after.';

CREATE OR REPLACE FUNCTION core.remove_status_synonym(
    p_synonym text, p_status text, p_actor text DEFAULT NULL,
    OUT synonym_key text, OUT status_before text, OUT status_after text
)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_synonym text;
BEGIN
    synonym_key := core.status_key(p_synonym);
    SELECT s.status, s.synonym INTO status_before, v_synonym
    FROM core.status_synonym AS s
    WHERE s.synonym_key = remove_status_synonym.synonym_key FOR UPDATE;
    IF status_before IS NULL THEN
        RAISE EXCEPTION 'status word % means no status, so there is nothing to remove; '
                        '`fmw vocab list` shows the words', quote_nullable(p_synonym)
            USING ERRCODE = 'FM005';
    ELSIF status_before <> p_status THEN
        RAISE EXCEPTION 'status word % means %, not %: `fmw vocab status remove % %` removes it',
                        p_synonym, status_before, p_status, ops.command_word(p_synonym),
                        status_before
            USING ERRCODE = 'FM005';
    END IF;
    DELETE FROM core.status_synonym AS s
    WHERE s.synonym_key = remove_status_synonym.synonym_key;
    PERFORM ops.record_admin_action(
        'vocab.status.remove', p_synonym,
        jsonb_build_object('synonym', v_synonym, 'synonym_key', synonym_key,
                           'status', status_before),
        NULL, p_actor);
END
$$;
COMMENT ON FUNCTION core.remove_status_synonym(text, text, text) IS
    'For admins (`fmw vocab status remove WORD STATUS`): status word p_synonym no longer '
    'means p_status; recorded in ops.admin_action as p_actor. Refuses (FM005) a word that is '
    'no synonym or means another status. A removed default is not put back by upgrades.';

REVOKE EXECUTE ON FUNCTION
    core.add_header_alias(text, text, text), core.remove_header_alias(text, text, text),
    core.add_status_synonym(text, text, text), core.remove_status_synonym(text, text, text)
FROM PUBLIC;
-- The console (fmw_console) maps a header or a status word in one step, audited under the
-- admin nginx names.
GRANT EXECUTE ON FUNCTION
    core.add_header_alias(text, text, text), core.remove_header_alias(text, text, text),
    core.add_status_synonym(text, text, text), core.remove_status_synonym(text, text, text)
TO fmw_console;

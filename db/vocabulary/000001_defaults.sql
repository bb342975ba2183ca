-- Vocabulary 000001: the default header aliases and status words, as migration
-- 000001_initial.sql inserted them. `fmw db upgrade` applies each db/vocabulary file once,
-- after the migrations and db/functions, and records it in ops.vocabulary_version: an alias
-- or word an admin removed (`fmw vocab alias remove`, `fmw vocab status remove`) is never put
-- back by a later upgrade, and an admin's own mapping of a header or word wins over a default
-- (ON CONFLICT DO NOTHING). New defaults go into a new file, 000002_..., never into this one.
-- Keys are computed (core.header_key, core.status_key), never written by hand.

-- Header as teams write it -> the field it feeds (core.field).
INSERT INTO core.header_alias (alias_key, field, alias)
SELECT core.header_key(v.alias), v.field, v.alias
FROM (VALUES
    ('feature_code', 'feature_code'),
    ('기능코드', 'feature_code'),
    ('피처코드', 'feature_code'),
    ('feature_name', 'feature_name'),
    ('기능명', 'feature_name'),
    ('피처명', 'feature_name'),
    ('policy_code', 'policy_code'),
    ('정책코드', 'policy_code'),
    ('policy_name', 'policy_name'),
    ('정책명', 'policy_name'),
    ('status', 'status'),
    ('상태', 'status'),
    ('region', 'region'),
    ('국가', 'region'),
    ('지역', 'region'),
    ('market', 'region'),
    ('platform', 'platform'),
    ('플랫폼', 'platform'),
    ('owner', 'owner'),
    ('담당자', 'owner'),
    ('team', 'team'),
    ('팀', 'team'),
    ('부서', 'team'),
    ('effective_from', 'effective_from'),
    ('start_date', 'effective_from'),
    ('시작일', 'effective_from'),
    ('적용일', 'effective_from'),
    ('effective_to', 'effective_to'),
    ('end_date', 'effective_to'),
    ('종료일', 'effective_to'),
    ('note', 'note'),
    ('비고', 'note'),
    ('remarks', 'note')
) AS v (alias, field)
ON CONFLICT (alias_key) DO NOTHING;

-- Status word as teams write it -> the status it means (core.status).
INSERT INTO core.status_synonym (synonym_key, status, synonym)
SELECT core.status_key(v.synonym), v.status, v.synonym
FROM (VALUES
    ('enabled', 'enabled'),
    ('on', 'enabled'),
    ('y', 'enabled'),
    ('yes', 'enabled'),
    ('active', 'enabled'),
    ('적용', 'enabled'),
    ('사용', 'enabled'),
    ('활성', 'enabled'),
    ('운영', 'enabled'),
    ('disabled', 'disabled'),
    ('off', 'disabled'),
    ('n', 'disabled'),
    ('no', 'disabled'),
    ('inactive', 'disabled'),
    ('미적용', 'disabled'),
    ('미사용', 'disabled'),
    ('비활성', 'disabled'),
    ('중지', 'disabled'),
    ('pilot', 'pilot'),
    ('beta', 'pilot'),
    ('test', 'pilot'),
    ('시범', 'pilot'),
    ('테스트', 'pilot'),
    ('planned', 'planned'),
    ('todo', 'planned'),
    ('예정', 'planned'),
    ('계획', 'planned'),
    ('deprecated', 'deprecated'),
    ('retired', 'deprecated'),
    ('eol', 'deprecated'),
    ('폐기', 'deprecated'),
    ('종료', 'deprecated')
) AS v (synonym, status)
ON CONFLICT (synonym_key) DO NOTHING;

-- 000016 status word: a record keeps the word its source wrote for the status (EOL for
-- retired), not only a word that means no status (issue 12: the record page showed nothing
-- where the source wrote EOL). The staging and resolving that fill it are in
-- db/functions/31_stage.sql to 34_sources.sql, re-applied after migrations; their new code
-- changes every raw row's print, so the first sync after the upgrade stages every row
-- again and fills the words in without a history row.
SET LOCAL ROLE fmw_owner;

COMMENT ON COLUMN core.source_record.status_raw IS
    'The source''s own status word as written (normalized), whatever status it means: EOL for '
    'retired. Shown on the record; not part of content_hash unless it matches no synonym '
    '(status = unknown), so a new word with the same meaning changes no value and no history.';
COMMENT ON COLUMN core.record.status_raw IS
    'The shown source''s own status word (core.source_record.status_raw).';

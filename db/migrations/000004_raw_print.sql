-- 000004 raw print: core.source_record remembers the print of the raw row it was staged from
-- (and the text of a date cell that did not parse), so core.process_batch normalizes only the
-- raw rows that are new or edited since the source's last batch. The same SQL as
-- db/schema/30_core.sql. Existing rows have no print yet: their next batch normalizes every
-- row once and prints it.
SET LOCAL ROLE fmw_owner;

ALTER TABLE core.source_record
    ADD COLUMN raw_print uuid,
    ADD COLUMN effective_from_raw text,
    ADD COLUMN effective_to_raw text;
COMMENT ON COLUMN core.source_record.raw_print IS
    'md5 of the raw cells this row was staged from, with the column mapping, vocabulary and '
    'normalization code (core.row_print_context): a later raw row with the same print is '
    'taken from here instead of being normalized again. NULL: never printed.';
COMMENT ON COLUMN core.source_record.effective_from_raw IS
    'effective_from_raw / effective_to_raw: the normalized cell text when it is not a date '
    '(the date is then NULL and the batch has a row issue), else NULL.';

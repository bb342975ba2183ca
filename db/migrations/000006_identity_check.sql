-- 000006 identity check: core.record's check on identity_hash said '^[0-9a-f]{64}$'.
-- PostgreSQL's regex engine runs a bounded repeat slowly: about 7 microseconds a row, which
-- was most of the cost of inserting a million new records. The same rule (64 lowercase hex
-- digits) is now a length test and an unbounded pattern, about 0.7 microseconds a row.
-- The same SQL as db/schema/30_core.sql.
--
-- core.history_doc now takes the fields by name (db/functions/30_batches.sql): building the
-- document with to_jsonb(row) and removing the bookkeeping keys took 9 microseconds a row.
-- The old form is dropped so no stale overload stays behind.
SET LOCAL ROLE fmw_owner;

ALTER TABLE core.record
    DROP CONSTRAINT record_identity_hash_check,
    ADD CONSTRAINT record_identity_hash_check
        CHECK (octet_length(identity_hash) = 64 AND identity_hash ~ '^[0-9a-f]+$');

DROP FUNCTION IF EXISTS core.history_doc(jsonb);

"""The SQL a DBA reads: one definition per rule, short named steps, no positional pitfalls.

These read the installed catalog (``pg_get_functiondef``, ``obj_description``), so they check
what ``fmw db upgrade`` really creates, on the default server and on PostgreSQL 15.
"""

from __future__ import annotations

import re

import psycopg
import pytest

FMW_SCHEMAS = ["ops", "raw", "core", "snapshot"]
ROLES = {"fmw_owner", "fmw_loader", "fmw_reader"}
MAX_STEP_LINES = 60
WHITE_SPACE = "\u0085\u1680\u2028\u2029"
REMOVED = "\u200b\u200c\u200d\ufeff"
CHARACTER_SETS = {"core.removed_characters()", "core.white_space_characters()"}
# field => alias.field, or field => (alias.composite).field
NAMED_FIELD = re.compile(r"(\w+)\s*=>\s*(?:\w+|\(\w+\.\w+\))\.(\w+)")


def definitions(conn: psycopg.Connection) -> dict[str, tuple[str, str, str | None]]:
    """Every FMW function: signature -> (language, pg_get_functiondef, its COMMENT)."""
    rows = conn.execute(
        """
        SELECT p.oid::regprocedure::text, l.lanname, pg_get_functiondef(p.oid),
               obj_description(p.oid, 'pg_proc')
        FROM pg_proc AS p
        JOIN pg_namespace AS n ON n.oid = p.pronamespace
        JOIN pg_language AS l ON l.oid = p.prolang
        WHERE n.nspname = ANY(%s)
        """,
        [FMW_SCHEMAS],
    ).fetchall()
    return {signature: (language, text, comment) for signature, language, text, comment in rows}


def call_arguments(text: str, function: str) -> list[list[str]]:
    """The argument lists of every call of ``function`` in ``text``, split at top-level commas."""
    calls = []
    for match in re.finditer(re.escape(function) + r"\s*\(", text):
        depth, start, arguments = 1, match.end(), []
        position = start
        while depth:
            char = text[position]
            if char == "(":
                depth += 1
            elif char == ")":
                depth -= 1
            if (char == "," and depth == 1) or depth == 0:
                arguments.append(text[start:position].strip())
                start = position + 1
            position += 1
        calls.append(arguments)
    return calls


def process_steps(found: dict[str, tuple[str, str, str | None]]) -> dict[str, str]:
    """core.process_batch and every PL/pgSQL function it calls, directly or not: name -> sig."""
    by_name = {signature.split("(")[0]: signature for signature in found}
    steps: dict[str, str] = {}
    todo = ["core.process_batch"]
    while todo:
        name = todo.pop()
        signature = by_name.get(name)  # None: a table, as in INSERT INTO core.record (...)
        if signature is None or name in steps or found[signature][0] != "plpgsql":
            continue
        steps[name] = signature
        todo.extend(re.findall(r"\b(core\.\w+)\s*\(", found[signature][1]))
    return steps


def test_every_history_doc_call_names_each_field_and_passes_that_field(
    sql_conn: psycopg.Connection,
):
    fields = sql_conn.execute(
        "SELECT proargnames FROM pg_proc WHERE oid = 'core.history_doc'::regproc"
    ).fetchone()[0]
    calls = {
        signature: call_arguments(text, "core.history_doc")
        for signature, (_, text, _) in definitions(sql_conn).items()
        if not signature.startswith("core.history_doc(")
    }
    calls = {signature: found for signature, found in calls.items() if found}
    assert len(calls) >= 2, f"the callers were found: {sorted(calls)}"
    wrong = []
    for signature, found in calls.items():
        for arguments in found:
            named = [NAMED_FIELD.fullmatch(argument) for argument in arguments]
            if any(m is None or m[1] != m[2] for m in named) or [m[1] for m in named] != fields:
                wrong.append((signature, arguments))
    assert wrong == [], (
        "call core.history_doc(field => row.field, ...) with every field, by name, in order: "
        f"{wrong}"
    )


def test_the_identity_formula_is_written_once(sql_conn: psycopg.Connection):
    hashing = sorted(
        signature
        for signature, (_, text, _) in definitions(sql_conn).items()
        if re.search(r"\bsha256\s*\(", text)
    )
    assert hashing == ["core.normalized_identity_hash(text,text,text,text)"]


def test_the_removed_and_white_space_characters_are_written_once(sql_conn: psycopg.Connection):
    characters = WHITE_SPACE + REMOVED
    escapes = [f"{code:04x}" for code in map(ord, characters)]
    spelled = re.compile(r"\\u?(" + "|".join(escapes) + ")", re.IGNORECASE)
    repeating = sorted(
        signature
        for signature, (_, text, _) in definitions(sql_conn).items()
        if signature not in CHARACTER_SETS
        and (any(c in text for c in characters) or spelled.search(text))
    )
    assert repeating == [], "use core.removed_characters() and core.white_space_characters()"


def test_the_character_sets_are_what_docs_identity_hash_lists(sql_conn: psycopg.Connection):
    removed, white = sql_conn.execute(
        "SELECT core.removed_characters(), core.white_space_characters()"
    ).fetchone()
    controls = [*range(0x01, 0x09), *range(0x0E, 0x20), 0x7F]
    assert sorted(removed) == sorted(REMOVED + "".join(map(chr, controls)))
    assert sorted(white) == sorted(" \t\n\v\f\r" + WHITE_SPACE)


@pytest.mark.parametrize(
    "query",
    [
        "SELECT core.norm_cell(relname::text, false) FROM pg_class",
        "SELECT core.normalized_identity_hash(relname::text, relname::text, NULL, '') "
        "FROM pg_class",
    ],
)
def test_the_stage_expressions_are_inlined_with_constant_character_sets(
    sql_conn: psycopg.Connection, query: str
):
    plan = " ".join(row[0] for row in sql_conn.execute(f"EXPLAIN (VERBOSE) {query}"))
    assert "core." not in plan, f"a function is called per row instead of inlined: {plan}"
    assert "characters" not in plan, f"a character set is not folded into a constant: {plan}"


def test_process_batch_is_made_of_short_steps_that_name_their_temporary_tables(
    sql_conn: psycopg.Connection,
):
    found = definitions(sql_conn)
    steps = process_steps(found)
    assert {"core.stage_batch", "core.apply_stage", "core.resolve_records"} <= set(steps)
    too_long = {
        name: len(found[signature][1].splitlines())
        for name, signature in steps.items()
        if len(found[signature][1].splitlines()) > MAX_STEP_LINES
    }
    unnamed = {}
    for name, signature in steps.items():
        _, text, comment = found[signature]
        tables = set(re.findall(r"\bfmw_[a-z]+\b", text)) - ROLES
        missing = {t for t in tables if t not in (comment or "")}
        if missing:
            unnamed[name] = sorted(missing)
    assert too_long == {}, f"steps longer than {MAX_STEP_LINES} lines: {too_long}"
    assert unnamed == {}, f"COMMENT ON FUNCTION must name the temporary tables used: {unnamed}"


def test_field_columns_has_one_field_per_core_field(sql_conn: psycopg.Connection):
    attributes = sql_conn.execute(
        "SELECT array_agg(attname::text ORDER BY attname) FROM pg_attribute "
        "WHERE attrelid = 'core.field_columns'::regclass AND attnum > 0"
    ).fetchone()[0]
    fields = sql_conn.execute("SELECT array_agg(name ORDER BY name) FROM core.field").fetchone()[0]
    assert attributes == fields


def test_field_columns_of_maps_each_field_by_name(sql_conn: psycopg.Connection):
    columns = sql_conn.execute(
        "SELECT to_jsonb(core.field_columns_of(ARRAY['Note', 'x', 'Feature Code', 'Status']))"
    ).fetchone()[0]
    assert {field: col for field, col in columns.items() if col is not None} == {
        "note": 1,
        "feature_code": 3,
        "status": 4,
    }

"""Sources and vocabulary in SQL: shapes, refusals, re-resolving, removal, the admin audit log.

Files are loaded through ``load_file`` (the loader the commands use) into a fresh migrated
database; each test checks one behaviour and the counts that prove nothing else changed.
"""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from fmw import sources, vocabulary
from fmw.errors import AdminRefusedError, SourceFileError, UnknownSourceError
from fmw.loader.dry_run import dry_run
from fmw.loader.landing import SourceSpec, reprocess_batch
from fmw.settings import Settings, SourceSettings
from tests.support.sources import HEADER, ROWS, actions, counts, load, write

# --- the admin vocabulary functions --------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "message"),
    [
        ("core.add_header_alias(' ', 'feature_code')", "the header is empty"),
        ("core.add_header_alias('기능 ID', 'feature_cod')", "unknown field 'feature_cod'"),
        ("core.add_header_alias('상태', 'region')", "header 상태 already maps to status"),
        ("core.remove_header_alias('메모2', 'note')", "header '메모2' maps to no field"),
        ("core.remove_header_alias('상태', 'region')", "header 상태 maps to status, not region"),
        ("core.add_status_synonym('', 'enabled')", "the status word is empty"),
        ("core.add_status_synonym('보류', 'paused')", "unknown status 'paused'"),
        ("core.add_status_synonym('on', 'disabled')", "status word on already means enabled"),
        ("core.remove_status_synonym('보류', 'planned')", "status word '보류' means no status"),
        ("core.remove_status_synonym('on', 'pilot')", "status word on means enabled, not pilot"),
    ],
)
def test_bad_vocabulary_input_is_refused_with_the_reason(
    conn: psycopg.Connection, call: str, message: str
) -> None:
    before = counts(conn)
    with pytest.raises(psycopg.Error) as refused:
        conn.execute(f"SELECT * FROM {call}")
    assert refused.value.sqlstate == "FM005", "admin refusals have their own SQLSTATE"
    assert message in (refused.value.diag.message_primary or "")
    assert counts(conn) == before, "a refused change changes nothing, not even the audit log"


def test_a_refusal_names_the_command_that_fixes_it(conn: psycopg.Connection) -> None:
    with pytest.raises(psycopg.Error, match="`fmw vocab alias remove 상태 status`"):
        conn.execute("SELECT * FROM core.add_header_alias('상태', 'region')")
    with pytest.raises(psycopg.Error, match='`fmw vocab status remove "On " enabled`'):
        conn.execute("SELECT * FROM core.add_status_synonym('On ', 'disabled')")


def test_every_vocabulary_change_is_recorded_with_actor_and_before_after(
    conn: psycopg.Connection,
) -> None:
    conn.execute("SELECT core.add_header_alias('기능 ID', 'feature_code', 'kim')")
    conn.execute("SELECT core.add_header_alias('기능 ID', 'feature_code', 'kim')")  # no-op
    conn.execute("SELECT core.remove_header_alias('기능 ID', 'feature_code', 'lee')")
    conn.execute("SELECT core.add_status_synonym('보류', 'planned')")  # no actor: the login
    rows = conn.execute(
        "SELECT action, target, actor, db_user = session_user, before, after "
        "FROM ops.admin_action ORDER BY action_id"
    ).fetchall()
    login = conn.execute("SELECT session_user").fetchone()[0]  # type: ignore[index]
    assert rows == [
        (
            "vocab.alias.add",
            "기능 ID",
            "kim",
            True,
            None,
            {"alias": "기능 ID", "alias_key": "기능 id", "field": "feature_code"},
        ),
        (
            "vocab.alias.remove",
            "기능 ID",
            "lee",
            True,
            {"alias": "기능 ID", "alias_key": "기능 id", "field": "feature_code"},
            None,
        ),
        (
            "vocab.status.add",
            "보류",
            login,
            True,
            None,
            {"status": "planned", "synonym": "보류", "synonym_key": "보류"},
        ),
    ], "one row per change (none for the no-op), who, what, before -> after"


def test_a_rolled_back_change_leaves_no_audit_row(conn: psycopg.Connection) -> None:
    with pytest.raises(RuntimeError), conn.transaction():
        conn.execute("SELECT core.add_header_alias('기능 ID', 'feature_code', 'kim')")
        raise RuntimeError("the admin's transaction fails later")
    assert actions(conn) == []
    assert conn.execute("SELECT count(*) FROM core.header_alias WHERE field = 'feature_code' "
                        "AND alias = '기능 ID'").fetchone() == (0,)  # fmt: skip


# --- refusals and the shape contract -----------------------------------------------------


def test_a_first_file_with_an_unmapped_column_is_refused_unless_accepted(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    before = counts(conn)
    with pytest.raises(SourceFileError) as refused:
        load(conn, tmp_path, "billing", HEADER + ",국가코드,메모", [r + ",KR,x" for r in ROWS])
    assert "row 1: this first file of source billing declares the fields its files carry, " in (
        str(refused.value)
    )
    assert "columns 국가코드, 메모 map to no field" in str(refused.value)
    assert "`fmw vocab alias add 국가코드 FIELD`" in str(refused.value)
    assert "`fmw source accept-shape billing`" in str(refused.value)
    after = counts(conn)
    assert after["core.record"] == before["core.record"] and after["raw.row"] == 0
    assert after["ops.batch"] == before["ops.batch"] + 1, "kept as one refused batch"

    loaded = load(
        conn, tmp_path, "billing", HEADER + ",국가코드,메모", [r + ",KR,x" for r in ROWS],
        accept_shape=True,
    )  # fmt: skip
    assert (loaded.status, loaded.inserted, loaded.unmapped) == (
        "processed",
        3,
        ("국가코드", "메모"),
    )
    shape = conn.execute("SELECT shape FROM ops.source WHERE name = 'billing'").fetchone()
    assert shape == (["feature_code", "owner", "platform", "policy_code", "region", "status"],)


def test_a_first_file_without_status_is_refused(conn: psycopg.Connection, tmp_path: Path) -> None:
    with pytest.raises(SourceFileError, match=r"has no status column .* every record would be"):
        load(conn, tmp_path, "billing", "Feature Code,owner", ["PAY-1,kim"])


def test_a_later_file_lacking_a_key_field_is_refused_and_changes_nothing(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    first = load(conn, tmp_path, "billing")
    before = counts(conn)
    with pytest.raises(SourceFileError) as refused:
        load(conn, tmp_path, "billing", "Feature Code,Policy Code,platform,Status,owner",
             ["PAY-1,P1,iOS,on,kim"])  # fmt: skip
    assert (
        f"source billing's files carry region (declared by batch {first.batch_id}) but this "
        "file has no column for it: its records would get new identities and the old ones be "
        "deactivated; fix the file, or accept its new shape (`fmw source accept-shape billing`)"
    ) in str(refused.value)
    after = counts(conn)
    assert {k: v for k, v in after.items() if k != "ops.batch"} == {
        k: v for k, v in before.items() if k != "ops.batch"
    }, "no record, history or landed row changed"


def test_a_later_file_lacking_status_or_adding_a_key_field_is_refused(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    load(conn, tmp_path, "billing", "Feature Code,Policy Code,market,Status", ["PAY-1,P1,KR,on"])
    with pytest.raises(SourceFileError, match=r"carry status .* every record would become unknown"):
        load(conn, tmp_path, "billing", "Feature Code,Policy Code,market", ["PAY-1,P1,KR"])
    with pytest.raises(SourceFileError, match="maps key field platform, which source billing"):
        load(conn, tmp_path, "billing", "Feature Code,Policy Code,market,platform,Status",
             ["PAY-1,P1,KR,iOS,on"])  # fmt: skip


def test_an_accepted_new_shape_is_applied_with_its_deactivations_and_declared(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    load(conn, tmp_path, "billing")
    conn.execute("SELECT ops.accept_source_shape('billing', 'kim')")
    result = load(conn, tmp_path, "billing", "Feature Code,Policy Code,platform,Status,owner",
                  ["PAY-1,P1,iOS,on,kim"])  # fmt: skip
    assert (result.status, result.inserted, result.deactivated) == ("processed", 1, 3), (
        "new identities; the old ones deactivated without a hold: the admin accepted it"
    )
    source = conn.execute(
        "SELECT shape, shape_batch_id, accept_shape FROM ops.source WHERE name = 'billing'"
    ).fetchone()
    assert source == (["feature_code", "owner", "platform", "policy_code", "status"],
                      result.batch_id, False)  # fmt: skip
    assert actions(conn) == [("source.accept_shape", "billing", "kim")]


def test_the_shape_of_a_source_is_not_changed_by_an_ordinary_file(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    first = load(conn, tmp_path, "billing")
    load(conn, tmp_path, "billing", HEADER + ",team", [r + ",팀" for r in ROWS])
    assert conn.execute(
        "SELECT shape_batch_id FROM ops.source WHERE name = 'billing'"
    ).fetchone() == (first.batch_id,)


# --- re-resolving from kept raw rows ------------------------------------------------------


def test_a_new_status_word_re_resolves_records_of_every_source_with_history(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    load(conn, tmp_path, "billing")
    load(conn, tmp_path, "ops", HEADER, ["OPS-1,P9,KR,Web,보류,choi", "OPS-2,P9,KR,Web,on,choi"],
         priority=20)  # fmt: skip
    unknown = "SELECT count(*) FROM core.record WHERE status = 'unknown'"
    history = "SELECT count(*) FROM core.record_history"
    assert conn.execute(unknown).fetchone() == (3,)
    before_history = conn.execute(history).fetchone()[0]  # type: ignore[index]
    raw_before = conn.execute("SELECT count(*) FROM raw.row").fetchone()

    done, outcomes = vocabulary.change_vocabulary(
        conn, "status", "add", "보류", "planned", actor="kim", reresolve=True
    )

    assert (done.before, done.after) == (None, "planned")
    assert outcomes is not None
    assert [(o.source, o.status, o.source_changes, o.records_changed) for o in outcomes] == [
        ("billing", "processed", 2, 2),
        ("ops", "processed", 1, 1),
    ]
    assert conn.execute(unknown).fetchone() == (0,)
    assert conn.execute(history).fetchone()[0] == before_history + 3  # type: ignore[index]
    changes = conn.execute(
        "SELECT h.change, h.changed_fields, h.before ->> 'status', h.after ->> 'status', b.kind "
        "FROM core.record_history AS h JOIN ops.batch AS b USING (batch_id) "
        "WHERE b.kind = 'reresolve' ORDER BY h.history_id"
    ).fetchall()
    assert changes == [("updated", ["status", "status_raw"], "unknown", "planned", "reresolve")] * 3
    assert conn.execute("SELECT count(*) FROM raw.row").fetchone() == raw_before, (
        "re-resolved from the kept raw rows, nothing landed again"
    )
    assert [a for a, _, _ in actions(conn)] == ["vocab.status.add", "vocab.apply"]
    assert conn.execute("SELECT * FROM core.integrity_problems()").fetchall() == []


def test_sources_a_change_cannot_affect_are_not_re_staged(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    load(conn, tmp_path, "billing")
    batches = conn.execute("SELECT count(*) FROM ops.batch").fetchone()
    outcomes = vocabulary.reresolve(conn, actor="kim")
    _, after_alias = vocabulary.change_vocabulary(
        conn, "alias", "add", "기능 ID", "feature_code", actor="kim", reresolve=True
    )
    assert [(o.source, o.status, o.batch_id) for o in outcomes] == [("billing", "unchanged", None)]
    assert after_alias == [vocabulary.Reresolved("billing", None, "unchanged", 0, 0, None)]
    assert conn.execute("SELECT count(*) FROM ops.batch").fetchone() == batches, (
        "no batch is left behind for a source nothing changed for"
    )


def test_an_alias_that_would_change_identities_is_refused_for_that_source(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    header = "Feature Code,Policy Code,market,OS,Status"
    rows = ["PAY-1,P1,KR,iOS,on", "PAY-2,P1,KR,iOS,on"]
    load(conn, tmp_path, "billing", header, rows, accept_shape=True)  # OS ignored
    before = counts(conn)
    _, outcomes = vocabulary.change_vocabulary(
        conn, "alias", "add", "OS", "platform", actor="kim", reresolve=True
    )
    assert outcomes is not None and [(o.source, o.status) for o in outcomes] == [
        ("billing", "refused")
    ]
    assert "maps key field platform, which source billing's files never carried" in (
        outcomes[0].message or ""
    )
    after = counts(conn)
    assert after["core.record"] == before["core.record"]
    assert after["core.record_history"] == before["core.record_history"]
    assert after["core.header_alias"] == before["core.header_alias"] + 1, "the alias stays"


def test_a_vocabulary_change_is_one_transaction_with_its_re_resolve(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    load(conn, tmp_path, "billing")
    before = counts(conn)
    with pytest.raises(AdminRefusedError, match="unknown status 'paused'"):
        vocabulary.change_vocabulary(
            conn, "status", "add", "보류", "paused", actor="kim", reresolve=True
        )
    assert counts(conn) == before


# --- removing a source --------------------------------------------------------------------


def test_removing_a_source_deactivates_its_records_with_history_and_deletes_nothing(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    load(conn, tmp_path, "platform", priority=10)
    load(conn, tmp_path, "typo", HEADER, [ROWS[0], "NEW-1,P1,KR,iOS,on,kim"], priority=5)
    settings = Settings(sources={"platform": SourceSettings(path="x.csv")})
    before = counts(conn)
    shown = "SELECT feature_code, source, is_active FROM core.record ORDER BY 1"
    assert conn.execute(shown).fetchall()[:2] == [("NEW-1", "typo", True), ("PAY-1", "typo", True)]

    batch_id, deactivated, changed = sources.remove_source(conn, settings, "typo", actor="kim")

    assert (deactivated, changed) == (2, 2)
    assert conn.execute(shown).fetchall() == [
        ("NEW-1", "typo", False),
        ("PAY-1", "platform", True),  # another source reports it: that one is shown now
        ("PAY-2", "platform", True),
        ("PAY-3", "platform", True),
    ]
    after = counts(conn)
    for table in ("core.source_record", "core.record", "raw.row", "core.row_issue"):
        assert after[table] == before[table], f"no row of {table} is deleted"
    assert after["core.record_history"] == before["core.record_history"] + 2
    assert conn.execute(
        "SELECT kind, status, deactivated FROM ops.batch WHERE batch_id = %s", [batch_id]
    ).fetchone() == ("remove", "processed", 2)
    assert actions(conn) == [("source.remove", "typo", "kim")]
    assert conn.execute("SELECT * FROM core.integrity_problems()").fetchall() == []
    with pytest.raises(AdminRefusedError, match="source typo was removed already"):
        sources.remove_source(conn, settings, "typo", actor="kim")
    with pytest.raises(
        AdminRefusedError, match=r"still configured in fmw.toml.*\[sources.platform\]"
    ):
        sources.remove_source(conn, settings, "platform", actor="kim")


def test_a_removed_source_comes_back_with_a_new_shape_when_it_loads_again(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    load(conn, tmp_path, "typo")
    conn.execute("SELECT ops.remove_source('typo')")
    again = load(conn, tmp_path, "typo", "Feature Code,Status", ["PAY-1,on"])
    assert again.status == "processed"
    assert conn.execute(
        "SELECT shape, removed_at FROM ops.source WHERE name = 'typo'"
    ).fetchone() == (["feature_code", "status"], None)


def test_an_unconfigured_source_is_refused_naming_the_closest(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    load(conn, tmp_path, "adhoc")
    settings = Settings(sources={"platform_team": SourceSettings(path="x.csv")})
    expected = (
        r"source platfrom_team is not configured \(did you mean platform_team\? "
        r"sources: adhoc, platform_team\).*--new-source"
    )
    with pytest.raises(UnknownSourceError, match=expected):
        sources.check_source_name(conn, settings, "platfrom_team", new_source=False)
    sources.check_source_name(conn, settings, "adhoc", new_source=False)  # in use: accepted
    sources.check_source_name(conn, settings, "brand_new", new_source=True)


# --- the dry run --------------------------------------------------------------------------


def test_a_dry_run_reports_exact_counts_and_writes_nothing(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    load(conn, tmp_path, "billing")
    before = counts(conn)
    rows = [*ROWS[:2], "PAY-3,P2,JP,iOS,off,park", "PAY-9,P1,KR,iOS,확인중,kim"]
    path = write(tmp_path / "next.csv", HEADER + ",메모", [row + ",x" for row in rows])
    report = dry_run(conn, SourceSpec("billing", 10), path)
    assert report.result is not None and report.refusal is None
    result = report.result
    assert (result.status, result.inserted, result.updated, result.unchanged) == (
        "processed", 1, 1, 2,
    )  # fmt: skip
    assert result.unmapped == ("메모",)
    assert result.unknown_words == (("보류", 1), ("확인중", 1))
    assert report.mapping[-2:] == [("owner", "owner"), ("메모", None)]
    assert counts(conn) == before, "no row remains anywhere: ops, raw, core"
    assert conn.execute("SELECT dirty FROM ops.snapshot_state").fetchall() in ([], [(True,)])


def test_a_dry_run_of_a_refused_file_says_why(conn: psycopg.Connection, tmp_path: Path) -> None:
    before = counts(conn)
    path = write(tmp_path / "new.csv", "기능 ID,Status", ["PAY-1,on"])
    report = dry_run(conn, SourceSpec("billing", 10), path)
    assert report.result is None and not report.would_load
    assert '`fmw vocab alias add "기능 ID" feature_code`' in (report.refusal or "")
    assert counts(conn) == before, "not even the refused batch remains"


def test_approving_and_retrying_a_batch_are_recorded_as_admin_actions(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    load(conn, tmp_path, "billing")
    held = load(conn, tmp_path, "billing", HEADER, ROWS[:1])
    assert held.status == "held" and held.batch_id is not None
    approved = reprocess_batch(conn, held.batch_id, approve=True, actor="kim")
    rows = conn.execute(
        "SELECT action, target, actor, before ->> 'status', after ->> 'status' "
        "FROM ops.admin_action"
    ).fetchall()
    assert approved.status == "processed"
    assert rows == [
        ("batch.approve", f"batch {held.batch_id} (billing, {held.path.name})", "kim", "held",
         "processed"),
    ]  # fmt: skip


def test_a_status_word_change_re_reads_only_the_sources_that_use_the_word(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    load(conn, tmp_path, "billing")  # 보류 twice
    load(conn, tmp_path, "ops", HEADER, ["OPS-1,P9,KR,Web,on,choi"], priority=20)
    conn.execute("SET track_functions = 'pl'")
    with conn.transaction():  # pg_stat_xact_* counts the calls of this transaction
        _, outcomes = vocabulary.change_vocabulary(
            conn, "status", "add", "보류", "planned", actor="kim", reresolve=True
        )
        staged = conn.execute(
            "SELECT calls FROM pg_stat_xact_user_functions WHERE schemaname = 'core' "
            "AND funcname = 'stage_batch'"
        ).fetchall()
    assert outcomes is not None
    assert [(o.source, o.status, o.records_changed) for o in outcomes] == [
        ("billing", "processed", 2),
        ("ops", "unchanged", 0),
    ]
    assert staged == [(1,)], "only billing's file was staged again; ops has no 보류"

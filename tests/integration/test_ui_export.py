"""The real export feeds the dashboard: the mapped files hold the views; the UI reads them."""

from __future__ import annotations

from pathlib import Path

import psycopg

from fmw.loader.landing import SourceSpec, load_file
from fmw.settings import Settings
from fmw.snapshot.columnar import read_csv
from fmw.sync import SyncReport, publish_snapshot
from fmw.ui import search
from fmw.ui.snapshot_data import load_snapshot

HEADER = "Feature Code,Feature Name,Policy Code,market,platform,Status,owner,team,비고\n"


def test_export_writes_mapped_files_the_dashboard_reads(conn: psycopg.Connection, tmp_path: Path):
    source = tmp_path / "a.csv"
    source.write_text(
        HEADER
        + 'PAY-1,기본 결제,P1,KR,iOS,on,김민준,결제개발팀,=HYPERLINK("x")\n'
        + "PAY-2,간편 결제,P1,KR,iOS,off,,플랫폼팀,\n",
        encoding="utf-8",
    )
    load_file(conn, SourceSpec("team_a"), source)
    settings = Settings(base_dir=tmp_path, var_dir=tmp_path / "var")
    report = SyncReport()
    publish_snapshot(conn, settings, report, force=True, progress=lambda _line: None, csv=True)
    generation = report.generation
    assert generation is not None
    assert generation.files["records.identity_hash.arrow"].rows == 2

    snapshot, problems = load_snapshot(settings.snapshot_path)
    assert problems == []
    from_csv = read_csv(generation.path("current_records.csv"))  # the same database snapshot
    mapped = snapshot.records.sort_by("identity_hash")
    assert mapped["identity_hash"].to_pylist() == from_csv["identity_hash"].to_pylist()
    notes = dict(zip(mapped["feature_code"].to_pylist(), mapped["note"].to_pylist(), strict=True))
    assert notes == {"PAY-1": '=HYPERLINK("x")', "PAY-2": ""}, "raw text, no CSV guard"
    guarded = dict(
        zip(from_csv["feature_code"].to_pylist(), from_csv["note"].to_pylist(), strict=True)
    )
    assert guarded == {"PAY-1": '\'=HYPERLINK("x")', "PAY-2": None}, "the CSV is guarded"
    result = search.run_search(snapshot, search.Query(text="기본결제"))
    assert result.rows["feature_code"].to_pylist() == ["PAY-1"]
    record = snapshot.record(result.rows["identity_hash"][0].as_py())
    assert record is not None and record["note"] == '=HYPERLINK("x")'
    history = snapshot.history(record["identity_hash"])
    assert history["change"].to_pylist() == ["inserted"]
    from_csv_history = read_csv(generation.path("record_history.csv"))
    assert history["after"].to_pylist() == [
        a
        for a, i in zip(
            from_csv_history["after"].to_pylist(),
            from_csv_history["identity_hash"].to_pylist(),
            strict=True,
        )
        if i == record["identity_hash"]
    ]

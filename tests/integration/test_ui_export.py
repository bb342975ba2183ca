"""The real export feeds the dashboard: Parquet twins hold exactly the CSV; the UI reads them."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pyarrow.parquet as pq

from fmw.loader.landing import SourceSpec, load_file
from fmw.settings import Settings
from fmw.snapshot.columnar import read_csv
from fmw.sync import SyncReport, publish_snapshot
from fmw.ui import search
from fmw.ui.snapshot_data import load_snapshot

HEADER = "Feature Code,Feature Name,Policy Code,market,platform,Status,owner,team,비고\n"


def test_export_writes_parquet_twins_the_dashboard_reads(conn: psycopg.Connection, tmp_path: Path):
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
    publish_snapshot(conn, settings, report, force=True, progress=lambda _line: None)
    generation = report.generation
    assert generation is not None
    assert {"current_records.parquet", "record_history.parquet"} <= set(generation.files)
    assert generation.files["current_records.parquet"].rows == 2

    for name in ("current_records", "record_history"):
        from_csv = read_csv(generation.path(f"{name}.csv"))
        twin = pq.read_table(generation.path(f"{name}.parquet"))
        key = "identity_hash" if name == "current_records" else "history_id"
        assert twin.sort_by(key).to_pylist() == from_csv.sort_by(key).to_pylist()

    snapshot, problems = load_snapshot(settings.snapshot_path)
    assert problems == []
    result = search.run_search(snapshot, search.Query(text="기본결제"))
    assert result.rows["feature_code"].to_pylist() == ["PAY-1"]
    record = snapshot.record(result.rows["identity_hash"][0].as_py())
    assert record is not None and record["note"] == '=HYPERLINK("x")'
    history = snapshot.history(record["identity_hash"])
    assert history["change"].to_pylist() == ["inserted"]

"""The dashboard's downloads, message catalog and freshness rules (plain modules, no Streamlit)."""

from __future__ import annotations

import csv
import io
import json
import re
import string
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import openpyxl
import pyarrow as pa
import pytest

from fmw.snapshot.generations import Generation
from fmw.ui import display, downloads, freshness, messages

UI = Path(__file__).resolve().parents[2] / "ui"


def sample() -> pa.Table:
    return pa.table(
        {
            "feature_code": pa.array(["=1+2", "PAY-1", "-3"]).dictionary_encode(),  # as shown
            "note": ["@SUM(A1)", "결제 정상", None],
            "effective_from": pa.array([datetime(2024, 1, 5).date(), None, None], pa.date32()),
            "is_active": [True, False, True],
        }
    )


# --------------------------------------------------------------------------- downloads


def test_csv_download_has_a_bom_localized_headers_and_guarded_cells():
    data = downloads.csv_bytes(sample(), {"feature_code": "기능 코드", "note": "비고"})
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(data[3:].decode("utf-8"))))
    assert [r["기능 코드"] for r in rows] == ["'=1+2", "PAY-1", "'-3"]
    assert [r["비고"] for r in rows] == ["'@SUM(A1)", "결제 정상", ""]
    assert rows[0]["effective_from"] == "2024-01-05"


def test_xlsx_download_keeps_text_as_text_never_a_formula(tmp_path: Path):
    path = tmp_path / "out.xlsx"
    path.write_bytes(downloads.xlsx_bytes(sample(), {"note": "비고"}))
    sheet = openpyxl.load_workbook(path).active
    assert sheet is not None
    assert [c.value for c in sheet[1]] == ["feature_code", "비고", "effective_from", "is_active"]
    formula_cell = sheet["A2"]
    assert (formula_cell.value, formula_cell.data_type) == ("=1+2", "s")
    assert sheet["B2"].data_type == "s"
    assert sheet["C2"].value == datetime(2024, 1, 5)
    assert sheet["D3"].value is False


def records_sample() -> pa.Table:
    """Rows as the snapshot holds them: codes, booleans, UTC times, a blank."""
    return pa.table(
        {
            "feature_code": ["PAY-1", "=1+2"],
            "status": pa.array(["enabled", "deprecated"]).dictionary_encode(),
            "is_active": [True, False],
            "source": ["platform_team", "ops_team"],
            "effective_to": pa.array([date(2024, 1, 5), None], pa.date32()),
            "last_changed_at": pa.array(
                [
                    datetime(2026, 11, 26, 1, 0, tzinfo=UTC),
                    datetime(2026, 11, 20, 15, 30, tzinfo=UTC),
                ],
                pa.timestamp("us", tz="UTC"),
            ),
        }
    )


SEOUL_READER = display.Reader(
    lang="ko", zone=ZoneInfo("Asia/Seoul"), sources={"platform_team": "플랫폼팀 현황"}
)


def test_problem_7_a_download_says_what_the_screen_says():
    data = downloads.csv_bytes(SEOUL_READER.table(records_sample()))
    rows = list(csv.DictReader(io.StringIO(data[3:].decode("utf-8"))))
    assert rows[0] == {
        "기능 코드": "PAY-1",
        "상태": "적용",
        "소스 목록": "있음",
        "소스": "플랫폼팀 현황",
        "종료일": "2024-01-05",
        "마지막 변경": "2026-11-26 10:00",  # Seoul, as on screen
    }
    assert (rows[1]["상태"], rows[1]["소스 목록"], rows[1]["종료일"]) == ("폐기", "빠짐", "")
    assert rows[1]["소스"] == "ops_team", "a source without a display name keeps its name"
    assert rows[1]["기능 코드"] == "'=1+2", "still guarded"
    assert rows[1]["마지막 변경"] == "2026-11-21 00:30"
    assert [SEOUL_READER.cell(c, v) for c, v in (("status", "pilot"), ("owner", None))] == [
        "시범",
        "",
    ]


def test_problem_7_codes_for_machines_stay_codes_in_utc():
    data = downloads.csv_bytes(records_sample())
    rows = list(csv.DictReader(io.StringIO(data[3:].decode("utf-8"))))
    assert (rows[0]["status"], rows[0]["is_active"]) == ("enabled", "true")
    assert rows[0]["last_changed_at"] == "2026-11-26T01:00:00Z"


def test_problem_7_xlsx_has_a_filter_row_fitted_widths_and_real_date_time_cells(tmp_path: Path):
    path = tmp_path / "shown.xlsx"
    path.write_bytes(downloads.xlsx_bytes(SEOUL_READER.table(records_sample())))
    sheet = openpyxl.load_workbook(path).active
    assert sheet is not None
    assert sheet.auto_filter.ref == "A1:F3", "a filter button on every header"
    assert sheet.freeze_panes == "A2"
    widths = {col: sheet.column_dimensions[col].width for col in "ABCDF"}
    assert widths["D"] > widths["A"], "플랫폼팀 현황 (wide letters) gets a wider column"
    assert widths["F"] >= 16, "a date-time fits"
    assert sheet["F2"].value == datetime(2026, 11, 26, 10, 0)
    assert sheet["F2"].number_format == "yyyy-mm-dd hh:mm"
    assert sheet["E2"].value == datetime(2024, 1, 5) and sheet["E2"].is_date
    assert sheet["E3"].value is None


def test_a_download_of_a_view_has_its_columns_and_the_earlier_values_when_comparing():
    records = records_sample()
    earlier = records.set_column(1, "status", pa.array(["disabled", "deprecated"]))
    table = display.download_table(
        SEOUL_READER, records, np.array([0]), ["feature_code", "status"], earlier, " (이전)"
    )
    assert table.to_pylist() == [
        {"기능 코드": "PAY-1", "상태": "적용", "기능 코드 (이전)": "PAY-1", "상태 (이전)": "미적용"}
    ]


# --------------------------------------------------------------------------- messages


def fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


@pytest.mark.parametrize("key", sorted(messages.MESSAGES))
def test_every_message_has_both_languages_with_the_same_placeholders(key: str):
    korean, english = messages.MESSAGES[key]
    assert korean and english
    assert fields(korean) == fields(english)


def test_every_message_key_the_pages_use_exists():
    used: set[str] = set()
    for source in UI.rglob("*.py"):
        text = source.read_text(encoding="utf-8")
        used |= set(re.findall(r"""\btr\(\s*["']([a-z_.]+)["']""", text))
        pages = re.findall(r"""\bstart_page\(\s*["']([a-z_]+)["']""", text)
        used |= {f"nav.{page}" for page in pages}  # a page's title is nav.<page>
        used |= set(re.findall(r"""messages\.t\(\s*["']([a-z_.]+)["']""", text))
    assert used, "the pattern finds the pages' messages"
    assert sorted(used - set(messages.MESSAGES)) == []


def test_labels_translate_known_values_and_keep_unknown_ones():
    assert messages.value_label("status", "enabled", "ko") == "적용"
    assert messages.value_label("status", "enabled", "en") == "Enabled"
    assert messages.value_label("status", "보류중", "ko") == "보류중"
    assert messages.value_label("bool", True, "en") == "Yes"
    assert messages.value_label("status", None, "ko") == "", "a blank is blank"
    assert messages.facet_value_label("is_active", "false", "ko") == "빠짐"
    assert messages.field_label("no_such_column", "ko") == "no_such_column"
    assert messages.language("fr") == "ko"


# --------------------------------------------------------------------------- freshness


def generation(made: datetime) -> Generation:
    return Generation("20260101T000000_000000Z", Path(), made, {}, [4, 5], {})


def test_a_snapshot_is_stale_after_the_schedule_plus_grace():
    made = datetime(2026, 1, 1, 6, tzinfo=UTC)
    fresh = freshness.assess(
        generation(made), [], now=made + timedelta(hours=25), sync_every_hours=24, grace_hours=2
    )
    assert not fresh.stale and not fresh.fallback
    stale = freshness.assess(
        generation(made), [], now=made + timedelta(hours=27), sync_every_hours=24, grace_hours=2
    )
    assert stale.stale
    assert freshness.humanize_age(stale.age) == ("hours", 27)


def test_only_a_failed_sync_newer_than_the_snapshot_is_reported(tmp_path: Path):
    made = datetime(2026, 1, 1, 6, tzinfo=UTC)
    path = tmp_path / "scheduler-status.json"

    def status(end: str, state: str) -> freshness.SyncStatus | None:
        doc = {
            "format_version": 1,
            "jobs": [
                {"command": "fmw:backup", "last_run": {"status": "failed", "end_time": end}},
                {
                    "command": "fmw:sync",
                    "active": True,
                    "last_run": {"status": state, "end_time": end, "return_message": "disk\nfull"},
                },
            ],
        }
        path.write_text(json.dumps(doc), encoding="utf-8")
        return freshness.read_sync_status(path)

    newer = status("2026-01-02T06:00:00+09:00", "failed")
    assert newer == freshness.SyncStatus(datetime(2026, 1, 1, 21, tzinfo=UTC), False, "disk full")
    fact = freshness.assess(
        generation(made), [], now=made, sync_every_hours=24, grace_hours=2, sync_status=newer
    )
    assert fact.failed_sync == newer
    older = status("2026-01-01T05:00:00+00:00", "failed")
    fact = freshness.assess(
        generation(made), [], now=made, sync_every_hours=24, grace_hours=2, sync_status=older
    )
    assert fact.failed_sync is None, "the snapshot is newer than that failure"
    assert status("2026-01-02T06:00:00+09:00", "succeeded").ok  # type: ignore[union-attr]  # None fails


def test_an_unreadable_scheduler_status_claims_nothing(tmp_path: Path):
    path = tmp_path / "scheduler-status.json"
    assert freshness.read_sync_status(path) is None
    path.write_text("{not json", encoding="utf-8")
    assert freshness.read_sync_status(path) is None
    path.write_text(json.dumps({"format_version": 99, "jobs": []}), encoding="utf-8")
    assert freshness.read_sync_status(path) is None


def test_problem_3_the_dashboard_is_served_without_streamlits_table_download():
    """A grid's toolbar "Download as CSV" (English, the visible page only) is switched off
    for every way the dashboard starts (fmw ui, fmw demo --serve, the service)."""
    from fmw.services import dashboard

    assert "--client.disableDataExport=true" in dashboard.command(8501)
    assert dashboard.stopped(0) and dashboard.stopped(143) and dashboard.stopped(130)
    assert not dashboard.stopped(1)

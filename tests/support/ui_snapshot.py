"""A small, hand-made snapshot generation for dashboard tests (no database needed).

``publish_fixture(root)`` publishes a generation as ``fmw export`` writes it:
the mapped files (``fmw.snapshot.tables.write_mapped``: the records' columns and a
history segment, raw text) and the small views as CSV (UTF-8 with BOM, PostgreSQL
CSV: NULL is an empty unquoted cell, an empty text is ``""``, booleans ``t``/``f``,
text passed through the ``snapshot.csv_safe`` rule). With ``mapped=False`` it
publishes a generation of format 1 instead (all five views as CSV only), as every
export wrote before issue 14. The rows are chosen so tests can assert exact
numbers: 8 records (7 active), one record whose two sources disagree, a
formula-looking note, Korean names.
"""

from __future__ import annotations

import html
import io
import json
import random
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from fmw.snapshot.columnar import read_csv
from fmw.snapshot.generations import Generation, WrittenFiles, publish_generation
from fmw.snapshot.tables import write_mapped
from fmw.ui.overview import CONFLICT_FIELDS

T0 = "2026-11-20 01:00:00+00"
T1 = "2026-11-26 01:00:00+00"

RECORD_COLUMNS = [
    "identity_hash",
    "feature_code",
    "feature_name",
    "policy_code",
    "policy_name",
    "status",
    "status_raw",
    "region",
    "platform",
    "owner",
    "team",
    "effective_from",
    "effective_to",
    "note",
    "is_active",
    "source",
    "source_row",
    "first_seen_at",
    "last_changed_at",
    "source_count",
    "has_conflict",
]
HISTORY_COLUMNS = [
    "history_id",
    "identity_hash",
    "feature_code",
    "policy_code",
    "region",
    "platform",
    "changed_at",
    "change",
    "changed_fields",
    "before",
    "after",
    "batch_id",
    "batch_source",
    "batch_file",
]
CHANGE_COLUMNS = [
    "history_id",
    "changed_at",
    "change",
    "identity_hash",
    "feature_code",
    "policy_code",
    "region",
    "platform",
    "changed_fields",
    "batch_id",
    "batch_source",
]
CONFLICT_COLUMNS = [
    "identity_hash",
    "feature_code",
    "policy_code",
    "region",
    "platform",
    "source",
    "priority",
    "is_shown",
    *CONFLICT_FIELDS,
]
SUMMARY_COLUMNS = ["dimension", "value", "status", "records", "active_records"]
TEXT = {
    "identity_hash",
    "feature_code",
    "feature_name",
    "policy_code",
    "policy_name",
    "status",
    "status_raw",
    "region",
    "platform",
    "owner",
    "team",
    "note",
    "source",
    "change",
    "changed_fields",
    "batch_source",
    "batch_file",
    "dimension",
    "value",
}

# (hash, feature code, name, policy, policy name, status, raw, region, platform, owner, team,
#  note, active, source, conflict)
_RECORDS = [
    (
        "a1",
        "PAY-001",
        "기본 결제",
        "POL-001",
        "개인정보 보호",
        "enabled",
        None,
        "KR",
        "iOS",
        "김민준",
        "결제개발팀",
        '=HYPERLINK("http://x")',
        True,
        "platform_team",
        True,
    ),
    (
        "a2",
        "PAY-001",
        "기본 결제",
        "POL-001",
        "개인정보 보호",
        "disabled",
        None,
        "JP",
        "iOS",
        "이서연",
        "플랫폼팀",
        "",
        True,
        "platform_team",
        False,
    ),
    (
        "a3",
        "LOGIN-002",
        "간편 로그인",
        "POL-002",
        "연령 제한",
        "pilot",
        None,
        "US",
        "Web",
        "박지훈",
        "서비스기획팀",
        "- 단계적 배포 중",
        True,
        "service_team",
        False,
    ),
    (
        "a4",
        "REC-003",
        "추천",
        "POL-003",
        "지역 제한",
        "deprecated",
        "EOL",
        "GLOBAL",
        "Android",
        None,
        "운영팀",
        None,
        False,
        "ops_team",
        False,
    ),
    (
        "a5",
        "SRCH-004",
        "통합 검색",
        "POL-004",
        "요금 정책",
        "planned",
        None,
        "KR",
        "PC",
        "최수아",
        "보안팀",
        "QA 완료",
        True,
        "ops_team",
        False,
    ),
    (
        "a6",
        "CHAT-005",
        "채팅",
        "POL-005",
        "보안 인증",
        "unknown",
        "보류",
        "KR",
        "Web",
        "정도윤",
        "운영팀",
        "",
        True,
        "service_team",
        False,
    ),
    (
        "a7",
        "CART-006",
        "장바구니",
        "POL-001",
        "개인정보 보호",
        "enabled",
        None,
        "US",
        "Android",
        "강하은",
        "플랫폼팀",
        "법무 검토 필요",
        True,
        "platform_team",
        False,
    ),
    (
        "a8",
        "NOTI-007",
        "알림",
        "POL-006",
        "마케팅 동의",
        "enabled",
        None,
        "JP",
        "Web",
        "김민준",
        "결제개발팀",
        "",
        True,
        "ops_team",
        False,
    ),
]


def identity(short: str) -> str:
    """The fixture's 64-character identity hash for record ``a1`` .. ``a8``."""
    return short * 32


def csv_safe(value: str | None) -> str | None:
    """snapshot.csv_safe, written from its SQL definition."""
    if value and value[0] in "-=+@\t\r\n":
        return "'" + value
    return value


def _cell(name: str, value: Any, *, guard: bool = True) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "t" if value else "f"
    if name in TEXT and guard:
        return csv_safe(str(value))
    return str(value)


def write_csv(
    path: Path, columns: list[str], rows: Iterable[dict[str, Any]], *, guard: bool = True
) -> int:
    """A CSV the way PostgreSQL COPY writes it, with a UTF-8 BOM; returns the row count.

    ``guard=False``: text as it is (what the export reads into the mapped files).
    """
    out = io.StringIO()
    out.write(",".join(columns) + "\n")
    count = 0
    for row in rows:
        cells = []
        for name in columns:
            value = _cell(name, row.get(name), guard=guard)
            if value is None:
                cells.append("")
            elif value == "" or any(ch in value for ch in ',"\n\r') or value != value.strip():
                cells.append('"' + value.replace('"', '""') + '"')
            else:
                cells.append(value)
        out.write(",".join(cells) + "\n")
        count += 1
    path.write_bytes(b"\xef\xbb\xbf" + out.getvalue().encode("utf-8"))
    return count


@dataclass
class Fixture:
    """The rows of one fixture generation (tests may change them before publishing)."""

    records: list[dict[str, Any]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    changes: list[dict[str, Any]] = field(default_factory=list)
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    batches: list[int] = field(default_factory=lambda: [2, 3])

    def summary(self) -> list[dict[str, Any]]:
        rows: dict[tuple[str, str | None, str], list[int]] = {}
        for record in self.records:
            for dimension in ("total", "team", "region", "platform"):
                value = None if dimension == "total" else record[dimension]
                counts = rows.setdefault((dimension, value, record["status"]), [0, 0])
                counts[0] += 1
                counts[1] += 1 if record["is_active"] else 0
        return [
            {"dimension": d, "value": v, "status": s, "records": n, "active_records": a}
            for (d, v, s), (n, a) in sorted(rows.items(), key=lambda kv: str(kv[0]))
        ]


def default_fixture() -> Fixture:
    fixture = Fixture()
    for number, row in enumerate(_RECORDS, start=1):
        (short, code, name, policy, policy_name, status, raw, region, platform, owner, team,
         note, active, source, conflict) = row  # fmt: skip
        record = {
            "identity_hash": identity(short),
            "feature_code": code,
            "feature_name": name,
            "policy_code": policy,
            "policy_name": policy_name,
            "status": status,
            "status_raw": raw,
            "region": region,
            "platform": platform,
            "owner": owner,
            "team": team,
            "effective_from": "2024-01-0" + str(number),
            "effective_to": None,
            "note": note,
            "is_active": active,
            "source": source,
            "source_row": number + 1,
            "first_seen_at": T0,
            "last_changed_at": T1 if short in ("a1", "a4") else T0,
            "source_count": 2 if conflict else 1,
            "has_conflict": conflict,
        }
        fixture.records.append(record)
        after = history_doc(record)
        first = dict(after, status="disabled", owner="이서연") if short == "a1" else after
        first = dict(first, is_active=True) if short == "a4" else first
        fixture.history.append(_history(number, record, T0, "inserted", None, first, 1))
    a1, a4 = fixture.records[0], fixture.records[3]
    a1_before = fixture.history[0]["after"]
    a1_after = dict(json.loads(a1_before), status="enabled", owner="김민준")
    fixture.history.append(_history(20, a1, T1, "updated", json.loads(a1_before), a1_after, 2))
    a4_before = json.loads(fixture.history[3]["after"])
    fixture.history.append(
        _history(21, a4, T1, "deactivated", a4_before, dict(a4_before, is_active=False), 3)
    )
    for row in fixture.history[-2:]:
        fixture.changes.append({k: row.get(k) for k in CHANGE_COLUMNS})
    for source, priority, shown, status in (
        ("platform_team", 10, True, "enabled"),
        ("ops_team", 30, False, "disabled"),
    ):
        fixture.conflicts.append(
            {
                **{k: a1[k] for k in CONFLICT_COLUMNS if k in a1},
                "source": source,
                "priority": priority,
                "is_shown": shown,
                "status": status,
            }
        )
    return fixture


DOC_FIELDS = (
    "source", "feature_code", "feature_name", "policy_code", "policy_name", "status",
    "status_raw", "region", "platform", "owner", "team", "effective_from", "effective_to",
    "note", "is_active",
)  # fmt: skip
"""The keys of a history document (``core.history_doc``)."""


def history_doc(record: dict[str, Any]) -> dict[str, Any]:
    """``core.history_doc`` of a fixture record: every user-visible field, the status word
    only where it means no status (``unknown``)."""
    doc = {k: record[k] for k in DOC_FIELDS}
    if doc["status"] != "unknown":
        doc["status_raw"] = None
    return doc


def _history(
    history_id: int,
    record: dict[str, Any],
    at: str,
    change: str,
    before: dict[str, Any] | None,
    after: dict[str, Any],
    batch: int,
) -> dict[str, Any]:
    changed = sorted(k for k in after if before is None or before.get(k) != after[k])
    return {
        "history_id": history_id,
        **{k: record[k] for k in ("identity_hash", "feature_code", "policy_code")},
        **{k: record[k] for k in ("region", "platform")},
        "changed_at": at,
        "change": change,
        "changed_fields": ", ".join(changed),
        "before": None if before is None else json.dumps(before, ensure_ascii=False),
        "after": json.dumps(after, ensure_ascii=False),
        "batch_id": batch,
        "batch_source": record["source"],
        "batch_file": f"{record['source']}.csv",
    }


def publish_fixture(
    root: Path, fixture: Fixture | None = None, *, mapped: bool = True, keep: int = 5
) -> Generation:
    """Publish ``fixture`` (default: ``default_fixture()``) as a new generation under ``root``."""
    fixture = fixture or default_fixture()
    objects: WrittenFiles = {}
    extra = None
    if mapped:
        records, history = _tables(fixture)
        files, state = write_mapped(root, records, history, initial_batches=[1])
        objects, extra = dict(files), state.to_extra()

    def write(folder: Path) -> WrittenFiles:
        counts: WrittenFiles = {
            "home_summary.csv": write_csv(
                folder / "home_summary.csv", SUMMARY_COLUMNS, fixture.summary()
            ),
            "conflicts.csv": write_csv(
                folder / "conflicts.csv", CONFLICT_COLUMNS, fixture.conflicts
            ),
        }
        if not mapped:
            for name, columns, rows in (
                ("current_records.csv", RECORD_COLUMNS, fixture.records),
                ("record_history.csv", HISTORY_COLUMNS, fixture.history),
                ("recent_changes.csv", CHANGE_COLUMNS, fixture.changes),
            ):
                counts[name] = write_csv(folder / name, columns, rows)
        return {**counts, **objects}

    return publish_generation(root, write, batches=fixture.batches, extra=extra, keep=keep)


def _tables(fixture: Fixture) -> tuple[pa.Table, pa.Table]:
    """The fixture's records and history as the export reads them (typed, raw text).

    History rows of records a test removed from ``fixture.records`` are left out: the
    database never holds history of a record it does not hold.
    """
    held = {record["identity_hash"] for record in fixture.records}
    history = [row for row in fixture.history if row["identity_hash"] in held]
    with tempfile.TemporaryDirectory() as scratch:
        records_csv, history_csv = Path(scratch) / "records.csv", Path(scratch) / "history.csv"
        write_csv(records_csv, RECORD_COLUMNS, fixture.records, guard=False)
        write_csv(history_csv, HISTORY_COLUMNS, history, guard=False)
        return read_csv(records_csv), read_csv(history_csv)


_METRIC_CARD = re.compile(
    r'<div class="fmw-metric-label">(.*?)</div><div class="fmw-metric-value">(.*?)</div>'
)


def metric_cards(html_text: str) -> dict[str, str]:
    """Home's numbers, the cards in its HTML block: label -> value as shown."""
    return {html.unescape(label): value for label, value in _METRIC_CARD.findall(html_text)}


def wide_fixture(size: int = 72, seed: int = 7) -> Fixture:
    """``default_fixture()`` plus generated records (``size`` in all, deterministic), so a
    view has several pages of 25 rows: varied codes (some written alike: ``pay-013`` and
    ``PAY-013``), statuses, regions, owners, teams and listed / dropped records."""
    rng = random.Random(seed)
    fixture = default_fixture()
    prefixes = ["PAY", "LOGIN", "CART", "NOTI", "SRCH", "REC"]
    names = ["결제", "로그인", "장바구니", "알림", "검색", "추천"]
    owners = ["김민준", "이서연", "박지훈", "김서준", None]
    teams = ["결제개발팀", "플랫폼팀", "운영팀", "보안팀"]
    statuses = ["enabled", "disabled", "pilot", "planned", "deprecated"]
    sources = ["platform_team", "service_team", "ops_team"]
    for number in range(len(fixture.records), size):
        kind = rng.randrange(len(prefixes))
        code = f"{prefixes[kind]}-{rng.randrange(10, 40):03d}"
        record = {
            **fixture.records[6],
            "identity_hash": f"{number:064x}",
            "feature_code": code.lower() if number % 11 == 0 else code,
            "feature_name": f"{rng.choice(['기본', '간편', '통합'])} {names[kind]}",
            "policy_code": f"POL-{number:03d}",
            "status": rng.choice(statuses),
            "region": rng.choice(["KR", "JP", "US", "GLOBAL"]),
            "platform": rng.choice(["iOS", "Android", "Web", "PC"]),
            "owner": rng.choice(owners),
            "team": rng.choice(teams),
            "effective_from": f"2024-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}",
            "is_active": rng.random() > 0.15,
            "source": rng.choice(sources),
            "note": rng.choice(["", "QA 완료", "pay001 참고", None]),
            "has_conflict": False,
        }
        fixture.records.append(record)
        fixture.history.append(
            _history(100 + number, record, T0, "inserted", None, history_doc(record), 1)
        )
    return fixture


SMAPS = Path("/proc/self/smaps")
"""Where Linux lists this process's mappings and how much of each is resident."""


def resident_kib(root: Path) -> dict[str, int]:
    """kB of each snapshot object this process has resident in its mappings (Linux)."""
    resident: dict[str, int] = {}
    name = ""
    for line in SMAPS.read_text().splitlines():
        parts = line.split()
        if len(parts) >= 6 and "-" in parts[0] and not parts[0].endswith(":"):
            name = parts[5] if parts[5].startswith(str(root)) else ""
        elif name and parts[0] == "Rss:":
            logical = Path(name).name.split(".")[1]  # records.<column>.<sha>.arrow
            resident[logical] = resident.get(logical, 0) + int(parts[1])
    return resident

"""Deterministic, realistically messy source files for demos, tests and benchmarks.

Two entry points, both seeded (``random.Random``; default seed 42, so the same
arguments always give the same rows):

* ``write_sample_sources`` writes the three team extracts that ``fmw demo`` loads:
  a UTF-8-with-BOM CSV, a CP949 tab-separated file and an XLSX workbook, each
  with its own headers, status words, date formats and a small, fixed measure of
  the mess real spreadsheets carry (full-width letters, zero-width spaces, NBSPs,
  decomposed Hangul, stray spaces, case variants, duplicates, rows without a
  feature code, unknown statuses, unparseable dates). ``day=2, 3, ...`` writes
  the next days' extracts of the same sources: a few records change, a few
  disappear, a few new ones appear.
* ``write_scaled_csv`` streams one large, clean-ish CSV of distinct records row
  by row (flat memory) for benchmarks, optionally with a fraction of rows changed
  in a non-key field.

Every record is first drawn as one canonical ``Record``; each source only
*presents* it differently. This module only writes files: it must never touch a
database and must never normalize anything (reading the mess back is the
database's job, and doing it here would hide the bugs the mess exists to find).
"""

from __future__ import annotations

import csv
import math
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path
from random import Random
from typing import Literal, NamedTuple, TypedDict, TypeVar

from openpyxl import Workbook

Identity = tuple[str, str, str, str]
"""(feature_code, policy_code, region, platform): what makes a record unique."""

Cell = str | int | date | None
DateValue = date | str | None
"""A real date, a deliberately unparseable text, or nothing."""

# --- What the records are made of -------------------------------------------------

_FEATURES = (
    ("PAY", "결제"),
    ("LOGIN", "로그인"),
    ("REC", "추천"),
    ("NOTI", "알림"),
    ("SRCH", "검색"),
    ("CART", "장바구니"),
    ("CHAT", "채팅"),
    ("CPN", "쿠폰"),
    ("MAP", "지도"),
    ("PROF", "프로필"),
    ("REVW", "리뷰"),
    ("SHIP", "배송"),
)
_FEATURE_VARIANTS = ("기본", "간편", "자동", "신규", "통합")
_POLICIES = (
    "개인정보 보호",
    "연령 제한",
    "지역 제한",
    "요금 정책",
    "보안 인증",
    "마케팅 동의",
    "데이터 보존",
    "접근성",
    "환불 정책",
    "이용 약관",
)
_REGIONS = ("KR", "JP", "US", "GLOBAL")
_PLATFORMS = ("iOS", "Android", "Web", "PC")
_OWNERS = ("김민준", "이서연", "박지훈", "최수아", "정도윤", "강하은", "조예준", "윤지우", "장서준")
_TEAMS = ("플랫폼팀", "서비스기획팀", "운영팀", "결제개발팀", "보안팀")
_NOTES = (
    "",
    "",
    "",
    "",
    "QA 완료",
    "법무 검토 필요",
    "앱 3.2 이후 적용",
    "단계적 배포 중",
    "고객센터 공지 예정",
    "iOS 심사 대기",
    "A/B 테스트 진행 중",
)
_CHANGE_NOTES = ("정책 변경 반영", "재검토 요청", "배포 일정 변경", "담당자 확인 완료")

_STATUSES = ("enabled", "disabled", "pilot", "planned", "deprecated")
_STATUS_CUM_WEIGHTS = (50, 70, 82, 92, 100)
_UNKNOWN_STATUSES = ("보류", "??", "확인중")
_BAD_DATES = ("2024-13-45", "미정")

_FIRST_DATE = date(2023, 1, 1)
_EXCEL_EPOCH = date(1899, 12, 30)

# --- How much mess and change ------------------------------------------------------

SHARED_FRACTION = 0.3
"""Share of the sample's distinct identities that two sources both report."""
DISAGREE_RATE = 0.2
"""Share of those shared identities where the second source reports another status."""
COSMETIC_RATE = 0.01
"""Share of a source's rows carrying each kind of cosmetic mess (at least 2 rows)."""
DAILY_CHANGE_RATE = 0.03
DAILY_DROP_RATE = 0.01
DAILY_NEW_RATE = 0.005
SCALED_UNKNOWN_RATE = 0.001
MIN_ROWS_PER_SOURCE = 50
"""Fewer rows cannot hold every kind of mess on distinct rows."""

_IDENTITY_SPREAD = 4
"""The sample draws identities from a space this many times larger than it needs."""


class Record(NamedTuple):
    """One canonical record: the truth behind every source's presentation of it."""

    feature_code: str
    feature_name: str
    policy_code: str
    policy_name: str
    status: str
    region: str
    platform: str
    owner: str
    team: str
    effective_from: DateValue
    effective_to: DateValue
    note: str
    style: int
    """Random bits that pick spellings and date formats, so they stay put from day to day."""

    @property
    def identity(self) -> Identity:
        return (self.feature_code, self.policy_code, self.region, self.platform)


# --- How each source presents a record ----------------------------------------------

DateFormat = Callable[[date], Cell]


def _iso(day: date) -> str:
    return day.isoformat()


def _slashed(day: date) -> str:
    return f"{day.year}/{day.month}/{day.day}"


def _korean(day: date) -> str:
    return f"{day.year}년 {day.month}월 {day.day}일"


def _dotted(day: date) -> str:
    return day.strftime("%Y.%m.%d")


def _compact(day: date) -> str:
    return day.strftime("%Y%m%d")


def _excel_cell(day: date) -> date:
    return day


def _excel_serial(day: date) -> int:
    return (day - _EXCEL_EPOCH).days


class SampleSource(TypedDict):
    """A sample source as a ``[sources.<name>]`` table of fmw.toml holds it."""

    path: str
    format: Literal["csv", "xlsx"]
    priority: int
    display_name: str
    """How the dashboard names the source (blank: its name)."""


@dataclass(frozen=True)
class SourceStyle:
    """Everything that makes one source's file look like that team's file."""

    name: str
    file_name: str
    format: Literal["csv", "xlsx"]
    priority: int
    columns: tuple[tuple[str, str], ...]
    """(canonical field, header as the team writes it), in file order."""
    statuses: Mapping[str, tuple[str, ...]]
    """Canonical status -> the words this team uses for it."""
    dates: tuple[DateFormat, ...]
    cosmetic_mess: tuple[str, ...] = ()
    """Kinds of cosmetic mess this source's encoding can carry."""
    display_name: str = ""
    """How the dashboard names this source (``[sources.<name>] display_name``)."""
    encoding: str = "utf-8"
    delimiter: str = ","
    lineterminator: str = "\r\n"
    sheet: str = "Sheet1"

    @property
    def settings(self) -> SampleSource:
        """This source's entry in ``SAMPLE_SOURCES``."""
        return {
            "path": self.file_name,
            "format": self.format,
            "priority": self.priority,
            "display_name": self.display_name,
        }


_PLATFORM_TEAM = SourceStyle(
    name="platform_team",
    file_name="platform_team.csv",
    format="csv",
    priority=10,
    columns=(
        ("feature_code", "Feature Code"),
        ("feature_name", " Feature_Name "),
        ("policy_code", "POLICY_CODE"),
        ("policy_name", "policy_name"),
        ("status", "Status"),
        ("region", "market"),
        ("platform", "platform"),
        ("owner", "owner"),
        ("team", "team"),
        ("effective_from", "start_date"),
        ("effective_to", "end_date"),
        ("note", "remarks"),
    ),
    statuses={
        "enabled": ("on", "YES", "On", "yes"),
        "disabled": ("off", "OFF", "no"),
        "pilot": ("Beta", "beta"),
        "planned": ("todo", "TODO"),
        "deprecated": ("EOL", "eol"),
    },
    dates=(_iso, _iso, _slashed),
    cosmetic_mess=("zwsp", "nbsp", "fullwidth", "spaces", "case", "nfd"),
    display_name="플랫폼팀 현황",
    encoding="utf-8-sig",
)

_SERVICE_TEAM = SourceStyle(
    name="service_team",
    file_name="service_team.csv",
    format="csv",
    priority=20,
    columns=(
        ("status", "상태"),
        ("feature_code", "기능코드"),
        ("feature_name", "기능명"),
        ("region", "국가"),
        ("platform", "플랫폼"),
        ("policy_code", "정책코드"),
        ("policy_name", "정책명"),
        ("effective_from", "시작일"),
        ("effective_to", "종료일"),
        ("owner", "담당자"),
        ("team", "부서"),
        ("note", "비고"),
    ),
    statuses={
        "enabled": ("적용", "운영"),
        "disabled": ("미적용",),
        "pilot": ("시범",),
        "planned": ("예정",),
        "deprecated": ("폐기",),
    },
    dates=(_korean, _dotted, _compact),
    # CP949 has no zero-width space, NBSP or conjoining jamo (so no NFD Hangul).
    cosmetic_mess=("fullwidth", "spaces", "case"),
    display_name="서비스기획팀 현황",
    encoding="cp949",
    delimiter="\t",
    lineterminator="\n",
)

_OPS_TEAM = SourceStyle(
    name="ops_team",
    file_name="ops_team.xlsx",
    format="xlsx",
    priority=30,
    columns=(
        ("feature_code", "피처코드"),
        ("feature_name", "피처명"),
        ("policy_code", "정책코드"),
        ("policy_name", "정책명"),
        ("region", "지역"),
        ("platform", "플랫폼"),
        ("status", "상태"),
        ("owner", "담당자"),
        ("team", "팀"),
        ("effective_from", "적용일"),
        ("effective_to", "종료일"),
        ("note", "비고"),
    ),
    statuses={
        "enabled": ("Active",),
        "disabled": ("Inactive",),
        "pilot": ("pilot",),
        "planned": ("계획",),
        "deprecated": ("retired",),
    },
    dates=(_excel_cell, _excel_cell, _excel_cell, _excel_cell, _excel_serial),
    cosmetic_mess=("zwsp", "nbsp", "fullwidth", "spaces", "case", "nfd"),
    display_name="운영팀 현황표",
    sheet="현황",
)

_SCALED = SourceStyle(
    name="scaled",
    file_name="scaled.csv",
    format="csv",
    priority=100,
    columns=(
        ("feature_code", "Feature Code"),
        ("feature_name", "feature_name"),
        ("policy_code", "policy_code"),
        ("policy_name", "policy_name"),
        ("status", "status"),
        ("region", "market"),
        ("platform", "platform"),
        ("owner", "owner"),
        ("team", "team"),
        ("effective_from", "start_date"),
        ("effective_to", "end_date"),
        ("note", "remarks"),
    ),
    statuses={
        "enabled": ("enabled", "on", "yes"),
        "disabled": ("disabled", "off"),
        "pilot": ("pilot", "beta"),
        "planned": ("planned", "todo"),
        "deprecated": ("deprecated", "eol"),
    },
    dates=(_iso, _iso, _slashed),
    lineterminator="\n",
)

_SAMPLE_STYLES = (_PLATFORM_TEAM, _SERVICE_TEAM, _OPS_TEAM)

SAMPLE_SOURCES: dict[str, SampleSource] = {style.name: style.settings for style in _SAMPLE_STYLES}
"""Source name -> settings for it, as a ``[sources.<name>]`` table would hold them."""


# --- Drawing records -----------------------------------------------------------------


def _new_record(index: int, rng: Random) -> Record:
    """The record for identity number ``index`` (distinct numbers, distinct identities)."""
    rest, combo = divmod(index, len(_REGIONS) * len(_PLATFORMS))
    feature, policy = divmod(rest, len(_POLICIES))
    prefix, base_name = _FEATURES[feature % len(_FEATURES)]
    variant = _FEATURE_VARIANTS[(feature // len(_FEATURES)) % len(_FEATURE_VARIANTS)]
    start = _FIRST_DATE + timedelta(days=rng.randrange(900))
    end = start + timedelta(days=rng.randrange(30, 400)) if rng.random() < 0.3 else None
    return Record(
        feature_code=f"{prefix}-{feature + 1:03d}",
        feature_name=f"{variant} {base_name}",
        policy_code=f"POL-{policy + 1:03d}",
        policy_name=_POLICIES[policy],
        status=rng.choices(_STATUSES, cum_weights=_STATUS_CUM_WEIGHTS)[0],
        region=_REGIONS[combo // len(_PLATFORMS)],
        platform=_PLATFORMS[combo % len(_PLATFORMS)],
        owner=rng.choice(_OWNERS),
        team=rng.choice(_TEAMS),
        effective_from=start,
        effective_to=end,
        note=rng.choice(_NOTES),
        style=rng.getrandbits(32),
    )


def _other(choices: Iterable[str], current: str, rng: Random) -> str:
    return rng.choice([choice for choice in choices if choice != current])


def _change(record: Record, rng: Random) -> Record:
    """``record`` with its status, owner or note changed (never its identity)."""
    what = rng.choice(("status", "owner", "note"))
    if what == "status":
        return record._replace(status=_other(_STATUSES, record.status, rng))
    if what == "owner":
        return record._replace(owner=_other(_OWNERS, record.owner, rng))
    return record._replace(note=_other(_CHANGE_NOTES, record.note, rng))


# --- Presenting records ----------------------------------------------------------------


_T = TypeVar("_T")


def _pick(options: Sequence[_T], bits: int) -> _T:
    """One of ``options``, chosen by a record's style bits rather than by a generator."""
    return options[bits % len(options)]


def _date_cell(value: DateValue, style: SourceStyle, bits: int) -> Cell:
    if value is None or isinstance(value, str):
        return value
    return _pick(style.dates, bits >> 8)(value)


def _status_cell(record: Record, style: SourceStyle) -> str:
    words = style.statuses.get(record.status)
    return _pick(words, record.style) if words else record.status


def _cells(record: Record, style: SourceStyle) -> dict[str, Cell]:
    """Canonical field -> the cell this source writes for ``record``."""
    return {
        "feature_code": record.feature_code,
        "feature_name": record.feature_name,
        "policy_code": record.policy_code,
        "policy_name": record.policy_name,
        "status": _status_cell(record, style),
        "region": record.region,
        "platform": record.platform,
        "owner": record.owner,
        "team": record.team,
        "effective_from": _date_cell(record.effective_from, style, record.style),
        "effective_to": _date_cell(record.effective_to, style, record.style),
        "note": record.note or None,
    }


# --- Mess: each function spoils a row's cells in place -------------------------------

Mess = Callable[[dict[str, Cell], int], None]
_ZWSP = "\u200b"
_NBSP = "\u00a0"


def _fullwidth(text: str) -> str:
    """ASCII letters and digits as their full-width forms (PAY-001 -> ＰＡＹ-００１)."""
    return "".join(
        chr(ord(char) + 0xFEE0) if char.isascii() and char.isalnum() else char for char in text
    )


def _text(cells: dict[str, Cell], name: str) -> str:
    return str(cells[name] or "")


def _mess_zwsp(cells: dict[str, Cell], bits: int) -> None:
    code = _text(cells, "feature_code")
    cells["feature_code"] = code[: len(code) // 2] + _ZWSP + code[len(code) // 2 :]
    cells["feature_name"] = _text(cells, "feature_name") + _ZWSP * (bits % 2)


def _mess_nbsp(cells: dict[str, Cell], bits: int) -> None:
    cells["feature_name"] = _text(cells, "feature_name").replace(" ", _NBSP)
    cells["policy_code"] = _text(cells, "policy_code") + _NBSP


def _mess_fullwidth(cells: dict[str, Cell], bits: int) -> None:
    name = "feature_code" if bits % 2 == 0 else "policy_code"
    cells[name] = _fullwidth(_text(cells, name))


def _mess_spaces(cells: dict[str, Cell], bits: int) -> None:
    cells["feature_name"] = "  " + _text(cells, "feature_name").replace(" ", "  ") + " "
    cells["owner"] = f" {_text(cells, 'owner')}  "


def _mess_case(cells: dict[str, Cell], bits: int) -> None:
    name = "feature_code" if bits % 2 == 0 else "policy_code"
    code = _text(cells, name)
    cells[name] = code.lower() if bits % 4 < 2 else code.title()


def _mess_nfd(cells: dict[str, Cell], bits: int) -> None:
    for name in ("feature_name", "policy_name"):
        cells[name] = unicodedata.normalize("NFD", _text(cells, name))


def _mess_empty_code(cells: dict[str, Cell], bits: int) -> None:
    cells["feature_code"] = (None, " ")[bits % 2]


def _mess_unknown_status(cells: dict[str, Cell], bits: int) -> None:
    cells["status"] = _UNKNOWN_STATUSES[bits % len(_UNKNOWN_STATUSES)]


def _mess_bad_date(cells: dict[str, Cell], bits: int) -> None:
    name = "effective_from" if bits % 2 == 0 else "effective_to"
    cells[name] = _BAD_DATES[(bits >> 1) % len(_BAD_DATES)]


def _mess_none(cells: dict[str, Cell], bits: int) -> None:
    """Duplicates are written as they are; the later copy carries the change."""


_MESS: dict[str, Mess] = {
    "zwsp": _mess_zwsp,
    "nbsp": _mess_nbsp,
    "fullwidth": _mess_fullwidth,
    "spaces": _mess_spaces,
    "case": _mess_case,
    "nfd": _mess_nfd,
    "empty_code": _mess_empty_code,
    "unknown_status": _mess_unknown_status,
    "bad_date": _mess_bad_date,
    "duplicate": _mess_none,
}
_BAD_ROW_KINDS = ("empty_code", "unknown_status", "bad_date", "duplicate")
"""Each appears on 2 or 3 rows per source."""


def _row(record: Record, style: SourceStyle, mess: str | None = None) -> list[Cell]:
    cells = _cells(record, style)
    if mess is not None:
        _MESS[mess](cells, record.style >> 16)
    return [cells[name] for name, _ in style.columns]


# --- The sample world: which source reports what, day by day ---------------------------


@dataclass
class _World:
    records: dict[Identity, Record]
    rows: dict[str, list[Identity]]
    """Source name -> identities in file order."""
    disagree: dict[str, dict[Identity, str]]
    """Source name -> identity -> the status this source reports instead of the truth."""
    mess: dict[str, dict[Identity, str]]
    """Source name -> identity -> kind of mess on that row."""
    next_index: int


def _first_day(rows_per_source: int, seed: int) -> _World:
    rng = Random(f"{seed}:sample")
    names = [style.name for style in _SAMPLE_STYLES]
    # s identities per pair of sources, o of each source's own: o + 2s rows per
    # source, and the 3s shared ones are SHARED_FRACTION of all 3(o + s).
    shared = round(rows_per_source * SHARED_FRACTION / (1 + SHARED_FRACTION))
    own = rows_per_source - 2 * shared
    distinct = len(names) * (own + shared)
    space = distinct * _IDENTITY_SPREAD
    drawn = [_new_record(index, rng) for index in rng.sample(range(space), distinct)]
    pending = iter(drawn)
    world = _World(
        records={record.identity: record for record in drawn},
        rows={name: [next(pending).identity for _ in range(own)] for name in names},
        disagree={name: {} for name in names},
        mess={},
        next_index=space,
    )
    for first, second in zip(names, names[1:] + names[:1], strict=True):
        for _ in range(shared):
            identity = next(pending).identity
            world.rows[first].append(identity)
            world.rows[second].append(identity)
            if rng.random() < DISAGREE_RATE:
                truth = world.records[identity].status
                world.disagree[second][identity] = _other(_STATUSES, truth, rng)
    for style in _SAMPLE_STYLES:
        rng.shuffle(world.rows[style.name])
        world.mess[style.name] = _choose_mess(world.rows[style.name], style, rng)
    return world


def _choose_mess(
    identities: list[Identity], style: SourceStyle, rng: Random
) -> dict[Identity, str]:
    """Distinct rows for each kind of mess, fixed on day 1 so later days keep them."""
    cosmetic = max(2, round(len(identities) * COSMETIC_RATE))
    kinds = [kind for kind in style.cosmetic_mess for _ in range(cosmetic)]
    kinds += [kind for kind in _BAD_ROW_KINDS for _ in range(rng.randint(2, 3))]
    return dict(zip(rng.sample(identities, len(kinds)), kinds, strict=True))


def _next_day(world: _World, rng: Random) -> None:
    """Move ``world`` one day on: drop ~1%, change ~3%, add a few new identities."""
    count = len(world.records)
    gone = set(rng.sample(list(world.records), round(count * DAILY_DROP_RATE)))
    for identity in gone:
        del world.records[identity]
    for name, identities in world.rows.items():
        identities[:] = [identity for identity in identities if identity not in gone]
        for kept in (world.disagree[name], world.mess[name]):
            for identity in gone & kept.keys():
                del kept[identity]
    for identity in rng.sample(list(world.records), round(count * DAILY_CHANGE_RATE)):
        world.records[identity] = _change(world.records[identity], rng)
    for _ in range(max(2, round(count * DAILY_NEW_RATE))):
        record = _new_record(world.next_index, rng)
        world.next_index += 1
        world.records[record.identity] = record
        identities = world.rows[rng.choice(list(world.rows))]
        identities.insert(rng.randrange(len(identities) + 1), record.identity)


def _world_on(day: int, rows_per_source: int, seed: int) -> _World:
    world = _first_day(rows_per_source, seed)
    for later in range(2, day + 1):
        _next_day(world, Random(f"{seed}:day:{later}"))
    return world


def _source_rows(world: _World, style: SourceStyle) -> Iterator[list[Cell]]:
    """The rows of one source's extract; duplicated identities come back, changed, at the end."""
    disagree = world.disagree[style.name]
    mess = world.mess[style.name]
    later: list[Record] = []
    for identity in world.rows[style.name]:
        record = world.records[identity]
        if identity in disagree:
            record = record._replace(status=disagree[identity])
        if mess.get(identity) == "duplicate":
            later.append(_change(record, Random(record.style)))
        yield _row(record, style, mess.get(identity))
    for record in later:
        yield _row(record, style)


# --- Writing files -------------------------------------------------------------------------


def _header(style: SourceStyle) -> list[Cell]:
    return [header for _, header in style.columns]


def _write_csv(path: Path, style: SourceStyle, rows: Iterable[list[Cell]]) -> None:
    with path.open("w", encoding=style.encoding, newline="") as handle:
        writer = csv.writer(handle, delimiter=style.delimiter, lineterminator=style.lineterminator)
        writer.writerow(_header(style))
        writer.writerows(rows)


def _write_xlsx(path: Path, style: SourceStyle, rows: Iterable[list[Cell]]) -> None:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(style.sheet)
    sheet.append(_header(style))
    for row in rows:
        sheet.append(row)
    workbook.save(path)


_WRITERS: dict[str, Callable[[Path, SourceStyle, Iterable[list[Cell]]], None]] = {
    "csv": _write_csv,
    "xlsx": _write_xlsx,
}


def write_sample_sources(
    folder: Path, *, rows_per_source: int = 400, seed: int = 42, day: int = 1
) -> dict[str, Path]:
    """Write the three team extracts for ``day`` into ``folder``; return {source: file}.

    Each source holds ``rows_per_source`` identities on day 1 (plus 2-3 duplicate
    rows). The same arguments always write the same rows (CSV files byte for byte;
    XLSX files cell for cell, since a workbook stores its save time).
    """
    if rows_per_source < MIN_ROWS_PER_SOURCE:
        raise ValueError(f"rows_per_source must be at least {MIN_ROWS_PER_SOURCE}")
    if day < 1:
        raise ValueError("day counts from 1")
    world = _world_on(day, rows_per_source, seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for style in _SAMPLE_STYLES:
        path = folder / style.file_name
        _WRITERS[style.format](path, style, _source_rows(world, style))
        paths[style.name] = path
    return paths


def _scrambling_step(rows: int) -> int:
    """A step coprime with ``rows``: ``i * step % rows`` visits every index once, shuffled."""
    step = max(1, round(rows * 0.6180339887))
    while math.gcd(step, rows) != 1:
        step += 1
    return step


def _scaled_rows(
    style: SourceStyle, rows: int, seed: int, changed_fraction: float
) -> Iterator[list[Cell]]:
    base = Random(f"{seed}:scaled")
    # Changes draw from their own generator, so every fraction sees the same base rows.
    changes = Random(f"{seed}:scaled:changes")
    step = _scrambling_step(rows)
    for position in range(rows):
        record = _new_record(position * step % rows, base)
        if base.random() < SCALED_UNKNOWN_RATE:
            record = record._replace(status=_pick(_UNKNOWN_STATUSES, record.style))
        if changes.random() < changed_fraction:
            record = _change(record, changes)
        yield _row(record, style)


def write_scaled_csv(
    path: Path,
    rows: int,
    *,
    seed: int = 42,
    changed_fraction: float = 0.0,
    encoding: str = "utf-8-sig",
) -> Path:
    """Stream ``rows`` distinct records into one CSV at ``path``; return ``path``.

    With ``changed_fraction`` > 0 the file holds the same identities in the same
    order as with 0.0, about that fraction of them changed in status, owner or note.
    """
    if rows < 0:
        raise ValueError("rows cannot be negative")
    if not 0.0 <= changed_fraction <= 1.0:
        raise ValueError("changed_fraction must be between 0 and 1")
    style = replace(_SCALED, encoding=encoding)
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_csv(path, style, _scaled_rows(style, rows, seed, changed_fraction))
    return path

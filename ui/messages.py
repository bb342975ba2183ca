"""The dashboard's one message catalog: every label, in Korean (default) and English.

Its job: pages never hold literal text; they ask ``t(key, lang, **values)``.
Each entry is ``key: (Korean, English)``; placeholders are ``str.format``
fields and must be the same in both languages (a unit test checks every entry
and that every key the pages use exists). Field, status, change-kind and
yes/no labels have helpers so tables and facets speak the reader's language
while URLs and downloads keep the stored values.

This module must never import Streamlit, psycopg or SQLAlchemy.
"""

from __future__ import annotations

LANGUAGES = {"ko": "한국어", "en": "English"}
DEFAULT_LANGUAGE = "ko"

MESSAGES: dict[str, tuple[str, str]] = {
    # --- the app and its pages
    "app.title": ("FMW 정책·기능 현황", "FMW policy & feature status"),
    "app.language": ("언어 · Language", "Language · 언어"),
    "nav.home": ("홈", "Home"),
    "nav.explore": ("검색", "Explore"),
    "nav.record": ("상세", "Record"),
    "nav.changes": ("변경 이력", "Changes"),
    "nav.matrix": ("현황표", "Matrix"),
    "app.tab": ("FMW · {page}", "FMW · {page}"),
    "app.snapshot": ("스냅샷: {when}", "Snapshot: {when}"),
    "app.new_snapshot": ("새 스냅샷을 불러왔습니다 ({when}).", "Loaded a new snapshot ({when})."),
    "app.loading": ("스냅샷을 불러오는 중…", "Loading the snapshot…"),
    # --- no snapshot / unusable snapshot
    "empty.title": ("아직 스냅샷이 없습니다", "No snapshot yet"),
    "empty.body": (
        "관리자가 `fmw sync`를 실행하면 데이터가 여기에 나타납니다. 샘플 데이터로 둘러보려면 "
        "`fmw demo`를 실행하세요. (스냅샷 폴더: `{root}`)",
        "Data appears here once an admin runs `fmw sync`. To look around with sample data, run "
        "`fmw demo`. (Snapshot folder: `{root}`)",
    ),
    "unusable.title": ("스냅샷을 읽을 수 없습니다", "The snapshot cannot be read"),
    "unusable.body": (
        "{problem} — 관리자에게 알리거나 `fmw sync`로 새 스냅샷을 만드세요.",
        "{problem} — tell an admin, or publish a new snapshot with `fmw sync`.",
    ),
    # --- freshness banner
    "fresh.info": (
        "{when} 기준 데이터 ({age} 전) · 배치 {batches}",
        "Data as of {when} ({age} ago) · batches {batches}",
    ),
    "fresh.stale": (
        "스냅샷이 {age} 전에 만들어졌습니다. 동기화 주기({hours}시간)와 유예 시간을 넘었으니 "
        "동기화가 실행되고 있는지 확인하세요.",
        "This snapshot is {age} old, past the sync schedule ({hours} h) plus its grace period: "
        "check that the sync runs.",
    ),
    "fresh.fallback": (
        "최신 스냅샷이 검증을 통과하지 못해 {when}의 마지막 정상 스냅샷을 보여 줍니다. ({problem})",
        "Showing the last good snapshot from {when}: the newest one failed verification. "
        "({problem})",
    ),
    "fresh.sync_failed": (
        "마지막 동기화({failed_at})가 실패했습니다: {message} — {when}의 스냅샷을 보여 줍니다.",
        "The last sync ({failed_at}) failed: {message} — showing the snapshot from {when}.",
    ),
    "age.minutes": ("{n}분", "{n} min"),
    "age.hours": ("{n}시간", "{n} h"),
    "age.days": ("{n}일", "{n} days"),
    "batches.none": ("없음", "none"),
    # --- Home
    "home.search": ("검색", "Search"),
    "home.search.placeholder": (
        "기능·정책 코드, 이름, 담당자, 팀, 비고로 찾기",
        "Find by feature or policy code, name, owner, team, note",
    ),
    "home.search.go": ("찾기", "Find"),
    "metric.records": ("전체 레코드", "Records"),
    "metric.active": ("소스에 있는 레코드", "Listed by a source"),
    "metric.inactive": ("소스에서 빠진 레코드", "Dropped by every source"),
    "metric.conflicts": ("소스 간 불일치", "Sources disagree"),
    "metric.changes": ("최근 변경", "Latest changes"),
    "home.status": ("상태별 레코드", "Records by status"),
    "home.by_team": ("팀별", "By team"),
    "home.by_region": ("지역별", "By region"),
    "home.latest": (
        "각 소스의 최근 적재에서 바뀐 레코드: {count}건",
        "Records changed by the latest load of each source: {count}",
    ),
    "home.latest.none": (
        "각 소스의 최근 적재에서 바뀐 레코드가 없습니다.",
        "The latest load of each source changed no record.",
    ),
    "home.latest.all": ("변경 이력 전체 보기", "All changes"),
    "home.open_hint": (
        "숫자, 막대, 표의 줄을 누르면 그 조건으로 검색 화면이나 변경 이력이 열립니다.",
        "Click a number, a bar or a row to open Explore or Changes with that filter.",
    ),
    # --- Explore
    "explore.search": ("검색어", "Search"),
    "explore.clear": ("조건 지우기", "Clear filters"),
    "explore.listed": ("소스 목록", "Source lists"),
    "explore.conflicts": ("소스 불일치만", "Sources disagree"),
    "listed.yes": ("소스에 있는 것", "Listed"),
    "listed.no": ("빠진 것", "Dropped"),
    "listed.all": ("모두", "All"),
    "explore.hidden": (
        "소스에서 빠진 레코드 {n}건은 숨겼습니다. 보려면 소스 목록에서 '모두'를 고르세요.",
        "{n} records that no source lists any more are hidden: choose 'All' under Source lists.",
    ),
    "explore.view": ("보기 설정", "View"),
    "explore.columns": ("표시할 열", "Columns"),
    "explore.columns.help": (
        "표와 내려받는 파일에 담을 열을 고릅니다.",
        "Choose the columns of the table and of the downloads.",
    ),
    "explore.time": ("기준일", "As of"),
    "explore.as_of": ("기준일", "As of"),
    "explore.as_of.help": (
        "고른 날이 끝날 때의 상태를 변경 이력으로 다시 만들어 보여 줍니다. 비우면 지금 상태입니다.",
        "Shows every record as it was at the end of that day, rebuilt from its history. "
        "Empty: now.",
    ),
    "as_of.building": (
        "{day} 끝의 상태를 변경 이력으로 다시 만드는 중…",
        "Rebuilding the records as they were at the end of {day} from their history…",
    ),
    "explore.compare": ("비교할 날", "Compare with"),
    "explore.compare.help": (
        "이 날과 기준일(비우면 지금) 사이에 달라진 레코드만 이전 → 이후로 보여 줍니다.",
        "Shows only the records that differ between this day and the As-of day (or now), "
        "before → after.",
    ),
    "explore.as_of.note": (
        "{day} 기준 상태입니다 (변경 이력으로 다시 만든 화면, 그 뒤에 처음 들어온 레코드는 "
        "빠집니다).",
        "Records as they were at the end of {day}, rebuilt from their history (records first "
        "loaded later are left out).",
    ),
    "explore.compare.note": (
        "{before}와 {after} 사이에 달라진 레코드입니다. 달라진 칸은 이전 → 이후로 보입니다.",
        "Records that differ between {before} and {after}; changed cells read before → after.",
    ),
    "time.now": ("지금", "now"),
    "explore.other_changes": ("다른 열의 변화", "Other changes"),
    "explore.new_since": ("그날에는 없던 레코드", "Not there on that day"),
    "explore.sort": ("정렬", "Sort by"),
    "sort.relevance": ("관련도", "Relevance"),
    "explore.sort_hint": (
        "열 제목을 누르면 전체 결과가 그 열로 정렬됩니다 (한 번 더 누르면 반대로).",
        "Click a column title to sort the whole result by it (again to reverse).",
    ),
    "explore.descending": ("내림차순", "Descending"),
    "explore.page_size": ("쪽당 행 수", "Rows per page"),
    "explore.page": ("쪽 (전체 {pages}쪽)", "Page (of {pages})"),
    "explore.count": ("{total}건 중 {first}–{last}", "{first}–{last} of {total}"),
    "explore.none": ("조건에 맞는 레코드가 없습니다.", "No record matches."),
    "explore.open_hint": (
        "코드를 누르면 상세 화면이 열립니다. 이 화면의 주소를 복사하면 같은 결과를 공유할 수 "
        "있습니다.",
        "Click a code to open its record. Copy this page's address to share exactly this view.",
    ),
    "explore.search.help": (
        "코드는 구분 기호·대소문자·전각과 상관없이 찾습니다 (pay013 = PAY-013). 특정 열만 찾으려면 "
        "담당자:김, 팀:결제, 코드:PAY 처럼 쓰세요. 빈칸으로 나눈 낱말은 모두 들어 있어야 합니다.",
        "Codes match with or without separators, in any case or width (pay013 = PAY-013). To "
        "search one field, write owner:kim, team:pay, code:PAY. Every word must be found.",
    ),
    "download.menu": ("내려받기 ({rows}건)", "Download ({rows} rows)"),
    "download.csv": ("CSV ({rows}건)", "CSV ({rows} rows)"),
    "download.xlsx": ("XLSX ({rows}건)", "XLSX ({rows} rows)"),
    "download.help": (
        "화면과 같은 열과 글자로, 조건에 맞는 모든 행을 내려받습니다 (시각은 {zone}, 수식으로 "
        "읽힐 셀은 무력화).",
        "Downloads every matching row with the columns and words on screen (times in {zone}; "
        "cells that could run as formulas are neutralized).",
    ),
    "download.codes": ("CSV (코드값, {rows}건)", "CSV (codes, {rows} rows)"),
    "download.codes.help": (
        "프로그램용: 모든 열, 저장된 그대로의 영문 코드값, UTC 시각(ISO 8601).",
        "For programs: every column, stored codes (enabled, …), UTC times (ISO 8601).",
    ),
    "choose": ("선택", "Choose"),
    "value.blank": ("(빈 값)", "(blank)"),
    "download.xlsx_cut": (
        "XLSX에는 Excel 한도인 처음 {rows}행만 담깁니다.",
        "The XLSX file holds the first {rows} rows only (Excel's limit).",
    ),
    # --- Record
    "record.pick": (
        "상세를 볼 레코드를 검색 화면에서 선택하세요.",
        "Pick a record on the Explore page to see it here.",
    ),
    "record.not_found": (
        "이 스냅샷에는 레코드 `{id}`가 없습니다.",
        "This snapshot has no record `{id}`.",
    ),
    "record.back": ("← 결과로 돌아가기", "← Back to the results"),
    "record.to_explore": ("검색 화면으로", "Go to Explore"),
    "record.fields": ("필드", "Fields"),
    "record.sources": ("소스", "Sources"),
    "record.shown_from": (
        "표시 값의 출처: **{source}** (행 {row}). 이 레코드가 목록에 있는 소스: {count}개.",
        "Values shown come from **{source}** (row {row}). Sources listing it: {count}.",
    ),
    "record.conflict": (
        "소스마다 값이 다릅니다 ({fields}). 우선순위 숫자가 가장 작은 소스의 값을 표시합니다.",
        "The sources disagree ({fields}). The source with the lowest priority number is shown.",
    ),
    "record.agree": ("소스 사이에 다른 값이 없습니다.", "The sources agree."),
    "record.timeline": ("변경 이력", "Timeline"),
    "record.timeline.none": ("이 레코드의 변경 이력이 없습니다.", "No history for this record."),
    "record.entry": (
        "{when} · {change} · 배치 {batch} ({source}, {file})",
        "{when} · {change} · batch {batch} ({source}, {file})",
    ),
    "record.field": ("필드", "Field"),
    "record.value": ("값", "Value"),
    "record.before": ("이전", "Before"),
    "record.after": ("이후", "After"),
    "record.shown": ("표시 중", "Shown"),
    # --- Changes
    "changes.since": ("시작일", "Since"),
    "changes.kinds": ("변경 종류", "Kind of change"),
    "changes.sources": ("소스", "Source"),
    "changes.fields": ("바뀐 필드", "Changed field"),
    "changes.text": ("코드로 찾기", "Find by code"),
    "changes.count": ("{count}건의 변경", "{count} changes"),
    "changes.none": ("조건에 맞는 변경이 없습니다.", "No change matches."),
    "changes.page": ("쪽 (전체 {pages}쪽)", "Page (of {pages})"),
    "changes.what": ("바뀐 내용", "What changed"),
    # --- Matrix
    "matrix.by": ("줄", "Lines"),
    "matrix.by.feature": ("기능별", "By feature"),
    "matrix.by.policy": ("정책별", "By policy"),
    "matrix.count": (
        "{total}줄 중 {first}–{last} · 레코드 {records}건",
        "Lines {first}–{last} of {total} · {records} records",
    ),
    "matrix.none": ("조건에 맞는 레코드가 없습니다.", "No record matches."),
    "matrix.hint": (
        "칸을 누르면 그 레코드가 열립니다. 한 칸에 여러 건이면 검색 화면에 나열됩니다.",
        "Click a cell to open its record; a cell of several records lists them in Explore.",
    ),
    # --- errors while showing data
    "error.read": (
        "스냅샷 파일을 읽지 못했습니다: {error}",
        "A snapshot file cannot be read: {error}",
    ),
    # --- values
    "bool.true": ("예", "Yes"),
    "bool.false": ("아니요", "No"),
    "active.true": ("있음", "Listed"),
    "active.false": ("빠짐", "Dropped"),
    "status.enabled": ("적용", "Enabled"),
    "status.disabled": ("미적용", "Disabled"),
    "status.pilot": ("시범", "Pilot"),
    "status.planned": ("예정", "Planned"),
    "status.deprecated": ("폐기", "Deprecated"),
    "status.unknown": ("알 수 없음", "Unknown"),
    "change.inserted": ("추가", "Added"),
    "change.updated": ("변경", "Updated"),
    "change.deactivated": ("소스에서 빠짐", "Dropped by its sources"),
    "change.reactivated": ("소스에 다시 나타남", "Listed again"),
    # --- field names (snapshot columns)
    "field.identity_hash": ("식별 해시", "Identity hash"),
    "field.feature_code": ("기능 코드", "Feature code"),
    "field.feature_name": ("기능명", "Feature name"),
    "field.policy_code": ("정책 코드", "Policy code"),
    "field.policy_name": ("정책명", "Policy name"),
    "field.status": ("상태", "Status"),
    "field.status_raw": ("원래 상태값", "Status as the source wrote it"),
    "field.region": ("지역", "Region"),
    "field.platform": ("플랫폼", "Platform"),
    "field.owner": ("담당자", "Owner"),
    "field.team": ("팀", "Team"),
    "field.effective_from": ("시작일", "Effective from"),
    "field.effective_to": ("종료일", "Effective to"),
    "field.note": ("비고", "Note"),
    "field.is_active": ("소스 목록", "In source lists"),
    "field.source": ("소스", "Source"),
    "field.source_row": ("소스 행", "Source row"),
    "field.first_seen_at": ("처음 적재", "First seen"),
    "field.last_changed_at": ("마지막 변경", "Last changed"),
    "field.source_count": ("소스 수", "Sources"),
    "field.has_conflict": ("소스 불일치", "Sources disagree"),
    "field.changed_at": ("변경 시각", "Changed at"),
    "field.change": ("변경", "Change"),
    "field.changed_fields": ("바뀐 필드", "Changed fields"),
    "field.batch_id": ("배치", "Batch"),
    "field.batch_source": ("소스", "Source"),
    "field.batch_file": ("파일", "File"),
    "field.priority": ("우선순위", "Priority"),
    "field.is_shown": ("표시 중", "Shown"),
    "field.value": ("값", "Value"),
    "field.records": ("레코드", "Records"),
    "field.active_records": ("소스에 있음", "Listed"),
    "field.open": ("상세", "Record"),
}


def language(value: object) -> str:
    """A supported language code: ``value`` if it is one, else the default (Korean)."""
    return value if isinstance(value, str) and value in LANGUAGES else DEFAULT_LANGUAGE


def t(key: str, lang: str = DEFAULT_LANGUAGE, **values: object) -> str:
    """The message ``key`` in ``lang`` with ``values`` filled in; KeyError for an unknown key."""
    korean, english = MESSAGES[key]
    text = english if lang == "en" else korean
    return text.format(**values) if values else text


def field_label(name: str, lang: str = DEFAULT_LANGUAGE) -> str:
    """A column's label; an unknown column keeps its name."""
    key = f"field.{name}"
    return t(key, lang) if key in MESSAGES else name


def value_label(kind: str, value: object, lang: str = DEFAULT_LANGUAGE) -> str:
    """A stored value as people read it: ``kind`` is status, change, bool or active.

    Unknown values are shown as they are; a missing value is blank.
    """
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        value = "true" if value else "false"
    key = f"{kind}.{value}"
    return t(key, lang) if key in MESSAGES else str(value)


KINDS = {
    "status": "status",
    "is_active": "active",
    "change": "change",
    "has_conflict": "bool",
    "is_shown": "bool",
}
"""Columns whose stored values have labels: column -> ``value_label`` kind."""


def facet_value_label(facet: str, value: str, lang: str = DEFAULT_LANGUAGE) -> str:
    """A filter value's label (statuses and source lists translated, others as they are)."""
    return value_label(KINDS.get(facet, ""), value, lang)

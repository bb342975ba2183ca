"""The Streamlit edge every page shares: which snapshot to show, language, formatting.

Its job is the only Streamlit glue outside the page scripts:

* ``current()`` — on every interaction, read the tiny ``CURRENT.json`` pointer
  (one small file read) and hand back the shared, parsed ``Snapshot``. Parsing
  happens once per generation per process: ``_resolve`` (verify, fall back to
  the newest good generation) and ``_parse`` are ``st.cache_resource``
  functions keyed by the root, the pointer and the generation id, so every
  session gets the very same read-only object (no per-session copy, unlike
  ``st.cache_data``, which pickles). A newly published generation is picked up
  by the next interaction of any session; at most two generations stay mapped
  (the new one and the one open sessions may still be drawing). A file that fails
  verification when first read (``SnapshotDamagedError``) makes the process skip
  that generation from then on and run the page again (``fall_back``): it then
  shows the previous good one and says why.
  A missing snapshot renders the empty state (naming ``fmw demo`` and
  ``fmw sync``) and stops the page; an unusable one renders the reason.
* ``lang()`` and ``tr()`` — the reader's language (Korean unless switched; the
  switch is ``language_links()``, two plain links to ``?lang=ko`` / ``?lang=en``,
  which a new session reads) and its messages.
* ``top_links()`` — the line at the top of every page: links to the pages (the
  app's ``st.navigation`` routes but draws no sidebar) and the language switch.
* ``reader()`` — how values read for this reader (``display.Reader``: language,
  time zone, source display names), for tables and downloads alike;
* ``table_html`` — a static HTML table (links, no grid component): the pages'
  result tables, so a header click can sort the whole result and nothing offers
  a page-only download; and the download buttons.

Data logic lives in the plain modules (snapshot_data, search, overview,
downloads, freshness); this module must never import psycopg or SQLAlchemy.
"""

from __future__ import annotations

import datetime as dt
import functools
import html
import os
import threading
import urllib.parse
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pyarrow as pa
import streamlit as st

from fmw.errors import FmwError, NoSnapshotError, SnapshotError
from fmw.settings import Settings, load_settings, settings_file
from fmw.snapshot.generations import read_generation
from fmw.ui import as_of, display, downloads, freshness, messages, search
from fmw.ui.snapshot_data import Snapshot, SnapshotDamagedError, parse, pointer, resolve

LANG_KEY = "lang"
FORM_LANG_KEY = "language"
"""``lang`` as an HTML form field's name: st.html's sanitizer drops ``name="lang"`` (it
would shadow the form's own ``lang`` property), so Home's search form sends this one."""
SEEN_KEY = "_fmw_seen_generation"
PAGES = {
    "home": "app_pages/home.py",
    "explore": "app_pages/explore.py",
    "record": "app_pages/record.py",
    "changes": "app_pages/changes.py",
    "matrix": "app_pages/matrix.py",
}
"""Page scripts, relative to streamlit_app.py (for st.switch_page and st.page_link)."""
NAV_PAGES = ("home", "explore", "matrix", "changes")
"""The pages ``top_links`` offers; Record is opened from a row (it needs an id)."""


@dataclass(frozen=True)
class Shown:
    """The snapshot this interaction shows, and why it is not the newest (if it is not)."""

    snapshot: Snapshot
    skipped: tuple[str, ...]
    settings: Settings


# --------------------------------------------------------------------------- language


def lang() -> str:
    """The reader's language code ("ko" or "en")."""
    return messages.language(st.session_state.get(LANG_KEY))


def tr(key: str, **values: object) -> str:
    """Message ``key`` in the reader's language."""
    return messages.t(key, lang(), **values)


def init_language() -> None:
    """Take ``?lang=`` from the URL when it has one (the language links), else keep the
    session's language (Korean in a new session)."""
    asked = st.query_params.get(LANG_KEY) or st.query_params.get(FORM_LANG_KEY)
    if asked or LANG_KEY not in st.session_state:
        st.session_state[LANG_KEY] = messages.language(asked)


def language_links() -> str:
    """The language switch as plain HTML links (for ``st.html``): this page's URL with
    ``?lang=ko`` or ``?lang=en``.

    A link opens the page anew in that language (a new session reads ``?lang=``), so
    the language is part of any copied link; the page's other URL parameters are kept
    as they were when this run started. Plain links, not a widget: a widget on every
    page is one more element for the browser to draw (measured, docs/benchmarks.md).
    """
    current = lang()
    kept = {
        name: st.query_params.get_all(name)
        for name in st.query_params
        if name not in (LANG_KEY, FORM_LANG_KEY)
    }
    links = " · ".join(
        f"<strong>{html.escape(name)}</strong>"
        if code == current
        else f'<a href="?{html.escape(query_string(kept | {LANG_KEY: [code]}))}"'
        f' target="_self">{html.escape(name)}</a>'
        for code, name in messages.LANGUAGES.items()
    )
    return f'<p class="fmw-lang">{html.escape(tr("app.language"))}: {links}</p>'


# --------------------------------------------------------------------------- snapshot


_DAMAGED: dict[str, str] = {}
"""Generations this process found damaged (a file failed verification when read): why."""


@st.cache_resource(max_entries=8, show_spinner=False)
def _resolve(
    root: str, pointed: str | None, damaged: tuple[tuple[str, str], ...]
) -> tuple[str, tuple[str, ...]]:
    """Which generation to show for this pointer value (verifies files once per pointer)."""
    generation, problems = resolve(Path(root), skip=dict(damaged))
    return generation.id, tuple(problems)


def fall_back(damaged: SnapshotDamagedError) -> NoReturn:
    """Skip the damaged generation from now on and run the page again (it then shows the
    previous good generation and says why)."""
    _DAMAGED[damaged.generation_id] = str(damaged)
    st.rerun()


@st.cache_resource(max_entries=2, show_spinner=False)
def _parse(root: str, generation_id: str) -> Snapshot:
    """The parsed generation, shared by every session of this process."""
    generation = read_generation(Path(root), generation_id, verify=False)  # _resolve verified it
    return parse(Path(root), generation)


_PARSED: set[tuple[str, str]] = set()
"""(root, generation id) pairs this process has parsed: those need no "loading" spinner."""

_LIVE: weakref.WeakValueDictionary[tuple[str, str], Snapshot] = weakref.WeakValueDictionary()
"""The parsed snapshots still held (by the cache or a running page)."""


def release_sparse_pages() -> None:
    """After a page's run: give back the pages of the files it read a few rows of, in
    every snapshot still held (``Files.release_sparse``)."""
    for snapshot in list(_LIVE.values()):
        snapshot.files.release_sparse()


def _parsed(root: str, generation_id: str) -> Snapshot:
    """``_parse``, with the "loading" spinner only when it really parses (a spinner is one
    more element for the browser to draw on every page of every interaction)."""
    if (root, generation_id) in _PARSED:
        snapshot = _parse(root, generation_id)
    else:
        with st.spinner(tr("app.loading"), show_time=False):
            snapshot = _parse(root, generation_id)
        _PARSED.add((root, generation_id))
    _LIVE[root, generation_id] = snapshot
    return snapshot


def settings() -> Settings:
    """The settings in force (FMW_SNAPSHOT_DIR, set by ``fmw ui``, names the snapshot root):
    read again only when the settings file or an ``FMW_`` variable changed (a stat, not a
    parse, on each run: parsing took ~5 ms of every rerun)."""
    file = settings_file()
    stamp = file.stat() if file else None
    key = (
        file,
        (stamp.st_mtime_ns, stamp.st_size) if stamp else None,
        tuple(sorted((k, v) for k, v in os.environ.items() if k.upper().startswith("FMW_"))),
    )
    with _SETTINGS_LOCK:
        if _SETTINGS and _SETTINGS[0][0] == key:
            return _SETTINGS[0][1]
    loaded = load_settings()
    with _SETTINGS_LOCK:
        _SETTINGS[:] = [(key, loaded)]
    return loaded


_SETTINGS: list[tuple[object, Settings]] = []
_SETTINGS_LOCK = threading.Lock()


def current() -> Shown:
    """The snapshot to show now; renders the empty or error state and stops when there is none."""
    try:
        config = settings()
    except FmwError as exc:
        st.error(str(exc))
        st.stop()
    root = config.snapshot_path
    try:
        generation_id, skipped = _resolve(str(root), pointer(root), tuple(_DAMAGED.items()))
        snapshot = _parsed(str(root), generation_id)
    except NoSnapshotError:
        st.info(f"**{tr('empty.title')}**\n\n{tr('empty.body', root=root)}", icon="📭")
        st.stop()
    except SnapshotDamagedError as damaged:
        fall_back(damaged)
    except SnapshotError as exc:
        st.error(f"**{tr('unusable.title')}**\n\n{tr('unusable.body', problem=exc)}", icon="🚫")
        st.stop()
    _announce_new_generation(snapshot)
    return Shown(snapshot, skipped, config)


def _announce_new_generation(snapshot: Snapshot) -> None:
    seen = st.session_state.get(SEEN_KEY)
    if seen is not None and seen != snapshot.id:
        st.toast(tr("app.new_snapshot", when=when(snapshot.generation.generated_at)))
    st.session_state[SEEN_KEY] = snapshot.id


def top_links(page: str) -> str:
    """The line at the top of every page, as HTML for ``st.html``: links to the pages in
    ``NAV_PAGES`` (``page`` itself in bold: following it shows the newest snapshot) and
    the language switch.

    Plain links instead of Streamlit's sidebar navigation: drawing the sidebar took the
    browser about 35 ms of Home's load, measured (docs/benchmarks.md). A link opens
    the page anew, in the reader's language (``page_url``).
    """

    def link(name: str) -> str:
        label = html.escape(tr(f"nav.{name}"))
        here = ' aria-current="page"' if name == page else ""
        shown = f"<strong>{label}</strong>" if name == page else label
        return f'<a href="{html.escape(page_url(name))}" target="_self"{here}>{shown}</a>'

    pages = " · ".join(link(name) for name in NAV_PAGES)
    return f'<p class="fmw-nav">{pages}</p>' + language_links()


def start_page(page: str, *, top: bool = True) -> Shown:
    """A page's first lines: the browser tab's title ("FMW · 검색"), its title,
    ``top_links`` (unless the page draws them itself), the snapshot to show and the
    errors to repeat."""
    st.set_page_config(page_title=tr("app.tab", page=tr(f"nav.{page}")))
    st.title(tr(f"nav.{page}"))
    if top:
        st.html(top_links(page))
    shown = current()
    show_problems(shown)
    return shown


def freshness_of(shown: Shown) -> freshness.Freshness:
    return freshness.assess(
        shown.snapshot.generation,
        shown.skipped,
        now=dt.datetime.now(dt.UTC),
        sync_every_hours=shown.settings.sync_every_hours,
        grace_hours=shown.settings.freshness_grace_hours,
        sync_status=freshness.read_sync_status(scheduler_status_path(shown.settings)),
    )


def scheduler_status_path(config: Settings) -> Path:
    """Where the scheduler publishes its status (see fmw.scheduler.status)."""
    configured = getattr(getattr(config, "scheduler", None), "status_file", None)
    if configured:
        return config.resolve(configured)
    return config.snapshot_path / freshness.SCHEDULER_STATUS_NAME


def show_problems(shown: Shown) -> None:
    """The errors every page repeats: an older snapshot is shown, or the last sync failed."""
    fresh = freshness_of(shown)
    made = when(fresh.generated_at)
    if fresh.fallback:
        st.error(tr("fresh.fallback", when=made, problem=fresh.skipped[0]), icon="⚠️")
    if fresh.failed_sync is not None:
        st.error(
            tr(
                "fresh.sync_failed",
                failed_at=when(fresh.failed_sync.finished_at),
                message=fresh.failed_sync.message,
                when=made,
            ),
            icon="⚠️",
        )


def show_freshness(shown: Shown) -> str:
    """Home's banner: a warning when the snapshot is too old (shown here), and the line
    saying when and from which batches it was made (returned, for Home's HTML block)."""
    fresh = freshness_of(shown)
    batches = ", ".join(str(b) for b in fresh.batches) or tr("batches.none")
    if fresh.stale:
        st.warning(
            tr("fresh.stale", age=age(fresh.age), hours=f"{shown.settings.sync_every_hours:g}"),
            icon="⏰",
        )
    return tr("fresh.info", when=when(fresh.generated_at), age=age(fresh.age), batches=batches)


# --------------------------------------------------------------------------- URL state


def as_lists(params: Mapping[str, str | list[str]]) -> dict[str, list[str]]:
    """URL parameters with every value a list, empty ones dropped."""
    return {k: (v if isinstance(v, list) else [v]) for k, v in params.items() if v}


def url_params() -> dict[str, list[str]]:
    """The page's view parameters from the URL (the language is not part of a view)."""
    return {
        k: v
        for k, v in as_lists(
            {name: st.query_params.get_all(name) for name in st.query_params}
        ).items()
        if k not in (LANG_KEY, FORM_LANG_KEY)
    }


def write_url(params: dict[str, list[str]], current: dict[str, list[str]]) -> None:
    """Make the URL hold ``params`` (plus ``lang`` when not Korean), if it does not already."""
    if params == current and (lang() == messages.DEFAULT_LANGUAGE) == (
        LANG_KEY not in st.query_params
    ):
        return
    wanted: dict[str, list[str]] = dict(params)
    if lang() != messages.DEFAULT_LANGUAGE:
        wanted[LANG_KEY] = [lang()]
    st.query_params.from_dict(wanted)


# --------------------------------------------------------------------------- formatting


DEFAULT_ZONE = "Asia/Seoul"
"""The time zone when the browser does not say (the people FMW serves work in Seoul)."""


def zone() -> dt.tzinfo:
    """The reader's time zone (the browser's when known, else Seoul's)."""
    for name in (getattr(st.context, "timezone", None), DEFAULT_ZONE):
        if name:
            try:
                return ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return dt.UTC


def reader(config: Settings | None = None) -> display.Reader:
    """How values read for this reader: language, time zone, source display names."""
    config = config or settings()
    names = {
        name: source.display_name for name, source in config.sources.items() if source.display_name
    }
    return display.Reader(lang=lang(), zone=zone(), sources=names)


def when(moment: dt.datetime | None) -> str:
    """A moment as the reader's local "YYYY-MM-DD HH:MM"."""
    return display.Reader(zone=zone()).when(moment)


def when_cell(value: object) -> str:
    """A timestamp cell of a snapshot row (a datetime, None when null) as ``when`` shows it."""
    if value is not None and not isinstance(value, dt.datetime):
        raise TypeError(f"not a timestamp: {value!r}")
    return when(value)


def age(delta: dt.timedelta) -> str:
    unit, amount = freshness.humanize_age(delta)
    return tr(f"age.{unit}", n=amount)


def number(value: int) -> str:
    return f"{value:,}"


def page_path(name: str) -> str:
    return PAGES[name]


def query_string(params: Mapping[str, list[str]]) -> str:
    """URL parameters as a query string (without the ``?``)."""
    return urllib.parse.urlencode(params, doseq=True)


def page_url(name: str) -> str:
    """A relative link to page ``name`` (its url_path), in the reader's language.

    Relative, so it also works behind a reverse proxy's path prefix.
    """
    query = query_string({LANG_KEY: [lang()]} if lang() != messages.DEFAULT_LANGUAGE else {})
    path = "./" if name == "home" else name  # Home is the default page: the app's root URL
    return path + (f"?{query}" if query else "")


_COLOURS = (
    ("enabled", "#2e7d32"),
    ("pilot", "#1565c0"),
    ("planned", "#ef6c00"),
    ("disabled", "#757575"),
    ("deprecated", "#c62828"),
    ("unknown", "#6d4c41"),
)
STATUS_COLOURS = dict(_COLOURS)
"""Each status's colour, on every page (chart bars, badges, matrix cells)."""
TABLE_STYLE = (
    "<style>.fmw-grid{max-height:calc(100vh - 9rem);overflow:auto;"
    "border:1px solid rgba(49,51,63,0.15);border-radius:0.5rem}"
    ".fmw-grid table{border-collapse:separate;border-spacing:0;width:100%;font-size:0.875rem}"
    ".fmw-grid th{position:sticky;top:0;background:#f0f2f6;z-index:1;text-align:left;"
    "font-weight:600;white-space:nowrap}"
    ".fmw-grid th,.fmw-grid td{padding:0.3rem 0.6rem;border-bottom:1px solid "
    "rgba(49,51,63,0.1);vertical-align:top}"
    ".fmw-grid td{max-width:22rem;overflow-wrap:anywhere}"
    ".fmw-grid td.code,.fmw-grid td.time,.fmw-grid td.day{white-space:nowrap}"
    ".fmw-grid td.num{text-align:right;font-variant-numeric:tabular-nums}"
    ".fmw-grid th a{color:inherit;text-decoration:none}"
    ".fmw-grid th a:hover{text-decoration:underline}"
    ".fmw-grid tbody tr:hover{background:rgba(28,131,225,0.06)}"
    ".fmw-grid .was{color:#9e9e9e;text-decoration:line-through}"
    ".fmw-grid .now{font-weight:600}"
    ".fmw-status{display:inline-block;padding:0 0.4rem;border-radius:0.25rem;color:#fff;"
    "font-size:0.8rem;white-space:nowrap;background:#9e9e9e}"
    + "".join(f".fmw-status.s-{name}{{background:{colour}}}" for name, colour in _COLOURS)
    + "</style>"
)


def status_badge(status: str | None, label: str) -> str:
    """A status as a coloured badge (HTML; the colours are classes of TABLE_STYLE)."""
    known = f" s-{status}" if status in STATUS_COLOURS else ""
    return f'<span class="fmw-status{known}">{html.escape(label)}</span>'


def link(href: str, text: str, *, css: str = "") -> str:
    """A link that opens in this tab (HTML, both escaped)."""
    cls = f' class="{css}"' if css else ""
    return f'<a href="{html.escape(href)}" target="_self"{cls}>{html.escape(text)}</a>'


def page_href(name: str, params: Mapping[str, list[str]]) -> str:
    """A relative link to page ``name`` with ``params`` and the reader's language."""
    wanted = dict(params)
    if lang() != messages.DEFAULT_LANGUAGE:
        wanted[LANG_KEY] = [lang()]
    query = query_string(wanted)
    path = "./" if name == "home" else name
    return path + (f"?{query}" if query else "")


def record_href(identity: str, back: str | None) -> str:
    """The Record page of ``identity``; ``back`` (a relative link) is where its way back leads.
    A table links every row back to the same view: that part is encoded once."""
    return f"record?{query_string({'id': [identity]})}{_record_tail(back, lang())}"


@functools.lru_cache(maxsize=64)
def _record_tail(back: str | None, language: str) -> str:
    """``&back=…&lang=…`` of a record link, as ``page_href`` would encode them."""
    params = {"back": [back]} if back else {}
    if language != messages.DEFAULT_LANGUAGE:
        params[LANG_KEY] = [language]
    query = query_string(params)
    return f"&{query}" if query else ""


def table_html(
    headers: list[str], rows: list[list[str]], *, css: str, row_ids: list[str] | None = None
) -> str:
    """A table of ready HTML cells (``headers`` and cells are HTML already); each ``<tr>``
    carries ``data-row`` (the record's identity) when ``row_ids`` are given."""
    head = "".join(f"<th>{h}</th>" for h in headers)
    body = "".join(
        (f'<tr data-row="{html.escape(row_ids[i])}">' if row_ids else "<tr>")
        + "".join(row)
        + "</tr>"
        for i, row in enumerate(rows)
    )
    return (
        f'<div class="fmw-grid {css}"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )


def download_buttons(
    rows: Callable[[], pa.Table],
    codes: Callable[[], pa.Table],
    total: int,
    name: str,
    key: str,
    zone_name: str,
) -> None:
    """CSV and XLSX buttons for the ``total`` rows as on screen (``rows()``: already in the
    reader's words, times in ``zone_name``), and a CSV of the stored codes for programs
    (``codes()``); files are built only on a click, named ``fmw-<name>.csv`` / ``.xlsx`` /
    ``-codes.csv``. The buttons sit behind one "download" button: hidden in a closed
    popover they cost the browser less to redraw (three in sight were ~20 ms of every
    Explore search at 200,000 records)."""
    menu = st.popover(
        tr("download.menu", rows=number(total)),
        icon=":material/download:",
        disabled=total == 0,
        key=f"{key}downloads",
    )
    for kind, shown, build, mime, label, help_text, source, suffix in (
        ("csv", total, downloads.csv_bytes, downloads.CSV_MIME,
         "download.csv", tr("download.help", zone=zone_name), rows, ""),
        ("xlsx", min(total, downloads.XLSX_MAX_ROWS), downloads.xlsx_bytes,
         downloads.XLSX_MIME, "download.xlsx", tr("download.help", zone=zone_name), rows, ""),
        ("csv", total, downloads.csv_bytes, downloads.CSV_MIME,
         "download.codes", tr("download.codes.help"), codes, "-codes"),
    ):  # fmt: skip
        menu.download_button(
            tr(label, rows=number(shown)),
            data=lambda build=build, source=source: build(source()),
            file_name=f"fmw-{name}{suffix}.{kind}",
            mime=mime,
            on_click="ignore",
            help=help_text,
            key=f"{key}{kind}{suffix}",
            icon="⬇️" if not suffix else None,
            disabled=total == 0,
        )
    if total > downloads.XLSX_MAX_ROWS:
        menu.caption(tr("download.xlsx_cut", rows=number(downloads.XLSX_MAX_ROWS)))


# --------------------------------------------------------------------------- past days


@dataclass(frozen=True)
class Timed:
    """What a view with a day in it shows: the records at ``as_of`` (or now), and, when
    comparing, the records at ``compare`` and the rows that differ."""

    snapshot: Snapshot
    before: Snapshot | None = None
    differs: Any = None


def timed(snapshot: Snapshot, as_of_day: dt.date | None, compare: dt.date | None) -> Timed:
    """The snapshot views a query's ``as_of`` / ``compare`` days ask for (shared, cached)."""
    now = snapshot if as_of_day is None else _at(snapshot, as_of_day)
    if compare is None:
        return Timed(now)
    before = _at(snapshot, compare)
    return Timed(now, before, as_of.differing(before, now))


def _at(snapshot: Snapshot, day: dt.date) -> Snapshot:
    """The records at the end of ``day``; while a day not built yet is rebuilt from the
    history (seconds on a large snapshot), a spinner says which day (its timer would read
    "seconds" in English on a Korean page)."""
    if as_of.is_built(snapshot, day, zone()):
        return as_of.snapshot_at(snapshot, day, zone())
    with st.spinner(tr("as_of.building", day=day.isoformat()), show_time=False):
        return as_of.snapshot_at(snapshot, day, zone())


def search_inputs(text: Any, listed: Any, reader: display.Reader, key: str) -> None:
    """The search box and the listed-records switch in the columns ``text`` and ``listed``,
    as Explore and the matrix show them (widget keys ``{key}q`` and ``{key}listed``)."""
    text.text_input(
        tr("explore.search"),
        key=f"{key}q",
        placeholder=tr("home.search.placeholder"),
        max_chars=search.MAX_QUERY_LENGTH,
        help=tr("explore.search.help"),
    )
    listed.segmented_control(
        tr("explore.listed"),
        options=list(search.LISTED),
        format_func=lambda value: messages.t(f"listed.{value}", reader.lang),
        key=f"{key}listed",
        required=True,
    )

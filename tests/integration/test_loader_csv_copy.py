"""The COPY landing path for UTF-8 CSV lands exactly what the Python reader lands, or steps aside.

Every file is landed both ways on a real server and the raw.row rows compared:
the fast path (``land_csv_body``) must either match the reader row for row or
give up (None) leaving nothing behind, and the loader's landing
(fast path, else the reader) must match the reader or fail with its error.
"""

from __future__ import annotations

import codecs
import csv
import itertools
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from fmw.errors import SourceFileError
from fmw.loader.csv_copy import _ReadDifferentlyError, _SameReading, land_csv_body
from fmw.loader.landing import SourceSpec, _copy_rows, _land_rows, load_file
from fmw.loader.limits import MAX_CELL_CHARS
from fmw.loader.source_file import open_source

Rows = list[tuple[int, list[str | None]]]
FAST, READER, LOADER = 1, 2, 3  # batch ids of the three landings of one file


def landed(conn: psycopg.Connection, batch_id: int) -> Rows:
    return [
        (row, list(cells))
        for row, cells in conn.execute(
            "SELECT source_row, cells FROM raw.row WHERE batch_id = %s ORDER BY source_row",
            [batch_id],
        )
    ]


def land_fast(conn: psycopg.Connection, path: Path) -> int | None:
    with open_source(path) as table:
        assert table.body is not None, "a UTF-8 CSV file offers its body"
        return land_csv_body(conn, FAST, len(table.header), table.body)


def land_with(
    conn: psycopg.Connection, path: Path, batch_id: int, landing: Callable[..., int]
) -> str | None:
    """Land ``path`` in a savepoint; the error if it fails (text cannot hold NUL: a DataError)."""
    try:
        with open_source(path) as table, conn.transaction():
            landing(conn, batch_id, table, None, None)
    except (SourceFileError, psycopg.DataError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def compare(conn: psycopg.Connection, path: Path) -> int | None:
    """Land ``path`` three ways and check they agree; the fast path's row count or None."""
    fast = land_fast(conn, path)
    reader_error = land_with(conn, path, READER, _copy_rows)
    loader_error = land_with(conn, path, LOADER, _land_rows)
    expected = landed(conn, READER)
    assert loader_error == reader_error
    assert landed(conn, LOADER) == expected
    if fast is None:
        assert landed(conn, FAST) == [], "a fast path that gave up leaves no rows"
    else:
        assert reader_error is None, f"the fast path landed a file the reader refuses: {path}"
        assert (fast, landed(conn, FAST)) == (len(expected), expected)
    return fast


# --- random CSV -----------------------------------------------------------------------

CELL_TEXT = st.text(alphabet='ab 가한,\t";\n\r\\.', max_size=6)


@st.composite
def csv_files(draw: st.DrawFn) -> bytes:
    delimiter = draw(st.sampled_from([",", "\t"]))
    ends = draw(st.sampled_from([["\n"], ["\r\n"], ["\n", "\r\n"], ["\r\n", "\r"]]))
    width = draw(st.integers(1, 4))
    header = draw(
        st.lists(st.text("hk가_", min_size=1, max_size=3), min_size=width, max_size=width)
    )
    header += [""] * draw(st.integers(0, 1))
    lines = [header]
    for _ in range(draw(st.integers(0, 8))):
        size = draw(st.sampled_from([len(header)] * 6 + [0, len(header) - 1, len(header) + 1]))
        lines.append(draw(st.lists(CELL_TEXT, min_size=size, max_size=size)))

    def cell(text: str) -> str:
        quoting = draw(st.sampled_from(["minimal", "minimal", "always", "never"]))
        special = any(ch in text for ch in (delimiter, '"', "\n", "\r")) or text == ""
        if quoting == "always" or (quoting == "minimal" and special and text):
            return '"' + text.replace('"', '""') + '"'
        return text

    text = "".join(
        delimiter.join(cell(value) for value in line) + draw(st.sampled_from(ends))
        for line in lines
    )
    if draw(st.booleans()):
        text = text.rstrip("\r\n")
    data = text.encode()
    if draw(st.integers(0, 9)) == 0:
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.sampled_from([b"\xff", b"\x00", b"\xed\xa0\x80"])) + data[at:]
    return (codecs.BOM_UTF8 if draw(st.booleans()) else b"") + data


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=csv_files())
def test_random_csv_lands_the_same_rows_either_way(
    conn: psycopg.Connection, tmp_path: Path, data: bytes
) -> None:
    path = tmp_path / "random.csv"
    path.write_bytes(data)
    try:
        with open_source(path) as table:
            utf8 = table.body is not None
    except SourceFileError:
        return  # no usable header: nothing is landed either way
    if not utf8:
        return  # a bad byte in the first MiB makes it CP949: never the fast path
    with conn.transaction(force_rollback=True):
        event("fast path" if compare(conn, path) is not None else "left to the reader")


# --- files the fast path takes --------------------------------------------------------


def write(tmp_path: Path, data: bytes, name: str = "f.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.pg15
@pytest.mark.parametrize(
    "data",
    [
        pytest.param(
            codecs.BOM_UTF8
            + 'a,b,,\r\n1,"x, ""y""\r\nz",,\r\n"",,,\r\n,,,\r\n가,"",,\r\n'.encode(),
            id="bom-crlf-quotes-trailing-empty-header-cells",
        ),
        pytest.param(b'\n\nh1\th2\n1\t"2\t3"\n4\t\n', id="tabs-blank-lines-before-header"),
        pytest.param(b'h\n1\n\n""\n\n2', id="one-column-blank-lines-no-final-newline"),
        pytest.param(b"a,b\n", id="header-only"),
        pytest.param(b'a,b\r\n"1\n2","3\r4"\r\n', id="cr-and-lf-inside-quotes"),
    ],
)
def test_plain_utf8_files_take_the_fast_path(
    sql_conn: psycopg.Connection, tmp_path: Path, data: bytes
) -> None:
    with sql_conn.transaction(force_rollback=True):
        assert compare(sql_conn, write(tmp_path, data)) is not None


def test_the_fast_path_numbers_rows_as_a_person_sees_them(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    path = write(tmp_path, b'\na,b,\n1,"x\ny",\n,,\n2,,\n')
    with conn.transaction(force_rollback=True):
        assert compare(conn, path) == 2
        assert landed(conn, FAST) == [(3, ["1", "x\ny"]), (5, ["2", None])]


def test_quoted_cells_across_chunk_boundaries(conn: psycopg.Connection, tmp_path: Path) -> None:
    line = '"가나다, ""라""\r\n마",1,,"' + "x" * 300 + '"\r\n'
    path = write(tmp_path, ("k,v,w,z\r\n" + line * 8000).encode())
    assert path.stat().st_size > 2 << 20  # three chunks
    with conn.transaction(force_rollback=True):
        assert compare(conn, path) == 8000


# --- files the fast path leaves to the reader -----------------------------------------


@pytest.mark.pg15
@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"a,b\n1,2\n\n3,4\n", id="blank-line"),
        pytest.param(b'a,b\n1,x"y"z\n', id="quote-inside-unquoted-cell"),
        pytest.param(b'a\n1"2"3\n', id="quotes-one-column"),
        pytest.param(b'a,b\n"1"2,3\n', id="text-after-closing-quote"),
        pytest.param(b"a,b\n1,2\r3,4\r", id="lone-cr-line-ends"),
        pytest.param(b"a,b\r\n1,2\r\n3,4\n", id="mixed-line-ends"),
        pytest.param(b"a\n1\n\\.\n2\n", id="backslash-dot-line"),
        pytest.param(b"a,b\n1,2,\n", id="trailing-empty-cell-past-header"),
        pytest.param(b"a,b\n1,2,3\n", id="filled-cell-past-header"),
        pytest.param(b"a,b,,\n1,2,,9\n", id="filled-cell-past-header-padding"),
        pytest.param(b"a,b\n1\n", id="short-row"),
        pytest.param(b'a,b\n1,"2\n', id="unterminated-quote"),
        pytest.param(b"a,b\n1,\x00\n", id="nul-byte"),
        pytest.param(b"a,b\n1,2\n" * 60000 + b"3,\xff\n", id="bad-utf8-after-first-mib"),
    ],
)
def test_files_the_fast_path_cannot_vouch_for_land_as_before(
    sql_conn: psycopg.Connection, tmp_path: Path, data: bytes
) -> None:
    with sql_conn.transaction(force_rollback=True):
        assert compare(sql_conn, write(tmp_path, data)) is None


@pytest.mark.parametrize("length", [MAX_CELL_CHARS + 1, csv.field_size_limit() + 1])
def test_a_cell_longer_than_a_cell_may_be_is_the_readers_error(
    conn: psycopg.Connection, tmp_path: Path, length: int
) -> None:
    path = write(tmp_path, f"a,b\n1,{'x' * length}\n".encode())
    with conn.transaction(force_rollback=True):
        assert compare(conn, path) is None
        error = land_with(conn, path, READER, _copy_rows) or ""
        assert f"{path}, row 2, column b: the cell has " in error
        assert "characters; a cell may hold at most 32,767 (Excel's own limit)" in error


def test_a_cell_at_the_limit_lands_through_the_fast_path(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    widest = "😀" * MAX_CELL_CHARS  # 4 bytes each in UTF-8: the limit counts characters
    path = write(tmp_path, f"a,b\n1,{widest}\n".encode())
    with conn.transaction(force_rollback=True):
        assert compare(conn, path) == 1


def test_the_loader_role_may_stage_rows(conn: psycopg.Connection, tmp_path: Path) -> None:
    path = write(tmp_path, b"a,b\n1,2\n")
    with conn.transaction(force_rollback=True):
        # Registering takes the batch's landing lock for this session: its rows may land.
        found = conn.execute(
            "SELECT batch_id FROM ops.register_batch('team_a', 10, 'f.csv', %s, 'utf-8', "
            "'{Feature Code,Policy Code,Status}')",
            ["f" * 64],
        ).fetchone()
        assert found is not None
        conn.execute("SET LOCAL ROLE fmw_loader")
        with open_source(path) as table:
            assert table.body is not None
            assert land_csv_body(conn, found[0], len(table.header), table.body) == 1
        conn.execute("RESET ROLE")  # fmw_loader may insert into raw.row, not read it
        assert landed(conn, found[0]) == [(2, ["1", "2"])]


# --- through load_file ----------------------------------------------------------------

HEADER = "Feature Code,Policy Code,market,platform,Status,owner\r\n"
SPEC = SourceSpec("team_a", priority=10)


def test_load_file_reports_progress_once_with_the_final_count(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    rows = "".join(f'PAY-{i},P1,KR,iOS,on,"kim, {i}"\r\n' for i in range(25_000))
    path = write(tmp_path, codecs.BOM_UTF8 + (HEADER + rows).encode(), "a.csv")
    calls: list[int] = []
    result = load_file(conn, SPEC, path, progress=calls.append)
    assert calls == [25_000]
    assert (result.status, result.rows, result.inserted, result.encoding) == (
        "processed",
        25_000,
        25_000,
        "utf-8-sig",
    )
    owner = conn.execute(
        "SELECT cells[6] FROM raw.row WHERE batch_id = %s AND source_row = 2", [result.batch_id]
    ).fetchone()
    assert owner == ("kim, 0",)


def test_a_file_failing_past_the_first_mib_leaves_a_failed_batch_and_no_rows(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    rows = "".join(f"PAY-{i},P1,KR,iOS,on,kim\n" for i in range(40_000))
    path = write(tmp_path, (HEADER + rows + "PAY-X,P1,KR,iOS,on,kim,extra\n").encode(), "b.csv")
    assert path.stat().st_size > 1 << 20
    with pytest.raises(SourceFileError, match=r"b\.csv, row 40002: 7 cells, the header has 6"):
        load_file(conn, SPEC, path)
    assert conn.execute("SELECT count(*) FROM raw.row").fetchone() == (0,)
    batches = conn.execute("SELECT status, message FROM ops.batch").fetchall()
    assert len(batches) == 1 and batches[0][0] == "failed" and "row 40002" in batches[0][1]


def verdict(delimiter: str, pieces: list[bytes]) -> bool:
    guard = _SameReading(delimiter)
    try:
        for piece in pieces:
            guard.feed(piece)
        guard.finish()
    except _ReadDifferentlyError:
        return False
    return True


@settings(max_examples=300, deadline=None)
@given(data=csv_files(), cuts=st.lists(st.integers(0, 400), max_size=6))
def test_the_byte_check_does_not_depend_on_where_chunks_end(data: bytes, cuts: list[int]) -> None:
    data = data.removeprefix(codecs.BOM_UTF8)
    delimiter = "\t" if data.count(b"\t") > data.count(b",") else ","
    bounds = sorted({0, len(data), *(cut for cut in cuts if cut < len(data))})
    pieces = [data[start:end] for start, end in itertools.pairwise(bounds) if end > start]
    assert verdict(delimiter, pieces) == verdict(delimiter, [data] if data else [])

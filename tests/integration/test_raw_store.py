"""Issue 14: nothing a source sent is lost, and a day that repeats yesterday writes only its news.

Each landed file is kept verbatim (compressed, by its SHA-256) and written back byte for
byte; each distinct raw row is stored once (raw.cells), each batch keeps its list of rows
(raw.batch_rows), and raw.row shows every batch's rows as the file had them.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import psycopg
import pytest

from fmw.errors import KeptFileError
from fmw.loader import original_file
from fmw.loader.landing import SourceSpec, load_file
from tests.support.xlsx import inline, row, write_workbook

HEADER = "feature_code,policy_code,status,owner,note\n"
ROWS = [f"F-{n},P1,on,kim,row {n}\n" for n in range(1, 41)]


def land(conn: psycopg.Connection, path: Path, **spec: object) -> int:
    result = load_file(conn, SourceSpec("team", **spec), path, force=True)  # type: ignore[arg-type]
    assert result.status == "processed", result.message
    assert result.batch_id is not None
    return result.batch_id


def raw_rows(conn: psycopg.Connection, batch_id: int) -> list[tuple[int, list[str | None]]]:
    return conn.execute(
        "SELECT source_row, cells FROM raw.row WHERE batch_id = %s ORDER BY source_row",
        [batch_id],
    ).fetchall()


def count(conn: psycopg.Connection, table: str) -> int:
    found = conn.execute(f"SELECT count(*) FROM {table}").fetchone()  # type: ignore[arg-type]
    assert found is not None
    return int(found[0])


def workbook(path: Path) -> Path:
    cells = [("feature_code", "status", "owner"), ("X-1", "on", "김민준"), ("X-2", "off", "lee")]
    return write_workbook(
        path,
        (
            row(n, *(inline(f"{col}{n}", text) for col, text in zip("ABC", texts, strict=True)))
            for n, texts in enumerate(cells, start=1)
        ),
    )


FILES = {
    # CP949 with CRLF line ends: the rows land as text, the file stays as it was sent.
    "cp949-crlf.csv": (HEADER.replace("\n", "\r\n") + 'F-1,P1,적용,김민준,"쉼표, 포함"\r\n').encode(
        "cp949"
    ),
    # UTF-8 with a byte-order mark, a quoted cell over two lines and no final line end.
    "bom-multiline.csv": ("\ufeff" + HEADER + 'F-2,P1,on,lee,"two\nlines"').encode("utf-8"),
}


@pytest.mark.parametrize("name", sorted(FILES))
def test_a_landed_csv_is_kept_and_written_back_byte_for_byte(
    conn: psycopg.Connection, tmp_path: Path, name: str
):
    path = tmp_path / name
    path.write_bytes(FILES[name])
    batch_id = land(conn, path)

    file_name, sha = original_file.batch_file(conn, batch_id)
    out = tmp_path / "out" / name
    out.parent.mkdir()
    assert original_file.restore(conn, sha, out) == len(FILES[name])
    assert (file_name, out.read_bytes()) == (name, FILES[name])


def test_a_landed_workbook_is_kept_byte_for_byte(conn: psycopg.Connection, tmp_path: Path):
    path = workbook(tmp_path / "team.xlsx")
    batch_id = land(conn, path)

    assert raw_rows(conn, batch_id) == [(2, ["X-1", "on", "김민준"]), (3, ["X-2", "off", "lee"])]
    _, sha = original_file.batch_file(conn, batch_id)
    out = tmp_path / "back.xlsx"
    original_file.restore(conn, sha, out)
    assert out.read_bytes() == path.read_bytes()


@pytest.mark.parametrize("name", ["bom-multiline.csv", "cp949-crlf.csv", "team.xlsx"])
def test_the_file_is_compressed_once_its_rows_are_sent_before_sql_lands_them(
    conn: psycopg.Connection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
):
    """During the COPY the client, the server and a compression would share two cores; while
    raw.land_rows works the client is idle. UTF-8 goes through PostgreSQL's CSV parser, CP949
    and workbooks through the reader: both start the compression at that moment, once."""
    path = tmp_path / name
    if name in FILES:
        path.write_bytes(FILES[name])
    else:
        workbook(path)
    seen: list[tuple[int, int]] = []  # (rows sent, batches landed) when it started
    compressed: list[Path] = []
    start, compress = original_file.Keeping.start, original_file.compress

    def noting_start(keeping: original_file.Keeping) -> None:
        if not seen:  # the first call starts it; result() calls it again
            sent = conn.execute("SELECT count(*) FROM pg_temp.fmw_rows").fetchone()
            assert sent is not None
            seen.append((int(sent[0]), count(conn, "raw.batch_rows")))
        start(keeping)

    def counting_compress(file: Path) -> original_file.Compressed:
        compressed.append(file)
        return compress(file)

    monkeypatch.setattr(original_file.Keeping, "start", noting_start)
    monkeypatch.setattr(original_file, "compress", counting_compress)
    batch_id = land(conn, path)

    assert seen == [(2 if name == "team.xlsx" else 1, 0)]  # every row sent, none landed yet
    assert compressed == [path]
    assert original_file.batch_file(conn, batch_id)[0] == name


def test_a_day_that_repeats_yesterday_stores_only_its_new_rows(
    conn: psycopg.Connection, tmp_path: Path
):
    day1 = tmp_path / "day1.csv"
    day1.write_text(HEADER + "".join(ROWS), encoding="utf-8")
    first = land(conn, day1)
    stored = count(conn, "raw.cells")
    assert stored == 40

    # Day 2: row 5 edited, row 9 gone, one row added at the end; the rest as yesterday.
    rows = [r for n, r in enumerate(ROWS, start=1) if n != 9]
    rows[4] = "F-5,P1,off,kim,row 5\n"
    rows.append("F-99,P1,on,park,new\n")
    day2 = tmp_path / "day2.csv"
    day2.write_text(HEADER + "".join(rows), encoding="utf-8")
    second = land(conn, day2)

    assert count(conn, "raw.cells") == stored + 2, "only the edited and the added row are new"
    expected = [
        (number, list(cells))
        for number, cells in enumerate(csv.reader(io.StringIO("".join(rows))), start=2)
    ]
    assert raw_rows(conn, second) == expected, "raw.row shows day 2 as its file had it"
    assert len(raw_rows(conn, first)) == 40, "day 1's rows are kept as they were"
    assert count(conn, "raw.file") == 2
    assert conn.execute("SELECT * FROM core.integrity_problems()").fetchall() == []
    # The records read the unchanged rows by their print: same values, nothing normalized.
    changed = conn.execute(
        "SELECT inserted, updated, unchanged, deactivated FROM ops.batch WHERE batch_id = %s",
        [second],
    ).fetchone()
    assert changed == (1, 1, 38, 1)


def test_the_same_file_loaded_again_is_kept_once(conn: psycopg.Connection, tmp_path: Path):
    path = tmp_path / "team.csv"
    path.write_text(HEADER + "".join(ROWS[:3]), encoding="utf-8")
    land(conn, path)
    land(conn, path)

    assert (count(conn, "raw.file"), count(conn, "raw.batch_rows")) == (1, 2)
    assert count(conn, "raw.cells") == 3


def test_a_damaged_kept_file_is_refused_and_nothing_is_written(
    conn: psycopg.Connection, tmp_path: Path
):
    path = tmp_path / "team.csv"
    path.write_text(HEADER + "".join(ROWS), encoding="utf-8")
    _, sha = original_file.batch_file(conn, land(conn, path))
    conn.execute(
        "UPDATE raw.file_part SET data = overlay(data PLACING '\\x00'::bytea FROM 20) "
        "WHERE file_sha256 = %s",
        [sha],
    )
    out = tmp_path / "back.csv"

    with pytest.raises(KeptFileError, match=f"the kept file {sha}"):
        original_file.restore(conn, sha, out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["team.csv"], "no output, no temp file"


def test_a_kept_file_written_where_no_folder_is_says_so(conn: psycopg.Connection, tmp_path: Path):
    path = tmp_path / "team.csv"
    path.write_text(HEADER + "".join(ROWS[:2]), encoding="utf-8")
    _, sha = original_file.batch_file(conn, land(conn, path))
    out = tmp_path / "no such folder" / "team.csv"

    with pytest.raises(KeptFileError, match=f"cannot write {out}: No such file or directory"):
        original_file.restore(conn, sha, out)


def test_a_batch_without_a_kept_file_says_why(conn: psycopg.Connection, tmp_path: Path):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(Exception, match="file is empty"):
        load_file(conn, SourceSpec("team"), empty)
    failed = conn.execute("SELECT max(batch_id) FROM ops.batch").fetchone()
    assert failed is not None

    with pytest.raises(KeptFileError, match=f"of batch {failed[0]} is not kept: nothing of it"):
        original_file.batch_file(conn, failed[0])
    with pytest.raises(KeptFileError, match="batch 999 does not exist"):
        original_file.batch_file(conn, 999)

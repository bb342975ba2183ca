"""The limits every source file is read within (fmw.loader.limits), for CSV and XLSX alike.

Each limit is hit by a file shaped like the hostile ones of issue 15 (smaller where
the limit is patched down for speed): the error names the file, row and column
(and the cell, for XLSX), and a file at the limit still reads.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fmw.errors import SourceFileError
from fmw.loader import xlsx
from fmw.loader.limits import MAX_CELL_CHARS, MAX_COLUMNS
from fmw.loader.source_file import open_source
from tests.support.xlsx import empty, formula, inline, merge_cells, row, write_workbook

HEADER = row(1, inline("A1", "feature_code"), inline("B1", "status"), inline("C1", "note"))


def read(path: Path) -> tuple[list[str], list[tuple[int, list[str | None]]]]:
    with open_source(path) as table:
        return table.header, list(table.rows)


def refused(path: Path) -> SourceFileError:
    with pytest.raises(SourceFileError) as caught:
        read(path)
    return caught.value


# --- cell size ---------------------------------------------------------------------------


def test_a_cell_at_excels_limit_reads_in_both_formats(tmp_path: Path):
    widest = "가" * MAX_CELL_CHARS
    csv_file = tmp_path / "a.csv"
    csv_file.write_text(f"feature_code,note\nF-1,{widest}\n", encoding="utf-8")
    book = write_workbook(
        tmp_path / "a.xlsx", [HEADER, row(2, inline("A2", "F-1"), inline("C2", widest))]
    )
    assert read(csv_file)[1] == [(2, ["F-1", widest])]
    assert read(book)[1] == [(2, ["F-1", None, widest])]


@pytest.mark.parametrize("length", [MAX_CELL_CHARS + 1, 200_000])
def test_a_longer_csv_cell_is_refused_naming_row_and_column(tmp_path: Path, length: int):
    path = tmp_path / "a.csv"
    path.write_text(f"feature_code,note\nF-1,ok\nF-2,{'x' * length}\n", encoding="utf-8")
    error = refused(path)
    assert (error.row, error.column) == (3, "note")
    assert "a cell may hold at most 32,767 (Excel's own limit)" in str(error)


def test_a_longer_xlsx_cell_is_refused_naming_the_cell(tmp_path: Path):
    path = write_workbook(
        tmp_path / "a.xlsx",
        [HEADER, row(2, inline("A2", "F-1"), inline("C2", "x" * (MAX_CELL_CHARS + 1)))],
    )
    error = refused(path)
    assert str(error) == (
        f"{path}, row 2, column note: cell C2 has 32,768 characters; a cell may hold at most "
        "32,767 (Excel's own limit)"
    )


def test_the_issues_200_mib_inline_string_is_refused_before_it_is_built(tmp_path: Path):
    """Issue 15: a 200 KB workbook held a 200 MiB inline string; 829 MB RSS, then poison."""
    text = "x" * (200 << 20)
    path = write_workbook(
        tmp_path / "a.xlsx", [HEADER, row(7, inline("A7", "F-1"), inline("C7", text))]
    )
    del text
    assert path.stat().st_size < 400_000
    started = time.monotonic()
    error = refused(path)
    assert time.monotonic() - started < 5, "refused while unpacking, never parsed"
    assert (error.row, error.column) == (7, "C")
    assert "cell C7 has more than 32,767 characters" in str(error)


# --- columns --------------------------------------------------------------------------------


def test_a_csv_header_wider_than_a_source_may_be_is_refused(tmp_path: Path):
    names = ",".join(f"c{n}" for n in range(MAX_COLUMNS + 1))
    path = tmp_path / "a.csv"
    path.write_text(f"{names}\n", encoding="utf-8")
    error = refused(path)
    assert (error.row, error.column) == (1, MAX_COLUMNS + 1)
    assert "the header has 1,025 columns" in str(error) and "at most 1,024" in str(error)


def test_an_xlsx_header_value_at_column_xfd_is_refused_by_its_cell(tmp_path: Path):
    path = write_workbook(
        tmp_path / "a.xlsx", [row(1, inline("A1", "feature_code"), inline("XFD1", "x"))]
    )
    error = refused(path)
    assert (error.row, error.column) == (1, MAX_COLUMNS + 1)
    assert "the header has 16,384 columns (cell XFD1 has a value)" in str(error)


def test_an_xlsx_value_past_the_header_is_a_ragged_row_even_far_out(tmp_path: Path):
    path = write_workbook(
        tmp_path / "a.xlsx", [HEADER, row(2, inline("A2", "F-1"), inline("XFD2", "x"))]
    )
    assert str(refused(path)) == f"{path}, row 2: 16384 cells, the header has 3"


# --- rows -----------------------------------------------------------------------------------


def test_rows_past_the_last_one_are_refused_in_both_formats(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr("fmw.loader.limits.MAX_ROW", 5)
    csv_file = tmp_path / "a.csv"
    csv_file.write_text("feature_code\n" + "".join(f"F-{n}\n" for n in range(5)), encoding="utf-8")
    book = write_workbook(tmp_path / "a.xlsx", [HEADER, row(6, inline("A6", "F-6"))])
    for path in (csv_file, book):
        error = refused(path)
        assert error.row == 6 and "more than 5 rows (Excel's last row)" in str(error)


def test_an_xlsx_row_number_past_excels_last_row_is_refused(tmp_path: Path):
    path = write_workbook(tmp_path / "a.xlsx", [HEADER, row(9_999_999, inline("A9999999", "F-1"))])
    assert refused(path).row == 9_999_999


def test_xlsx_rows_out_of_order_are_refused_never_dropped(tmp_path: Path):
    rows = [HEADER, row(3, inline("A3", "F-3")), row(2, inline("A2", "F-2"))]
    error = refused(write_workbook(tmp_path / "a.xlsx", rows))
    assert error.row == 2 and "row 2 comes after row 3" in str(error)


# --- unpacked size --------------------------------------------------------------------------


def test_a_zip_bomb_is_refused_by_its_declared_size_before_anything_is_unpacked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(xlsx, "MAX_UNPACKED_BYTES", 8 << 20)
    same = b'<row><c t="inlineStr"><is><t>' + b"z" * 200 + b"</t></is></c></row>"
    path = write_workbook(tmp_path / "bomb.xlsx", [HEADER, *[same] * 100_000], level=9)
    assert path.stat().st_size < 100_000  # 24 MB of XML
    started = time.monotonic()
    error = refused(path)
    assert time.monotonic() - started < 1
    assert "the workbook unpacks to 24," in str(error) and "at most 8,388,608 bytes" in str(error)


def test_unpacking_is_counted_too_and_stops_at_the_limit(monkeypatch: pytest.MonkeyPatch):
    """Python's zipfile stops at a part's declared size; the count holds even if one does not."""
    import io

    monkeypatch.setattr(xlsx, "MAX_UNPACKED_BYTES", 3 << 20)
    part = xlsx._Unpacked(Path("a.xlsx"), io.BytesIO(b"<" * (5 << 20)))
    read_so_far = 0
    with pytest.raises(SourceFileError, match="unpacks to more than 3,145,728 bytes"):
        while chunk := part.read(1 << 20):
            read_so_far += len(chunk)
    assert read_so_far == 3 << 20


# --- CPU: the cells of a row cost what the file holds, not its last column -----------------


def _rows(count: int, *, far_cell: bool) -> Iterator[bytes]:
    yield HEADER
    for n in range(2, count + 2):
        extra = (empty(f"XFD{n}"),) if far_cell else ()
        yield row(n, inline(f"A{n}", f"F-{n}"), inline(f"B{n}", "on"), *extra)


def test_an_empty_cell_at_xfd_costs_one_cell_not_16384(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Issue 15: a row with one empty cell at XFD made the reader build 16,384 cells."""
    count = 3_000
    plain = write_workbook(tmp_path / "plain.xlsx", _rows(count, far_cell=False))
    far = write_workbook(tmp_path / "far.xlsx", _rows(count, far_cell=True), dimension="A1:XFD3001")
    built: list[object] = []
    real_cell_text = xlsx._cell_text

    def counting(value: object) -> str | None:
        built.append(value)
        return real_cell_text(value)

    monkeypatch.setattr(xlsx, "_cell_text", counting)
    timings = {}
    for path in (plain, far):
        built.clear()
        started = time.perf_counter()
        _, rows = read(path)
        timings[path.stem] = time.perf_counter() - started
        assert len(rows) == count and rows[-1] == (count + 1, [f"F-{count + 1}", "on", None])
        assert len(built) == 3 + 2 * count, f"{path.name}: one conversion per value in the file"
    assert timings["far"] < 3 * timings["plain"] + 0.5, timings


# --- files that are not files ---------------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_a_named_pipe_is_refused_at_once(tmp_path: Path):
    pipe = tmp_path / "a.csv"
    os.mkfifo(pipe)
    result: list[BaseException] = []
    reader = threading.Thread(target=lambda: result.append(refused(pipe)), daemon=True)
    reader.start()
    reader.join(timeout=5)
    assert not reader.is_alive(), "opening a named pipe blocked"
    assert str(result[0]) == f"{pipe}: is a named pipe (FIFO), not a file"


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero here")
def test_a_device_is_refused_at_once():
    assert str(refused(Path("/dev/zero"))) == "/dev/zero: is a character device, not a file"


# --- what a person sees in Excel, said as notes ---------------------------------------------


def notes(
    path: Path,
) -> tuple[list[tuple[int, list[str | None]]], list[tuple[int, int, str, str | None]]]:
    with open_source(path) as table:
        rows = list(table.rows)
        return rows, [(n.row, n.column, n.note, n.value) for n in table.notes]


def test_a_status_merged_over_three_rows_is_taken_with_a_note_per_filled_cell(tmp_path: Path):
    path = write_workbook(
        tmp_path / "a.xlsx",
        [
            HEADER,
            row(2, inline("A2", "F-2"), inline("B2", "on")),
            row(3, inline("A3", "F-3"), empty("B3")),
            row(4, inline("A4", "F-4")),
            row(5, inline("A5", "F-5"), inline("B5", "off")),
        ],
        tail=merge_cells("B2:B4"),
    )
    rows, said = notes(path)
    assert rows == [
        (2, ["F-2", "on", None]),
        (3, ["F-3", "on", None]),
        (4, ["F-4", "on", None]),
        (5, ["F-5", "off", None]),
    ]
    assert said == [
        (3, 2, "B3: merged cell B2:B4; value taken from B2", "on"),
        (4, 2, "B4: merged cell B2:B4; value taken from B2", "on"),
    ]


def test_a_merge_never_fills_blank_rows_nor_other_columns(tmp_path: Path):
    path = write_workbook(
        tmp_path / "a.xlsx",
        [HEADER, row(2, inline("A2", "F-2"), inline("B2", "on")), row(4, inline("A4", "F-4"))],
        tail=merge_cells("B2:C4"),
    )
    rows, said = notes(path)
    assert rows == [(2, ["F-2", "on", None]), (4, ["F-4", "on", None])]
    assert said == [(4, 2, "B4: merged cell B2:C4; value taken from B2", "on")]


def test_a_formula_without_a_saved_value_is_left_empty_with_a_note(tmp_path: Path):
    path = write_workbook(
        tmp_path / "a.xlsx",
        [
            HEADER,
            row(2, inline("A2", "F-2"), formula("B2", 'IF(C2="","on","off")')),
            row(3, inline("A3", "F-3"), formula("B3", 'IF(C3="","on","off")', cached="on")),
            row(4, formula("A4", 'CONCAT("F-",4)')),
        ],
    )
    rows, said = notes(path)
    assert rows == [(2, ["F-2", None, None]), (3, ["F-3", "on", None]), (4, [None, None, None])]
    hint = "formula without a saved value; left empty (open the file in Excel and save it"
    assert [(r, c, note.split(";")[0], value) for r, c, note, value in said] == [
        (2, 2, "B2: formula without a saved value", '=IF(C2="","on","off")'),
        (4, 1, "A4: formula without a saved value", '=CONCAT("F-",4)'),
    ]
    assert all(hint in note for _, _, note, _ in said)


def test_a_merged_or_computed_header_cell_says_why_it_is_empty(tmp_path: Path):
    merged = write_workbook(
        tmp_path / "m.xlsx",
        [row(1, inline("A1", "feature_code"), inline("C1", "status"))],
        tail=merge_cells("A1:B1"),
    )
    error = refused(merged)
    assert (error.row, error.column) == (1, 2)
    assert "it is part of merged cell A1:B1: unmerge the header" in str(error)
    computed = write_workbook(
        tmp_path / "f.xlsx",
        [row(1, inline("A1", "feature_code"), formula("B1", 'UPPER("status")'))],
    )
    error = refused(computed)
    assert (error.row, error.column) == (1, 2)
    assert "it holds a formula without a saved value" in str(error)

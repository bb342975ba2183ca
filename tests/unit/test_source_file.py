"""Unit tests for fmw.loader.source_file: reading CSV and XLSX files into text rows."""

from __future__ import annotations

import datetime as dt
import tracemalloc
from pathlib import Path

import pytest
from openpyxl import Workbook

from fmw.errors import SourceFileError
from fmw.loader.source_file import SourceTable, open_source

KOREAN_CSV = "기능코드,상태,담당자\nF-001,완료,김철수\nF-002,진행중,이영희\n"
KOREAN_ROWS = [(2, ["F-001", "완료", "김철수"]), (3, ["F-002", "진행중", "이영희"])]


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def read(path: Path, **options: object) -> tuple[SourceTable, list[tuple[int, list[str | None]]]]:
    with open_source(path, **options) as table:  # type: ignore[arg-type]  # the options a test names
        return table, list(table.rows)


def write_xlsx(tmp_path: Path, sheets: dict[str, list[list[object]]], name: str = "s.xlsx") -> Path:
    workbook = Workbook()
    workbook.remove(workbook.active)
    for title, rows in sheets.items():
        worksheet = workbook.create_sheet(title)
        for row_index, row in enumerate(rows, start=1):
            for column_index, value in enumerate(row, start=1):
                if value is not None:
                    worksheet.cell(row=row_index, column=column_index, value=value)
    path = tmp_path / name
    workbook.save(path)
    return path


# --- CSV encodings ----------------------------------------------------------------------


def test_utf8_csv_gives_header_rows_and_how_it_was_read(tmp_path: Path) -> None:
    path = write(tmp_path, "a.csv", b"code,status,owner\nF1,done,Kim\nF2,,Lee\n")
    table, rows = read(path)
    assert (table.format, table.encoding, table.delimiter, table.sheet) == (
        "csv",
        "utf-8",
        ",",
        None,
    )
    assert table.path == path
    assert table.header == ["code", "status", "owner"]
    assert rows == [(2, ["F1", "done", "Kim"]), (3, ["F2", None, "Lee"])]


def test_cells_are_kept_exactly_without_trimming(tmp_path: Path) -> None:
    path = write(tmp_path, "a.csv", b" code ,status\n  F1 ,a  b \n")
    table, rows = read(path)
    assert table.header == [" code ", "status"]
    assert rows == [(2, ["  F1 ", "a  b "])]


def test_utf8_with_bom_strips_the_bom_from_the_first_header_cell(tmp_path: Path) -> None:
    path = write(tmp_path, "a.csv", KOREAN_CSV.encode("utf-8-sig"))
    table, rows = read(path)
    assert table.encoding == "utf-8-sig"
    assert table.header == ["기능코드", "상태", "담당자"]
    assert rows == KOREAN_ROWS


def test_explicit_utf8_on_a_file_with_bom_still_drops_the_bom(tmp_path: Path) -> None:
    path = write(tmp_path, "a.csv", KOREAN_CSV.encode("utf-8-sig"))
    table, _ = read(path, encoding="utf-8")
    assert table.encoding == "utf-8-sig"
    assert table.header[0] == "기능코드"


def test_cp949_with_korean_header_is_detected(tmp_path: Path) -> None:
    path = write(tmp_path, "a.csv", KOREAN_CSV.encode("cp949"))
    table, rows = read(path)
    assert table.encoding == "cp949"
    assert table.header == ["기능코드", "상태", "담당자"]
    assert rows == KOREAN_ROWS


@pytest.mark.parametrize("encoding", ["euc-kr", "cp949"])
def test_explicit_encoding_is_used_as_given(tmp_path: Path, encoding: str) -> None:
    path = write(tmp_path, "a.csv", KOREAN_CSV.encode("euc-kr"))
    table, rows = read(path, encoding=encoding)
    assert table.encoding == encoding
    assert rows == KOREAN_ROWS


def test_explicit_utf8_sig_on_a_file_without_bom_keeps_every_byte(tmp_path: Path) -> None:
    table, rows = read(write(tmp_path, "a.csv", b"abc,d\n1,2\n"), encoding="utf-8-sig")
    assert (table.encoding, table.header, rows) == ("utf-8", ["abc", "d"], [(2, ["1", "2"])])


def test_neither_utf8_nor_cp949_is_refused_not_guessed(tmp_path: Path) -> None:
    lines = ["Nr,Name,Stadt,Bemerkung"] + [f"{i},Müller,Köln,Größe {i}" for i in range(300)]
    data = "\n".join(lines).encode("cp1252") + b"\n"
    path = write(tmp_path, "a.csv", data)
    with pytest.raises(SourceFileError) as caught:
        read(path)
    assert caught.value.row is not None and caught.value.column is not None
    assert "set the source's encoding in fmw.toml" in str(caught.value)


def test_an_explicit_encoding_reads_other_code_pages(tmp_path: Path) -> None:
    data = "Nr,Name\n1,Müller\n".encode("cp1252")
    table, rows = read(write(tmp_path, "a.csv", data), encoding="cp1252")
    assert (table.encoding, rows) == ("cp1252", [(2, ["1", "Müller"])])


def test_unknown_explicit_encoding_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "a.csv", b"a\n1\n")
    with pytest.raises(SourceFileError) as caught:
        read(path, encoding="no-such-codec")
    assert str(caught.value) == f"{path}: unknown text encoding 'no-such-codec'"


def test_utf16_text_is_refused_with_the_fix(tmp_path: Path) -> None:
    path = write(tmp_path, "a.txt", "a\tb\r\n1\t2\r\n".encode("utf-16"))
    with pytest.raises(SourceFileError, match="UTF-16") as caught:
        read(path)
    assert caught.value.path == path


def test_utf8_char_cut_at_the_detection_prefix_end_is_still_utf8(tmp_path: Path) -> None:
    header = b"name\n"
    cut = (1 << 20) - 1  # '가' (3 bytes) starts one byte before the prefix ends
    line = b"x" * 999 + b"\n"
    lines, rest = divmod(cut - len(header), len(line))
    filler = line * lines + b"y" * (rest - 1) + b"\n"
    data = header + filler + "가나\n".encode()
    assert data.index("가".encode()) == cut
    table, rows = read(write(tmp_path, "a.csv", data))
    assert table.encoding == "utf-8"
    assert rows[-1] == (lines + 3, ["가나"])


def test_undecodable_bytes_after_the_detection_prefix_name_row_and_column(tmp_path: Path) -> None:
    lines = [b"code,owner\n"] + [b"F%06d,Kim\n" % i for i in range(100_000)]
    data = b"".join(lines) + "F-bad,김\n".encode("cp949")
    assert len(data) > 1 << 20
    path = write(tmp_path, "a.csv", data)
    with pytest.raises(SourceFileError) as caught:
        read(path)
    offset = data.index("김".encode("cp949"))
    assert str(caught.value) == (
        f"{path}, row 100002, column owner: bytes not valid utf-8 (0xb1 at byte offset {offset}); "
        "fix the file, or set the source's encoding in fmw.toml if it is not UTF-8 or CP949"
    )


# --- CSV structure ----------------------------------------------------------------------


@pytest.mark.parametrize("newline", [b"\n", b"\r\n"])
def test_lf_and_crlf_give_the_same_rows(tmp_path: Path, newline: bytes) -> None:
    data = newline.join([b"a,b", b"1,2", b"3,4", b""])
    table, rows = read(write(tmp_path, "a.csv", data))
    assert table.header == ["a", "b"]
    assert rows == [(2, ["1", "2"]), (3, ["3", "4"])]


def test_last_line_without_newline_is_read(tmp_path: Path) -> None:
    _, rows = read(write(tmp_path, "a.csv", b"a,b\n1,2"))
    assert rows == [(2, ["1", "2"])]


def test_tab_delimited_file_is_sniffed(tmp_path: Path) -> None:
    table, rows = read(write(tmp_path, "a.tsv", b"a\tb\tc\n1\t2,5\t3\n"))
    assert table.delimiter == "\t"
    assert rows == [(2, ["1", "2,5", "3"])]


def test_quoted_tabs_in_a_comma_header_do_not_fool_the_sniffer(tmp_path: Path) -> None:
    table, rows = read(write(tmp_path, "a.csv", b'"x\ty\tz",b\n1,2\n'))
    assert table.delimiter == ","
    assert table.header == ["x\ty\tz", "b"]
    assert rows == [(2, ["1", "2"])]


def test_quoted_newline_counts_as_one_row(tmp_path: Path) -> None:
    data = b'id,note\n1,"line one\nline two"\n2,plain\n3,"a\r\nb"\n'
    _, rows = read(write(tmp_path, "a.csv", data))
    assert rows == [(2, ["1", "line one\nline two"]), (3, ["2", "plain"]), (4, ["3", "a\r\nb"])]


def test_blank_rows_are_skipped_but_counted(tmp_path: Path) -> None:
    data = b"a,b\n\n1,2\n,\n\r\n3,4\n"
    _, rows = read(write(tmp_path, "a.csv", data))
    assert rows == [(3, ["1", "2"]), (6, ["3", "4"])]


def test_blank_rows_before_the_header_shift_the_numbering(tmp_path: Path) -> None:
    table, rows = read(write(tmp_path, "a.csv", b"\n,,\na,b\n1,2\n"))
    assert table.header == ["a", "b"]
    assert rows == [(4, ["1", "2"])]


def test_trailing_empty_header_and_row_cells_are_dropped(tmp_path: Path) -> None:
    table, rows = read(write(tmp_path, "a.csv", b"a,b,,\n1,,,\n"))
    assert table.header == ["a", "b"]
    assert rows == [(2, ["1", None])]


def test_duplicate_header_names_are_allowed(tmp_path: Path) -> None:
    table, rows = read(write(tmp_path, "a.csv", b"a,a\n1,2\n"))
    assert table.header == ["a", "a"]
    assert rows == [(2, ["1", "2"])]


def test_header_only_file_has_zero_rows(tmp_path: Path) -> None:
    table, rows = read(write(tmp_path, "a.csv", KOREAN_CSV.splitlines()[0].encode("cp949")))
    assert table.header == ["기능코드", "상태", "담당자"]
    assert rows == []


def test_reading_rows_after_the_with_block_is_an_error(tmp_path: Path) -> None:
    with open_source(write(tmp_path, "a.csv", b"a\n1\n")) as table:
        pass
    with pytest.raises(SourceFileError, match="after the file was closed"):
        next(table.rows)


# --- CSV errors -------------------------------------------------------------------------


def test_bad_bytes_name_the_row_and_the_header_column(tmp_path: Path) -> None:
    good = "기능코드,상태,담당자\nF-1,완료,김\nF-2,완료,이\nF-3,완료,박\n".encode("cp949")
    data = good + "F-4,완료,".encode("cp949") + b"\xff\xff\nF-5,x,y\n"
    path = write(tmp_path, "b.csv", data)
    seen = []
    with pytest.raises(SourceFileError) as caught, open_source(path) as table:
        assert table.encoding == "cp949"
        seen.extend(table.rows)
    offset = data.index(b"\xff")
    assert str(caught.value) == (
        f"{path}, row 5, column 담당자: bytes not valid cp949 (0xff at byte offset {offset}); "
        "fix the file, or set the source's encoding in fmw.toml if it is not UTF-8 or CP949"
    )
    assert (caught.value.row, caught.value.column) == (5, "담당자")
    assert [number for number, _ in seen] == [2, 3, 4]


def test_bad_bytes_inside_a_multiline_quoted_cell(tmp_path: Path) -> None:
    data = b'a,b,c\n1,"x,\ny",z\n2,"p\nq' + b"\xc3\x28" + b'",r\n'
    path = write(tmp_path, "a.csv", data)
    with pytest.raises(SourceFileError) as caught:
        read(path, encoding="utf-8")
    assert (caught.value.row, caught.value.column) == (3, "b")
    offset = data.index(b"\xc3")
    assert f"bytes not valid utf-8 (0xc3 at byte offset {offset})" in str(caught.value)


def test_bad_bytes_in_the_header_name_the_column_number(tmp_path: Path) -> None:
    path = write(tmp_path, "a.csv", b"a,b\xff\n1,2\n")
    with pytest.raises(SourceFileError) as caught:
        read(path, encoding="utf-8")
    assert (caught.value.row, caught.value.column) == (1, 2)


@pytest.mark.parametrize(
    ("line", "reason"),
    [(b"5,6,7,8,9", "5 cells, the header has 4"), (b"5,6,7", "3 cells, the header has 4")],
)
def test_ragged_rows_are_errors(tmp_path: Path, line: bytes, reason: str) -> None:
    data = b"a,b,c,d\n" + b"1,2,3,4\n" * 5 + line + b"\n"
    path = write(tmp_path, "a.csv", data)
    with pytest.raises(SourceFileError) as caught:
        read(path)
    assert str(caught.value) == f"{path}, row 7: {reason}"


@pytest.mark.parametrize(
    ("data", "row"),
    [(b'a,b\n1,"x"y\n', 2), (b'a,b\n1,2\n3,"never closed\n4,5\n', 3)],
)
def test_malformed_quoting_is_an_error_with_the_row(tmp_path: Path, data: bytes, row: int) -> None:
    with pytest.raises(SourceFileError, match="not valid CSV") as caught:
        read(write(tmp_path, "a.csv", data))
    assert caught.value.row == row


def test_empty_header_cell_in_the_middle_names_the_column(tmp_path: Path) -> None:
    path = write(tmp_path, "a.csv", b"a,,c\n1,2,3\n")
    with pytest.raises(SourceFileError) as caught:
        read(path)
    assert str(caught.value).startswith(f"{path}, row 1, column 2: header cell is empty")


@pytest.mark.parametrize("name", ["a.csv", "a.xlsx"])
def test_empty_file_is_an_error(tmp_path: Path, name: str) -> None:
    path = write(tmp_path, name, b"")
    with pytest.raises(SourceFileError) as caught:
        read(path)
    assert str(caught.value) == f"{path}: file is empty"


def test_file_of_blank_lines_has_no_header_row(tmp_path: Path) -> None:
    path = write(tmp_path, "a.csv", b"\n,,\n\r\n")
    with pytest.raises(SourceFileError) as caught:
        read(path)
    assert str(caught.value) == f"{path}: no header row"


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "data" / "nope.csv"
    with pytest.raises(SourceFileError) as caught:
        read(path)
    assert str(caught.value) == f"{path}: no such file"


def test_directory_is_not_a_file(tmp_path: Path) -> None:
    path = tmp_path / "dir.csv"
    path.mkdir()
    with pytest.raises(SourceFileError) as caught:
        read(path)
    assert str(caught.value) == f"{path}: is a directory, not a file"


def test_locked_file_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "a.csv", b"a\n1\n")

    def locked(self: Path, *args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "open", locked)
    with pytest.raises(SourceFileError) as caught:
        read(path)
    assert str(caught.value) == (f"{path}: cannot open: locked by another program or access denied")


def test_sheet_option_on_a_csv_file_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "a.csv", b"a\n1\n")
    with pytest.raises(SourceFileError, match="no sheet 'Data'"):
        read(path, sheet="Data")


def test_workbook_named_csv_is_refused(tmp_path: Path) -> None:
    source = write_xlsx(tmp_path, {"S": [["a"], ["1"]]})
    path = write(tmp_path, "a.csv", source.read_bytes())
    with pytest.raises(SourceFileError, match="is an Excel workbook, not CSV text"):
        read(path)


# --- format detection -------------------------------------------------------------------


def test_auto_format_uses_content_for_unknown_extensions(tmp_path: Path) -> None:
    source = write_xlsx(tmp_path, {"S": [["a"], [1]]})
    as_xlsx = write(tmp_path, "export.dat", source.read_bytes())
    as_csv = write(tmp_path, "export2.dat", b"a\n1\n")
    assert read(as_xlsx)[0].format == "xlsx"
    assert read(as_csv)[0].format == "csv"
    assert read(as_csv)[1] == read(as_xlsx)[1] == [(2, ["1"])]


def test_explicit_format_overrides_the_extension(tmp_path: Path) -> None:
    path = write(tmp_path, "a.xlsx", b"a\n1\n")
    table, rows = read(path, fmt="csv")
    assert (table.format, rows) == ("csv", [(2, ["1"])])


# --- XLSX -------------------------------------------------------------------------------


def test_xlsx_reads_the_first_sheet_by_default(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path, {"첫째": [["기능코드", "상태"], ["F-1", "완료"]], "Other": [["x"]]})
    table, rows = read(path)
    assert (table.format, table.encoding, table.delimiter) == ("xlsx", "xlsx", None)
    assert table.sheet == "첫째"
    assert table.header == ["기능코드", "상태"]
    assert rows == [(2, ["F-1", "완료"])]


def test_xlsx_reads_a_named_sheet(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path, {"First": [["a"], ["1"]], "Second": [["b"], ["2"], ["3"]]})
    table, rows = read(path, sheet="Second")
    assert (table.sheet, table.header) == ("Second", ["b"])
    assert rows == [(2, ["2"]), (3, ["3"])]


def test_xlsx_unknown_sheet_lists_the_sheets(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path, {"First": [["a"]], "둘째": [["b"]]})
    with pytest.raises(SourceFileError) as caught:
        read(path, sheet="Third")
    assert str(caught.value) == f"{path}: no sheet named 'Third'; the sheets are 'First', '둘째'"


def test_xlsx_values_are_formatted_as_text(tmp_path: Path) -> None:
    values: list[object] = [
        dt.date(2024, 3, 5),
        dt.datetime(2024, 3, 5, 0, 0),
        dt.datetime(2024, 3, 5, 14, 30, 15),
        42,
        42.0,
        3.14,
        1234.5678,
        2.5e-07,
        -7.5,
        True,
        False,
        "  kept as is ",
        "",
    ]
    header = [f"c{i}" for i in range(len(values))]
    path = write_xlsx(tmp_path, {"S": [header, values]})
    _, rows = read(path)
    assert rows == [
        (
            2,
            [
                "2024-03-05",
                "2024-03-05",
                "2024-03-05T14:30:15",
                "42",
                "42",
                "3.14",
                "1234.5678",
                "2.5e-07",
                "-7.5",
                "TRUE",
                "FALSE",
                "  kept as is ",
                None,
            ],
        )
    ]


def test_xlsx_numeric_header_cells_become_text(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path, {"S": [["code", 2024, 2025.0], ["F", 1, 2]]})
    table, rows = read(path)
    assert table.header == ["code", "2024", "2025"]
    assert rows == [(2, ["F", "1", "2"])]


def test_xlsx_short_rows_are_padded_and_blank_rows_counted(tmp_path: Path) -> None:
    sheet: list[list[object]] = [
        [None],
        ["a", "b", "c"],
        ["1"],
        [None, None, None],
        [],
        [None, "2"],
    ]
    path = write_xlsx(tmp_path, {"S": sheet})
    table, rows = read(path)
    assert table.header == ["a", "b", "c"]
    assert rows == [(3, ["1", None, None]), (6, [None, "2", None])]


def test_xlsx_header_only_has_zero_rows(tmp_path: Path) -> None:
    table, rows = read(write_xlsx(tmp_path, {"S": [["a", "b"]]}))
    assert (table.header, rows) == (["a", "b"], [])


def test_xlsx_empty_sheet_has_no_header_row(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path, {"S": []})
    with pytest.raises(SourceFileError) as caught:
        read(path)
    assert str(caught.value) == f"{path}: no header row"


def test_xlsx_value_beyond_the_header_is_a_ragged_row(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path, {"S": [["a", "b"], ["1", "2"], ["1", "2", None, "x"]]})
    with pytest.raises(SourceFileError) as caught:
        read(path)
    assert str(caught.value) == f"{path}, row 3: 4 cells, the header has 2"


def test_xlsx_empty_header_cell_in_the_middle_names_the_column(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path, {"S": [["a", None, "c"], ["1", "2", "3"]]})
    with pytest.raises(SourceFileError) as caught:
        read(path)
    assert (caught.value.row, caught.value.column) == (1, 2)


def test_invalid_workbook_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "a.xlsx", b"this is not a zip file")
    with pytest.raises(SourceFileError, match=r"not a valid \.xlsx workbook") as caught:
        read(path)
    assert caught.value.path == path


def test_old_xls_or_encrypted_workbook_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "a.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 512)
    with pytest.raises(SourceFileError, match=r"old-format \.xls or a password-protected"):
        read(path)


# --- memory -----------------------------------------------------------------------------


@pytest.mark.slow
def test_streaming_200k_rows_keeps_memory_flat(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    row_count = 200_000
    with path.open("wb") as file:
        file.write("기능코드,상태,담당자,비고\n".encode())
        for start in range(0, row_count, 10_000):
            chunk = "".join(
                f"F-{i:07d},진행중,담당자{i % 97},note {i} with some padding text\n"
                for i in range(start, start + 10_000)
            )
            file.write(chunk.encode())
    limit = 4 << 20
    assert path.stat().st_size > 3 * limit

    tracemalloc.start()
    try:
        count, last = 0, None
        with open_source(path) as table:
            for row in table.rows:
                count, last = count + 1, row
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert count == row_count
    assert last == (
        row_count + 1,
        [
            f"F-{row_count - 1:07d}",
            "진행중",
            f"담당자{(row_count - 1) % 97}",
            f"note {row_count - 1} with some padding text",
        ],
    )
    assert peak < limit, f"peak {peak / 2**20:.1f} MiB"

"""Parquet twins: the same values as their CSV, in the documented order and row groups.

Small files with tiny read blocks and row groups, so the streamed and the sorted
writers cross many block and row-group boundaries, as a million-row export does.
"""

from __future__ import annotations

import random
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from fmw.errors import SnapshotError
from fmw.snapshot import columnar as sc

ROWS = 5_000


def _history_csv(path: Path) -> None:
    rng = random.Random(7)
    lines = ["history_id,identity_hash,change,before,after,batch_id"]
    for i in range(1, ROWS + 1):
        identity = f"{rng.randrange(300):064x}"
        before = "" if i % 3 else f'"{{""n"": {i}, ""s"": ""=x""}}"'
        lines.append(f'{i},{identity},updated,{before},"{{""n"": {i}}}",{i % 4}')
    path.write_bytes(("\ufeff" + "\n".join(lines) + "\n").encode())


def _row_groups(path: Path) -> list[int]:
    meta = pq.ParquetFile(path).metadata
    return [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]


@pytest.fixture
def tiny_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sc, "_STREAM_BLOCK", 4096)
    monkeypatch.setattr(sc, "_WRITE_CHUNK", 2 * 128)
    monkeypatch.setattr(
        sc,
        "TWINS",
        {
            "current_records.csv": ("current_records.parquet", (), 300),
            "record_history.csv": ("record_history.parquet", ("identity_hash", "history_id"), 128),
        },
    )


@pytest.mark.usefixtures("tiny_blocks")
def test_a_streamed_twin_holds_the_csv_rows_in_order_in_full_row_groups(tmp_path: Path):
    _history_csv(tmp_path / "current_records.csv")
    assert sc.write_parquet_twin(tmp_path, "current_records.csv") == (
        "current_records.parquet",
        ROWS,
    )
    twin = pq.read_table(tmp_path / "current_records.parquet")
    assert twin.equals(sc.read_csv(tmp_path / "current_records.csv"))
    assert _row_groups(tmp_path / "current_records.parquet") == [300] * 16 + [200]


@pytest.mark.usefixtures("tiny_blocks")
def test_a_sorted_twin_is_sorted_across_every_block(tmp_path: Path):
    _history_csv(tmp_path / "record_history.csv")
    table = sc.read_csv(tmp_path / "record_history.csv")
    chunks = pa.Table.from_batches(table.to_batches(max_chunksize=97))  # many chunks to take from
    sc._write_sorted(
        chunks, tmp_path / "record_history.parquet", ("identity_hash", "history_id"), 128
    )
    twin = pq.read_table(tmp_path / "record_history.parquet")
    expected = table.take(
        pc.sort_indices(table, [("identity_hash", "ascending"), ("history_id", "ascending")])
    )
    assert twin.equals(expected)
    assert _row_groups(tmp_path / "record_history.parquet") == [128] * 39 + [8]
    assert twin.column("before").null_count == ROWS - ROWS // 3


def _with_one_long_row(path: Path, length: int) -> str:
    """The history CSV with row 42's ``after`` made ``length`` bytes long."""
    _history_csv(path)
    lines = path.read_bytes().decode().split("\n")
    long_text = "가" * (length // 3)
    head, _, _tail = lines[42].rpartition(',"{')
    lines[42] = f'{head},"{long_text}",1'
    path.write_bytes("\n".join(lines).encode())
    return long_text


@pytest.mark.usefixtures("tiny_blocks")
@pytest.mark.parametrize("csv_name", ["current_records.csv", "record_history.csv"])
def test_a_row_longer_than_the_read_blocks_still_converts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, csv_name: str
):
    """Issue 15: one row over Arrow's block size failed every export from then on."""
    monkeypatch.setattr(sc, "_READ_BLOCK", 8192)
    long_text = _with_one_long_row(tmp_path / csv_name, 100_000)
    twin, rows = sc.write_parquet_twin(tmp_path, csv_name)
    assert rows == ROWS
    table = pq.read_table(tmp_path / twin)
    assert long_text in table.column("after").to_pylist()
    assert sc.read_csv(tmp_path / csv_name).num_rows == ROWS


def test_a_file_arrow_refuses_for_another_reason_is_one_snapshot_error(tmp_path: Path):
    path = tmp_path / "current_records.csv"
    path.write_bytes(b"history_id,change\n1,a\nnot a number,b\n")
    with pytest.raises(sc.ColumnarError) as caught:
        sc.read_csv(path)
    assert isinstance(caught.value, SnapshotError), "the CLI prints it as one line"
    assert str(caught.value).startswith("current_records.csv: ")


def test_the_longest_line_is_found_across_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(sc, "_SCAN_CHUNK", 10)
    path = tmp_path / "a.csv"
    path.write_bytes(b"ab\n" + b"x" * 37 + b"\nabc\n" + b"y" * 12)
    assert sc._longest_line(path) == 37

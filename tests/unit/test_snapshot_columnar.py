"""Typed snapshot CSV: read whole or a block at a time, the same values either way.

Small files with tiny read blocks, so the streamed reader crosses many block
boundaries, as a million-row export does.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
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


@pytest.fixture
def tiny_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sc, "_STREAM_BLOCK", 4096)


def _gathered(batches: Iterator[pa.RecordBatch]) -> pa.Table:
    gathered = list(batches)
    assert len(gathered) > 1, "the file crossed block boundaries"
    return pa.Table.from_batches(gathered)


@pytest.mark.usefixtures("tiny_blocks")
def test_a_streamed_csv_gives_the_rows_of_the_whole_file_in_order(tmp_path: Path):
    _history_csv(tmp_path / "history.csv")
    streamed = sc.stream_csv(tmp_path / "history.csv", _gathered)
    whole = sc.read_csv(tmp_path / "history.csv")
    assert streamed.num_rows == ROWS
    assert streamed.equals(whole.combine_chunks().cast(streamed.schema))
    assert streamed.column("before").null_count == ROWS - ROWS // 3


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
def test_a_row_longer_than_the_read_blocks_is_read_again_in_room(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Issue 15: one row over Arrow's block size failed every export from then on."""
    monkeypatch.setattr(sc, "_READ_BLOCK", 8192)
    long_text = _with_one_long_row(tmp_path / "history.csv", 100_000)
    attempts = []

    def consume(batches: Iterator[pa.RecordBatch]) -> pa.Table:
        attempts.append(1)
        return pa.Table.from_batches(list(batches))

    table = sc.stream_csv(tmp_path / "history.csv", consume)
    assert table.num_rows == ROWS and len(attempts) == 2, "read again from the start"
    assert long_text in table.column("after").to_pylist()
    assert sc.read_csv(tmp_path / "history.csv").num_rows == ROWS


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

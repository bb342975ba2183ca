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

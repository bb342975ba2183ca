"""The mapped files of a generation, from Arrow tables already in memory.

Its job: let what builds a snapshot without a database (the dashboard's test
fixture, the dashboard benchmark's synthetic million records) write exactly the
files ``fmw export`` writes, through the same writers (``fmw.snapshot.records``,
``fmw.snapshot.history``). The caller publishes them with
``fmw.snapshot.generations.publish_generation``, next to its CSV files, with
``state.to_extra()`` as the manifest's extra. Its ``db_snapshot`` is empty: an
export that follows such a generation writes everything.

This module must never talk to the database.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fmw.snapshot import history, layout, records
from fmw.snapshot.columnar import TIMESTAMP

HISTORY_BATCH = 64 * 1024


def write_mapped(
    root: Path,
    current_records: pa.Table,
    record_history: pa.Table,
    *,
    initial_batches: list[int],
    lineage: str = "tables",
) -> tuple[records.Files, layout.ExportState]:
    """Write ``current_records`` (typed, raw text) and ``record_history`` (the columns of
    ``snapshot.record_history``, typed; ``previous_changed_at`` is computed when absent)
    into the store under ``root``; the files and the manifest's export state."""
    columns = current_records.column_names
    files, index = records.write_all(root, columns, lambda name: current_records[name])
    history_rows = with_previous(record_history)
    writer = history.SegmentWriter(root, index.find, {})  # each row names its batch's source
    for batch in history_rows.to_batches(HISTORY_BATCH):
        writer.add(batch)
    for segment in writer.close():
        files[segment.index.name] = segment.index
        files[segment.docs.name] = segment.docs
    state = layout.ExportState(lineage, "", columns, current_records.num_rows, initial_batches)
    return files, state


def with_previous(rows: pa.Table) -> pa.Table:
    """The rows in history_id order, with each record's change before (as the export's
    ``snapshot.export_history`` gives it)."""
    rows = rows.sort_by("history_id")
    if "previous_changed_at" in rows.column_names:
        return rows
    changed = rows["changed_at"].cast(TIMESTAMP).cast(pa.int64()).to_numpy()
    ids = rows["history_id"].to_numpy()
    keys = np.asarray(rows["identity_hash"].to_pylist(), dtype=object)
    order = np.lexsort((ids, changed, keys))
    same = np.zeros(len(order), dtype=bool)
    same[1:] = keys[order[1:]] == keys[order[:-1]]
    previous = np.zeros(len(order), dtype=np.int64)
    previous[order[1:][same[1:]]] = changed[order[:-1][same[1:]]]
    inserted = pc.equal(rows["change"], "inserted").to_numpy(zero_copy_only=False)
    column = pa.array(previous, pa.int64(), mask=inserted | (previous == 0)).cast(TIMESTAMP)
    return rows.append_column("previous_changed_at", column)

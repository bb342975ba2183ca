"""Land the reader's notes about cells (``CellNote``) as row issues of their batch.

Its job: hand a file's notes to ``ops.note_cells`` in one call, in the
landing's transaction; SQL files each one under its column's header. The
notes say what the reader did with a cell (a merged value copied down, a
formula saved without its value); this module must never judge a value nor
decide what becomes of one.
"""

from __future__ import annotations

import psycopg

from fmw.loader.table import CellNote


def land_cell_notes(conn: psycopg.Connection, batch_id: int, notes: list[CellNote]) -> None:
    """File ``notes`` as row issues of batch ``batch_id`` (which is being landed)."""
    if not notes:
        return
    conn.execute(
        "SELECT ops.note_cells(%s, %s::integer[], %s::integer[], %s::text[], %s::text[])",
        [
            batch_id,
            [note.row for note in notes],
            [note.column for note in notes],
            [note.note for note in notes],
            [note.value for note in notes],
        ],
    )

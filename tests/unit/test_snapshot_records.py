"""fmw.snapshot.records: a text column's codes are the narrowest integers that index it,
written in full and carried forward by a day's merge."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from fmw.snapshot import layout, records, store
from fmw.snapshot.generations import publish_generation
from fmw.snapshot.mapped import Mapped
from fmw.ui import as_of
from fmw.ui.snapshot_data import Coded


def identity(number: int) -> str:
    return hashlib.sha256(str(number).encode()).hexdigest()


@pytest.mark.parametrize(
    ("distinct", "kind"),
    [
        (1, pa.int8()),
        (128, pa.int8()),
        (129, pa.int16()),
        (32_768, pa.int16()),
        (32_769, pa.int32()),
    ],
)
def test_text_codes_are_the_narrowest_integers_that_index_the_values(
    distinct: int, kind: pa.DataType
):
    texts = pa.array([f"team {n % distinct}" for n in range(distinct + 5)])
    column = records.encode("team", texts)
    assert column.type.index_type == kind
    assert column.to_pylist() == texts.to_pylist()


def test_a_merge_widens_the_codes_when_a_day_brings_one_value_too_many(tmp_path: Path):
    teams = [f"팀 {n:03}" for n in range(128)]  # int8 codes hold 128 values, no more
    table = pa.table({"identity_hash": [identity(n) for n in range(128)], "team": teams})
    files, _ = records.write_all(tmp_path, table.column_names, lambda name: table[name])
    state = layout.ExportState("test", "", table.column_names, table.num_rows, [1])
    previous = publish_generation(
        tmp_path, lambda _folder: dict(files), batches=[1], extra=state.to_extra()
    )
    changed = pa.table({"identity_hash": [identity(0), identity(500)], "team": ["팀 000", "새 팀"]})

    merged, _ = records.merge(tmp_path, previous, table.column_names, changed)

    name = layout.records_file("team")
    column = Mapped(store.object_path(tmp_path, str(merged[name].object))).column()
    assert column.type.index_type == pa.int16()
    assert column.to_pylist() == [*teams, "새 팀"]


def test_a_past_day_adding_values_to_narrow_codes_is_not_cut_short():
    """A past view replaces some rows' texts; a value the day had and today's records do
    not is added to the distinct values, past what int8 codes could hold."""
    values = pa.array([f"v{n}" for n in range(128)])
    current = Coded(values, np.arange(128, dtype=np.int8))
    view = as_of._replaced(
        _Holding(current), "team", np.array([0, 5]), pa.array(["v127", "과거의 값"])
    )
    assert isinstance(view, Coded)
    texts = view.values.take(pa.array(view.codes)).to_pylist()
    assert texts[0] == "v127"
    assert texts[5] == "과거의 값"
    assert texts[1:5] == ["v1", "v2", "v3", "v4"]


class _Holding:
    """What ``as_of._replaced`` reads of a snapshot for a text column: its coded columns."""

    def __init__(self, team: Coded) -> None:
        self.coded = {"team": team}

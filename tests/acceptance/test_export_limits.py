"""`fmw export` stays correct for any row the loader accepts (issue 15, item 2).

A record whose every cell is at the loader's limit (32,767 characters), in a
form that grows under NFKC (U+FDFA becomes 18 characters) and resists
compression, is loaded, changed and deactivated, so its current row and two
history rows are each many MiB: more than the CSV blocks the Parquet twins
were read in, and more than a btree index row may hold. The real `fmw export`
must publish a generation whose twins hold exactly the CSV's rows.
"""

from __future__ import annotations

import csv
import io
import random
import sys
from pathlib import Path

import psycopg
import pyarrow.parquet as pq
import pytest

from fmw.loader.landing import SourceSpec, load_file
from fmw.loader.limits import MAX_CELL_CHARS
from fmw.snapshot.generations import latest_good_generation
from tests.support.checksums import data_checksums
from tests.support.commands import run

pytestmark = pytest.mark.slow

HEADER = "Feature Code,Policy Code,market,platform,Status,owner,team,비고\n"
SPEC = SourceSpec("team_a", priority=10)
EXPANDS = "\ufdfa"  # one character in the file, eighteen after NFKC


def widest(seed: int) -> str:
    """A cell at the limit: incompressible CJK text, then characters NFKC expands."""
    rng = random.Random(seed)
    half = MAX_CELL_CHARS // 2
    return "".join(chr(rng.randrange(0x4E00, 0x9FFF)) for _ in range(half)) + EXPANDS * (
        MAX_CELL_CHARS - half
    )


def write(folder: Path, name: str, rows: list[list[str]]) -> Path:
    path = folder / name
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for row in rows:
        writer.writerow(row)
    path.write_text(HEADER + buffer.getvalue(), encoding="utf-8")
    return path


def small(n: int) -> list[str]:
    return [f"PAY-{n}", "P1", "KR", "iOS", "on", "kim", "pay", ""]


@pytest.fixture
def folder(tmp_path: Path, db_url: str) -> Path:
    tmp_path.chmod(0o755)
    (tmp_path / "fmw.toml").write_text(f'database_url = "{db_url}"\nvar_dir = "var"\n')
    return tmp_path


def test_a_record_at_the_limit_exports_with_its_history(
    folder: Path, conn: psycopg.Connection
) -> None:
    big = [widest(seed) for seed in range(8)]
    first = [big[0], big[1], big[2], big[3], "on", big[4], big[5], big[6]]
    changed = [*first[:4], "off", big[7], big[5], big[6]]
    others = [small(n) for n in range(1, 4)]
    for name, rows in (
        ("1.csv", [first, *others]),
        ("2.csv", [changed, *others]),
        ("3.csv", others),
    ):
        assert load_file(conn, SPEC, write(folder, name, rows)).status == "processed"
    before = data_checksums(conn)
    history = conn.execute("SELECT count(*) FROM core.record_history").fetchone()
    assert history == (3 + 3,), "inserted, updated, deactivated, and the others' inserts"

    result = run(folder, "export")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    generation, problems = latest_good_generation(folder / "var" / "snapshots")
    assert problems == []
    for csv_name, block in (("current_records.csv", 1 << 20), ("record_history.csv", 8 << 20)):
        lines = generation.path(csv_name).read_bytes().split(b"\n")
        assert max(map(len, lines)) > block, f"{csv_name}: a row longer than Arrow's block"
    for csv_name, twin in (
        ("current_records.csv", "current_records.parquet"),
        ("record_history.csv", "record_history.parquet"),
    ):
        table = pq.read_table(generation.path(twin))
        assert table.num_rows == generation.files[csv_name].rows
        with generation.path(csv_name).open(encoding="utf-8-sig", newline="") as handle:
            csv.field_size_limit(sys.maxsize)
            rows = list(csv.DictReader(handle))
        assert sorted(table.column("identity_hash").to_pylist()) == sorted(
            r["identity_hash"] for r in rows
        )
        longest = max(len(r["feature_code"]) for r in rows)
        assert longest > 8 * MAX_CELL_CHARS, "NFKC made the cell many times longer"
        assert max(len(v or "") for v in table.column("feature_code").to_pylist()) == longest
    assert data_checksums(conn) == before

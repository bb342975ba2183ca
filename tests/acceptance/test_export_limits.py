"""`fmw export` stays correct for any row the loader accepts (issue 15, item 2).

A record whose every cell is at the loader's limit (32,767 characters), in a
form that grows under NFKC (U+FDFA becomes 18 characters) and resists
compression, is loaded, changed and deactivated, so its current row and two
history rows are each many MiB: more than the CSV blocks the export reads its
COPY output in, and more than a btree index row may hold. The real
`fmw export --csv` must publish a generation whose mapped files (what the
dashboard reads) hold exactly the CSV's rows.
"""

from __future__ import annotations

import csv
import io
import random
import sys
from pathlib import Path

import psycopg
import pytest

from fmw.loader.landing import SourceSpec, load_file
from fmw.loader.limits import MAX_CELL_CHARS
from fmw.snapshot.generations import latest_good_generation
from fmw.ui.cells import guard
from fmw.ui.snapshot_data import load_snapshot
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

    result = run(folder, "export", "--csv")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    generation, problems = latest_good_generation(folder / "var" / "snapshots")
    assert problems == []
    for csv_name, block in (("current_records.csv", 1 << 20), ("record_history.csv", 8 << 20)):
        lines = generation.path(csv_name).read_bytes().split(b"\n")
        assert max(map(len, lines)) > block, f"{csv_name}: a row longer than Arrow's block"
    snapshot, _ = load_snapshot(folder / "var" / "snapshots")
    csv.field_size_limit(sys.maxsize)
    with generation.path("current_records.csv").open(encoding="utf-8-sig", newline="") as handle:
        rows = {r["identity_hash"]: r for r in csv.DictReader(handle)}
    mapped = {r["identity_hash"]: r for r in snapshot.records.to_pylist()}
    assert mapped.keys() == rows.keys()
    for identity, row in rows.items():
        assert guard(mapped[identity]["feature_code"]) == row["feature_code"]
        assert guard(mapped[identity]["owner"]) == (row["owner"] or "")
    longest = max(len(r["feature_code"]) for r in rows.values())
    assert longest > 8 * MAX_CELL_CHARS, "NFKC made the cell many times longer"
    with generation.path("record_history.csv").open(encoding="utf-8-sig", newline="") as handle:
        history = list(csv.DictReader(handle))
    for identity in rows:
        timeline = snapshot.history(identity).to_pylist()
        expected = sorted(
            (h for h in history if h["identity_hash"] == identity),
            key=lambda h: (h["changed_at"], int(h["history_id"])),
        )
        assert [t["after"] for t in timeline] == [h["after"] for h in expected]
        assert [t["before"] for t in timeline] == [h["before"] or None for h in expected]
    assert data_checksums(conn) == before

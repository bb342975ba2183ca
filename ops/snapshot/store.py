"""The object store under a snapshot root: immutable files that generations share.

Its job: keep the big files of the dashboard's snapshot (the records' columns and the
history segments, Arrow IPC files that readers map into memory) in one folder,
``objects/``, where each file is written once and never changed, so that a generation
can refer to the files of the one before instead of copying them. An object's name is
its logical name with the start of its SHA-256 before the extension
(``history.000000000001.3fa2c1e09b7d44a5d6e1.arrow``), so two different contents never
share a name and equal contents are stored once. A manifest lists, per file of a
generation, the object holding it (``fmw.snapshot.generations``).

Writing: a writer fills ``new_temp()`` (named ``<name>.tmp-<pid>-<n>``: readers never
open it), fsyncs it, and ``put()`` renames it to the object's name. Deleting: ``prune``
deletes the objects no generation refers to any more. A process that maps an object
keeps it from being deleted on Windows (the delete fails with WinError 32); such an
object is skipped and deleted by a later prune, once no process maps it. On Linux the
delete succeeds and the mapping stays valid until it is closed.

This module must never parse a file's contents, never change an object once it is put,
and never use a shell: it runs the same on Windows and Linux.
"""

from __future__ import annotations

import itertools
import os
import re
import time
from collections.abc import Iterable
from pathlib import Path

from fmw.files import fsync_dir, replace_with_retry

OBJECTS_DIR = "objects"
TEMP_MARK = ".tmp-"
HASH_CHARS = 20
"""Hex digits of the SHA-256 in an object's name (80 bits: no two contents collide)."""

_OBJECT_NAME = re.compile(r"[^\\/:*?\"<>|\x00-\x1f]+\.[0-9a-f]{20}\.[A-Za-z0-9]+")
_temp_counter = itertools.count(1)


def objects_dir(root: Path) -> Path:
    return Path(root) / OBJECTS_DIR


def object_name(name: str, sha256: str) -> str:
    """The object holding logical file ``name`` with content ``sha256``."""
    stem, dot, suffix = name.rpartition(".")
    if not dot or not stem:
        stem, suffix = name, "bin"
    return f"{stem}.{sha256[:HASH_CHARS]}.{suffix}"


def is_object_name(value: object) -> bool:
    """An object's name as ``object_name`` makes it (no path, no temp file)."""
    return isinstance(value, str) and bool(_OBJECT_NAME.fullmatch(value)) and TEMP_MARK not in value


def object_path(root: Path, name: str) -> Path:
    return objects_dir(root) / name


def new_temp(root: Path, name: str) -> Path:
    """A fresh temporary path in the store for writing logical file ``name``."""
    folder = objects_dir(root)
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{name}{TEMP_MARK}{os.getpid()}-{next(_temp_counter)}"


def put(root: Path, temp: Path, name: str, sha256: str, size: int) -> str:
    """Make the finished, fsynced ``temp`` the object of ``name``; return the object's name.

    When the object exists already with the same size (the same content, by its
    name), ``temp`` is removed and the existing object is used.
    """
    target = object_path(root, object_name(name, sha256))
    try:
        same = target.stat().st_size == size
    except FileNotFoundError:
        same = False
    if same:
        temp.unlink(missing_ok=True)
    else:
        replace_with_retry(temp, target)
        fsync_dir(target.parent)
    return target.name


def _delete(path: Path) -> None:
    """Delete one file: the one place retention deletes an object (a test patches it)."""
    path.unlink()


def prune(root: Path, referenced: Iterable[str]) -> tuple[list[str], list[str]]:
    """Delete the objects not in ``referenced``; return (deleted, deferred).

    Deferred: the file system refused (on Windows, a process maps or holds it); the
    next prune tries again. Temporary files are left to ``remove_temps``.
    """
    keep = set(referenced)
    deleted: list[str] = []
    deferred: list[str] = []
    try:
        entries = sorted(objects_dir(root).iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return deleted, deferred
    for entry in entries:
        if TEMP_MARK in entry.name or entry.name in keep or not is_object_name(entry.name):
            continue
        try:
            _delete(entry)
        except FileNotFoundError:
            continue
        except OSError:
            deferred.append(entry.name)
            continue
        deleted.append(entry.name)
    return deleted, deferred


def remove_temps(root: Path, *, older_than: float | None = None) -> list[str]:
    """Delete temporary files (all, or those older than ``older_than`` seconds)."""
    removed = []
    now = time.time()
    try:
        entries = list(objects_dir(root).iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return removed
    for entry in entries:
        if TEMP_MARK not in entry.name:
            continue
        try:
            if older_than is not None and entry.stat().st_mtime >= now - older_than:
                continue
            entry.unlink()
        except OSError:
            continue
        removed.append(entry.name)
    return removed

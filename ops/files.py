"""Small files written durably and replaced atomically, the same on Windows and Linux.

Its job: the one primitive every writer of a file that others read uses (the
snapshot pointer and manifests, backup sidecars, the scheduler's status file,
the admin pages): write a temporary file, fsync it, then ``os.replace`` the
target, riding out Windows' brief ``PermissionError`` while a reader holds the
target open; and the reader's side, which reads a whole small file and closes
it at once. It must never know what the files mean.
"""

from __future__ import annotations

import itertools
import os
import time
from pathlib import Path

from fmw.errors import FileBusyError

REPLACE_RETRY_SECONDS = 2.0
_READ_ATTEMPTS = 5
_tmp_counter = itertools.count(1)


def write_durably(path: Path, data: bytes) -> None:
    """Write ``data`` to a fresh temp file, flush and fsync it, then replace ``path``."""
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}-{next(_tmp_counter)}")
    try:
        with tmp.open("xb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        replace_with_retry(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def replace_with_retry(source: Path, target: Path) -> None:
    """``os.replace`` that rides out Windows' PermissionError for about REPLACE_RETRY_SECONDS.

    Windows refuses to replace a file another process holds open (a reader
    between open and close); such holds are brief, so back off and retry.
    """
    deadline = time.monotonic() + REPLACE_RETRY_SECONDS
    delay = 0.005
    while True:
        try:
            os.replace(source, target)  # noqa: PTH105 -- one patchable primitive, also for folders
            return
        except PermissionError as exc:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise FileBusyError(
                    f"cannot replace {target}: another program keeps it open ({exc})"
                ) from exc
            time.sleep(min(delay, remaining))
            delay = min(delay * 2, 0.1)


def fsync_dir(folder: Path) -> None:
    """Make a rename or new entry in ``folder`` durable (POSIX only; Windows cannot)."""
    if os.name == "nt":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems do not support fsync on folders
    finally:
        os.close(fd)


def read_small_file(path: Path) -> bytes:
    """Read a whole small file and close it at once, riding out a Windows replace in flight."""
    for attempt in range(_READ_ATTEMPTS):
        try:
            return path.read_bytes()
        except PermissionError:
            if attempt == _READ_ATTEMPTS - 1:
                raise
            time.sleep(0.01)
    raise AssertionError("unreachable")

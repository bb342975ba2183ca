"""Keep each source file verbatim in the database, and give it back byte for byte.

Its job: compress a file's bytes (zlib) while SQL lands its rows, store them
once per content (its SHA-256) in ``raw.file`` and ``raw.file_part``, in the
landing's transaction; and write a kept file back out, checking its size and
SHA-256 before the output appears (temporary file, then rename).

What it must never do: read, judge or change what the bytes mean (that is the
reader's and SQL's job), or write a restored file that does not match its hash.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from fmw.errors import KeptFileError, SourceFileError
from fmw.files import replace_with_retry
from fmw.loader.source_file import open_file

READ_BYTES = 1 << 20
PART_BYTES = 1 << 20  # compressed bytes per raw.file_part row
LEVEL = 1  # zlib's fastest: a 1%-changed day's file is compressed while its rows land


class Keeping:
    """A file's compression in a thread, started when its rows are all sent: while
    ``raw.land_rows`` works the client is idle, where during the COPY the client, the
    server and the compression would share the cores."""

    def __init__(self, pool: ThreadPoolExecutor, path: Path) -> None:
        self._pool, self._path = pool, path
        self._future: Future[Compressed] | None = None

    def start(self) -> None:
        """Start compressing (once; later calls do nothing)."""
        if self._future is None:
            self._future = self._pool.submit(compress, self._path)

    def result(self) -> Compressed:
        """The compressed file, started now if it was not yet."""
        self.start()
        assert self._future is not None
        return self._future.result()


@dataclass(frozen=True)
class Compressed:
    """A file's bytes as one zlib stream, and what they were."""

    sha256: str
    byte_size: int
    parts: list[bytes] = field(repr=False)


def compress(path: Path) -> Compressed:
    """Read ``path`` once: its SHA-256, its size, and its zlib stream cut into parts."""
    digest, packer = hashlib.sha256(), zlib.compressobj(LEVEL)
    stream = bytearray()
    size = 0
    with open_file(path) as handle:
        try:
            while chunk := handle.read(READ_BYTES):
                digest.update(chunk)
                size += len(chunk)
                stream += packer.compress(chunk)  # zlib lets other threads run meanwhile
        except OSError as exc:
            raise SourceFileError(path, f"cannot read: {exc.strerror or exc}") from exc
    stream += packer.flush()
    parts = [bytes(stream[i : i + PART_BYTES]) for i in range(0, len(stream), PART_BYTES)]
    return Compressed(digest.hexdigest(), size, parts)


def is_kept(conn: psycopg.Connection, sha256: str) -> bool:
    """Whether a file with this content is kept already."""
    row = conn.execute("SELECT EXISTS (SELECT FROM raw.file WHERE file_sha256 = %s)", [sha256])
    found = row.fetchone()
    return bool(found and found[0])


def store(conn: psycopg.Connection, path: Path, kept: Compressed, sha256: str) -> None:
    """Keep ``kept`` (``path``'s bytes) under ``sha256``, the hash its batch was registered
    with; a file whose bytes changed since then is refused (nothing lands)."""
    if kept.sha256 != sha256:
        raise SourceFileError(path, "the file changed while it was being loaded; load it again")
    stored = conn.execute(
        "INSERT INTO raw.file (file_sha256, byte_size, parts) VALUES (%s, %s, %s) "
        "ON CONFLICT (file_sha256) DO NOTHING",
        [kept.sha256, kept.byte_size, len(kept.parts)],
    )
    if stored.rowcount == 0:  # kept by another load meanwhile
        return
    with (
        conn.cursor() as cur,
        cur.copy("COPY raw.file_part (file_sha256, part, data) FROM STDIN (FORMAT BINARY)") as copy,
    ):
        copy.set_types(["text", "int4", "bytea"])
        for number, data in enumerate(kept.parts, start=1):
            copy.write_row((kept.sha256, number, data))


@contextmanager
def compressing(conn: psycopg.Connection, path: Path, sha256: str) -> Iterator[Keeping | None]:
    """A thread to compress ``path`` in while the caller lands its rows (``Keeping.start``
    once they are sent); None when a file with this content is kept already."""
    if is_kept(conn, sha256):
        yield None
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="fmw-keep") as pool:
        yield Keeping(pool, path)


def batch_file(conn: psycopg.Connection, batch_id: int) -> tuple[str, str]:
    """(file name, SHA-256) of the file batch ``batch_id`` landed, if it is kept."""
    row = conn.execute(
        "SELECT b.file_name, b.file_sha256, b.kind, "
        "EXISTS (SELECT FROM raw.file AS f WHERE f.file_sha256 = b.file_sha256) "
        "FROM ops.batch AS b WHERE b.batch_id = %s",
        [batch_id],
    ).fetchone()
    if row is None:
        raise KeptFileError(f"batch {batch_id} does not exist (see `fmw batch list`)")
    name, sha256, kind, kept = row
    if kind == "remove":
        raise KeptFileError(f"batch {batch_id} removed a source: it read no file")
    if not kept:
        raise KeptFileError(
            f"{name} of batch {batch_id} is not kept: nothing of it landed (`fmw batch show "
            f"{batch_id}` says why), or it was landed before FMW kept files (its rows are in "
            "raw.row)"
        )
    return name, sha256


def restore(conn: psycopg.Connection, sha256: str, out: Path) -> int:
    """Write the kept file with this SHA-256 to ``out``, byte for byte; its size.

    The bytes are checked (size and SHA-256) before ``out`` appears: a kept
    file that does not match raises KeptFileError and leaves ``out`` as it was.
    """
    head = conn.execute(
        "SELECT byte_size, parts FROM raw.file WHERE file_sha256 = %s", [sha256]
    ).fetchone()
    if head is None:
        raise KeptFileError(f"no file with SHA-256 {sha256} is kept")
    size, parts = head
    digest, unpacker, written = hashlib.sha256(), zlib.decompressobj(), 0
    temporary = out.with_name(f".{out.name}.restoring")
    try:
        with temporary.open("wb") as handle:
            cursor = conn.execute(
                "SELECT part, data FROM raw.file_part WHERE file_sha256 = %s ORDER BY part",
                [sha256],
            )
            expected = 1
            for number, data in cursor:
                if number != expected:
                    raise KeptFileError(f"part {expected} of the kept file {sha256} is missing")
                expected += 1
                chunk = unpacker.decompress(data)
                digest.update(chunk)
                handle.write(chunk)
                written += len(chunk)
            if expected != parts + 1:
                raise KeptFileError(f"the kept file {sha256} has {expected - 1} of {parts} parts")
            tail = unpacker.flush()
            digest.update(tail)
            handle.write(tail)
            written += len(tail)
        if written != size or digest.hexdigest() != sha256:
            raise KeptFileError(
                f"the kept file {sha256} decompresses to {written:,} bytes with another "
                "SHA-256: it is damaged"
            )
        replace_with_retry(temporary, out)
    except zlib.error as exc:
        raise KeptFileError(f"the kept file {sha256} does not decompress: {exc}") from exc
    except OSError as exc:  # a folder that does not exist, a full disk, no right to write
        raise KeptFileError(f"cannot write {out}: {exc.strerror or exc}") from exc
    finally:
        temporary.unlink(missing_ok=True)
    return written

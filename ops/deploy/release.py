"""Releases on disk: read a release, unpack it into a new folder, and keep the `current` pointer.

A deploy root (e.g. ``C:\\fmw``, where ``fmw.toml`` and ``var`` live) holds::

    releases/
      1.2.0-20261127T101500Z/     one folder per deploy: release.json, requirements.txt,
        wheelhouse/*.whl          the wheels, .venv/ (built by the deploy) and
        .venv/                    deploy-state.json (unpacked, installed, active, failed, …)
      current.json                the active release (replaced atomically, never edited)
      deploy.log                  every deploy's steps, with timestamps
      deploy.lock                 held while a deploy runs
      processes.json              the "process" service backend's pids (Linux/tests)

A *release* is what ``fmw deploy bundle`` builds (a zip, or the folder it was
extracted to: ``release.json``, ``requirements.txt``, ``wheelhouse/``) or a
bare fmw wheel (its dependencies then come from ``--wheelhouse``). Every wheel
is checked against the SHA-256 in ``release.json`` after unpacking.

This module must never run a command, start a process or touch services, and
imports only the standard library: it runs before any venv exists.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import stat
import sys
import sysconfig
import time
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from fmw.errors import DeployError

MANIFEST = "release.json"
REQUIREMENTS = "requirements.txt"
WHEELHOUSE = "wheelhouse"
STATE_FILE = "deploy-state.json"
PARTIAL = ".partial"
MANIFEST_FORMAT = 1
ANY_PLATFORM = "any"
_WHEEL_NAME = re.compile(r"^fmw-(?P<version>[^-]+)-[^-]+-[^-]+-[^-]+\.whl$")
_RELEASE_ID = re.compile(r"^(?P<version>.+)-(?P<stamp>\d{8}T\d{6}Z)(?:-(?P<n>\d+))?$")
_REPLACE_TRIES = 40  # os.replace on Windows fails while a reader holds the target open

ReleaseKind = Literal["zip", "folder", "wheel"]
State = Literal["unpacked", "installed", "switching", "active", "failed", "rolled back"]


# --- the deploy root --------------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    """Where a deploy root keeps its releases and bookkeeping files."""

    root: Path
    windows: bool = sys.platform == "win32"

    @property
    def releases(self) -> Path:
        return self.root / "releases"

    @property
    def current_file(self) -> Path:
        return self.releases / "current.json"

    @property
    def log_file(self) -> Path:
        return self.releases / "deploy.log"

    @property
    def lock_file(self) -> Path:
        return self.releases / "deploy.lock"

    @property
    def processes_file(self) -> Path:
        return self.releases / "processes.json"

    def release_dir(self, release_id: str) -> Path:
        return self.releases / release_id

    def python(self, release_id: str) -> Path:
        """The release venv's interpreter (what the services run)."""
        venv = self.release_dir(release_id) / ".venv"
        return venv / "Scripts" / "python.exe" if self.windows else venv / "bin" / "python"


# --- reading a release ------------------------------------------------------------------


@dataclass(frozen=True)
class Release:
    """A release to deploy, as its manifest (or wheel name) describes it."""

    source: Path
    kind: ReleaseKind
    version: str
    wheel: str  # the fmw wheel's file name
    wheel_sha256: str  # the release's identity: the same wheel is the same release
    python: str | None  # "3.11": the wheels are for this CPython; None: any
    platform: str  # "win_amd64", or "any" (pure-Python wheels only)
    wheels: Mapping[str, str]  # every wheel of the wheelhouse -> its SHA-256
    extra_wheelhouse: Path | None = None  # a bare wheel's dependencies

    @property
    def short(self) -> str:
        return f"fmw {self.version} ({self.wheel}, sha256 {self.wheel_sha256[:12]})"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def read_release(path: Path, wheelhouse: Path | None = None) -> Release:
    """The release at ``path`` (bundle zip, bundle folder or fmw wheel); DeployError if unusable."""
    if not path.exists():
        raise DeployError(f"{path}: no such release file or folder")
    if wheelhouse is not None and not wheelhouse.is_dir():
        raise DeployError(f"--wheelhouse {wheelhouse}: no such folder")
    if path.is_file() and path.suffix == ".whl":
        return _wheel_release(path, wheelhouse)
    if wheelhouse is not None:
        raise DeployError(
            f"--wheelhouse is for a bare fmw wheel; {path.name} carries its own wheelhouse"
        )
    if path.is_dir():
        manifest_path = path / MANIFEST
        if not manifest_path.is_file():
            raise DeployError(
                f"{path}: not a release folder (no {MANIFEST}); build one with `fmw deploy bundle`"
            )
        text = manifest_path.read_text(encoding="utf-8")
        return _manifest_release(path, "folder", text)
    if path.suffix.lower() != ".zip":
        raise DeployError(f"{path}: a release is a bundle .zip, its folder, or an fmw .whl")
    try:
        with zipfile.ZipFile(path) as bundle:
            try:
                text = bundle.read(MANIFEST).decode("utf-8")
            except KeyError:
                raise DeployError(
                    f"{path}: no {MANIFEST} at the top of the zip "
                    "(build bundles with `fmw deploy bundle`)"
                ) from None
    except zipfile.BadZipFile as exc:
        raise DeployError(f"{path}: not a readable zip file ({exc})") from exc
    return _manifest_release(path, "zip", text)


def _wheel_release(path: Path, wheelhouse: Path | None) -> Release:
    match = _WHEEL_NAME.match(path.name)
    if not match:
        raise DeployError(f"{path.name}: not an fmw wheel (fmw-VERSION-…whl)")
    wheels = {path.name: file_sha256(path)}
    if wheelhouse is not None:
        for wheel in sorted(wheelhouse.glob("*.whl")):
            if wheel.name != path.name:
                wheels[wheel.name] = file_sha256(wheel)
    return Release(
        source=path,
        kind="wheel",
        version=match["version"],
        wheel=path.name,
        wheel_sha256=wheels[path.name],
        python=None,
        platform=ANY_PLATFORM,
        wheels=wheels,
        extra_wheelhouse=wheelhouse,
    )


def _manifest_release(path: Path, kind: ReleaseKind, text: str) -> Release:
    where = f"{path} ({MANIFEST})"
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DeployError(f"{where}: not valid JSON: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("format") != MANIFEST_FORMAT:
        raise DeployError(f"{where}: unknown manifest format (this deploy reads format 1)")
    if doc.get("name") != "fmw":
        raise DeployError(f"{where}: the release is not fmw's (name {doc.get('name')!r})")
    wheels = doc.get("wheels")
    wheel = doc.get("wheel")
    if not isinstance(wheels, dict) or not isinstance(wheel, str) or wheel not in wheels:
        raise DeployError(f"{where}: 'wheel' must name one of 'wheels' (file name -> sha256)")
    for name, digest in wheels.items():
        bad_name = PurePosixPath(name).name != name or not name.endswith(".whl")
        if bad_name or not re.fullmatch(r"[0-9a-f]{64}", str(digest)):
            raise DeployError(f"{where}: bad wheel entry {name!r}: {digest!r}")
    version, python, platform = doc.get("version"), doc.get("python"), doc.get("platform")
    if not isinstance(version, str) or not version:
        raise DeployError(f"{where}: no 'version'")
    if python is not None and not re.fullmatch(r"3\.\d+", str(python)):
        raise DeployError(f"{where}: 'python' must look like 3.11")
    if not isinstance(platform, str) or not platform:
        raise DeployError(f"{where}: no 'platform'")
    return Release(
        source=path,
        kind=kind,
        version=version,
        wheel=wheel,
        wheel_sha256=wheels[wheel],
        python=python,
        platform=platform,
        wheels=dict(wheels),
    )


def this_platform() -> str:
    """The wheel platform tag of this machine, e.g. win_amd64 or linux_x86_64."""
    return sysconfig.get_platform().replace("-", "_").replace(".", "_")


def check_compatible(
    release: Release, *, python: tuple[int, int] | None = None, platform: str | None = None
) -> None:
    """DeployError unless this interpreter and machine can install the release's wheels."""
    major, minor = python or sys.version_info[:2]
    if release.python and release.python != f"{major}.{minor}":
        raise DeployError(
            f"{release.source.name}: its wheels are for CPython {release.python}, but this is "
            f"Python {major}.{minor} ({sys.executable}); run deploy.bat with Python "
            f"{release.python} (py -{release.python}, or set FMW_DEPLOY_PYTHON to its python.exe)"
        )
    here = platform or this_platform()
    if release.platform != ANY_PLATFORM and release.platform != here:
        raise DeployError(
            f"{release.source.name}: its wheels are for {release.platform}, this machine is {here}"
        )


# --- release folders --------------------------------------------------------------------


def new_release_id(layout: Layout, version: str, now: datetime) -> str:
    """``<version>-<UTC time>``, unique among the existing release folders."""
    base = f"{version}-{now.astimezone(UTC):%Y%m%dT%H%M%SZ}"
    candidate, number = base, 1
    while any(
        p.exists() for p in (layout.release_dir(candidate), _partial(layout.release_dir(candidate)))
    ):
        number += 1
        candidate = f"{base}-{number}"
    return candidate


def _partial(folder: Path) -> Path:
    return folder.with_name(folder.name + PARTIAL)


def requirements_line(release: Release) -> str:
    """The hash-pinned requirement that installs exactly this release's fmw wheel."""
    return f"fmw=={release.version} --hash=sha256:{release.wheel_sha256}"


def manifest_of(release: Release) -> dict[str, Any]:
    """The release.json a bare wheel's release folder gets (bundles bring their own)."""
    return {
        "format": MANIFEST_FORMAT,
        "name": "fmw",
        "version": release.version,
        "wheel": release.wheel,
        "wheel_sha256": release.wheel_sha256,
        "python": release.python,
        "platform": release.platform,
        "lock": None,
        "wheels": dict(release.wheels),
    }


def unpack(release: Release, target: Path, progress: Callable[[str], None]) -> None:
    """Unpack ``release`` into the new folder ``target`` (via ``.partial``), every wheel checked."""
    if target.exists():
        raise DeployError(f"{target}: the release folder already exists")
    partial = _partial(target)
    remove_tree(partial)
    try:
        if release.kind == "zip":
            _extract(release.source, partial)
        elif release.kind == "folder":
            shutil.copytree(
                release.source, partial, ignore=shutil.ignore_patterns(".venv", STATE_FILE)
            )
        else:
            (partial / WHEELHOUSE).mkdir(parents=True)
            shutil.copy2(release.source, partial / WHEELHOUSE / release.wheel)
            for name in release.wheels:
                if name != release.wheel and release.extra_wheelhouse is not None:
                    shutil.copy2(release.extra_wheelhouse / name, partial / WHEELHOUSE / name)
            write_json(partial / MANIFEST, manifest_of(release))
            (partial / REQUIREMENTS).write_text(requirements_line(release) + "\n", "utf-8")
        if not (partial / REQUIREMENTS).is_file():
            raise DeployError(f"{release.source}: no {REQUIREMENTS} in the release")
        for name, expected in release.wheels.items():
            wheel = partial / WHEELHOUSE / name
            if not wheel.is_file():
                raise DeployError(f"{release.source}: {WHEELHOUSE}/{name} is missing")
            if file_sha256(wheel) != expected:
                raise DeployError(
                    f"{release.source}: {WHEELHOUSE}/{name} does not match its SHA-256 in "
                    f"{MANIFEST} (damaged in transfer? copy the bundle again)"
                )
        progress(f"{len(release.wheels)} wheels match their SHA-256 in {MANIFEST}")
        partial.rename(target)
    except OSError as exc:
        remove_tree(partial)
        raise DeployError(f"{target}: cannot unpack the release: {exc}") from exc
    except BaseException:
        remove_tree(partial)
        raise


def _extract(archive: Path, into: Path) -> None:
    """Extract a bundle zip, refusing members that would land outside ``into``."""
    with zipfile.ZipFile(archive) as bundle:
        for member in bundle.infolist():
            name = PurePosixPath(member.filename)
            if name.is_absolute() or ".." in name.parts or ":" in member.filename:
                raise DeployError(f"{archive}: refusing the unsafe member {member.filename!r}")
        into.mkdir(parents=True)
        bundle.extractall(into)


def write_state(folder: Path, state: State, detail: str = "") -> None:
    """Record a release folder's state (what `fmw deploy status` lists)."""
    write_json(folder / STATE_FILE, {"state": state, "at": now_text(), "detail": detail})


def read_state(folder: Path) -> dict[str, Any]:
    try:
        doc = json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"state": "unknown", "at": None, "detail": ""}
    return doc if isinstance(doc, dict) else {"state": "unknown", "at": None, "detail": ""}


def release_ids(layout: Layout) -> list[str]:
    """Release folders, oldest first (by the UTC time in their names)."""
    if not layout.releases.is_dir():
        return []
    found = []
    for folder in layout.releases.iterdir():
        match = _RELEASE_ID.match(folder.name)
        if folder.is_dir() and match and not folder.name.endswith(PARTIAL):
            found.append((match["stamp"], int(match["n"] or 1), folder.name))
    return [name for *_key, name in sorted(found)]


def prune(layout: Layout, keep: int, protect: set[str]) -> tuple[list[str], list[str]]:
    """Delete leftover .partial folders and release folders beyond the newest ``keep``.

    Never a protected one (current, previous). Returns (removed, could not remove: why).
    """
    removed: list[str] = []
    failed: list[str] = []
    if layout.releases.is_dir():
        for leftover in layout.releases.glob(f"*{PARTIAL}"):
            if leftover.is_dir():
                _try_remove(leftover, removed, failed)
    ids = release_ids(layout)
    candidates = [rid for rid in ids if rid not in protect]
    surplus = len(candidates) - max(keep - len([p for p in protect if p in ids]), 0)
    for release_id in candidates[: max(surplus, 0)]:
        _try_remove(layout.release_dir(release_id), removed, failed)
    return removed, failed


def _try_remove(folder: Path, removed: list[str], failed: list[str]) -> None:
    try:
        remove_tree(folder)
        removed.append(folder.name)
    except OSError as exc:
        failed.append(f"{folder.name}: {exc}")


def remove_tree(folder: Path) -> None:
    """Delete a folder tree, read-only files too (Windows); nothing when it does not exist."""

    def make_writable(function: Callable[..., Any], path: str, _exc: Any) -> None:
        os.chmod(path, stat.S_IWRITE)  # noqa: PTH101 - rmtree hands us a str
        function(path)

    if not folder.exists():
        return
    if sys.version_info >= (3, 12):
        shutil.rmtree(folder, onexc=make_writable)
    else:
        shutil.rmtree(folder, onerror=make_writable)


# --- the current pointer ----------------------------------------------------------------


@dataclass(frozen=True)
class Current:
    """releases/current.json: the active release, and a deploy in progress if one was cut off."""

    release: str | None  # the release folder services run (None before the first success)
    version: str | None = None
    wheel_sha256: str | None = None
    previous: str | None = None  # where a rollback goes
    pending: str | None = None  # a deploy switched services to this one and has not finished
    activated_at: str | None = None
    last_failed: dict[str, str] | None = field(default=None)


def read_current(layout: Layout) -> Current | None:
    """The pointer, or None before the first deploy; DeployError naming the file if damaged."""
    try:
        text = layout.current_file.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        doc = json.loads(text)
        return Current(**{key: doc.get(key) for key in Current.__dataclass_fields__})
    except (ValueError, TypeError, AttributeError) as exc:
        raise DeployError(
            f"{layout.current_file}: damaged ({exc}); fix it by hand (it names the active "
            "release folder) or delete it to deploy as if for the first time"
        ) from exc


def write_current(layout: Layout, current: Current) -> None:
    """Replace current.json atomically (a reader sees the old or the new file, never half)."""
    write_json(layout.current_file, asdict(current))


def write_json(path: Path, doc: Mapping[str, Any]) -> None:
    """Write JSON to ``path`` through a temporary file, fsynced, then ``os.replace`` (retried)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with temporary.open("w", encoding="utf-8", newline="\n") as stream:
            json.dump(doc, stream, indent=2, sort_keys=True)
            stream.write("\n")
            stream.flush()
            os.fsync(stream.fileno())
        for attempt in range(_REPLACE_TRIES):
            try:
                temporary.replace(path)
                break
            except PermissionError:  # Windows: a reader has the file open right now
                if attempt == _REPLACE_TRIES - 1:
                    raise
                time.sleep(0.05)
    except OSError as exc:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise DeployError(f"{path}: cannot write: {exc}") from exc


def now_text() -> str:
    """Local time with its UTC offset, to the second (Python's clock, never %DATE%)."""
    return datetime.now().astimezone().isoformat(timespec="seconds")

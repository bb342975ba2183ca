"""Build the offline release bundle on a connected machine: our wheel, the locked wheels, one zip.

``fmw deploy bundle`` runs, in a checkout with internet access:

1. ``pip wheel --no-deps -w WHEELHOUSE SOURCE``: fmw's own wheel;
2. ``pip download --only-binary=:all: --platform win_amd64 --python-version 3.11
   --implementation cp --require-hashes --no-deps -r LOCK -d WHEELHOUSE``: exactly
   the wheels of the lock (``requirements/windows-py311.lock``, every line
   hash-pinned; pip checks each hash while downloading);
3. ``requirements.txt``: the lock plus ``fmw==VERSION --hash=sha256:…``, so the
   server's ``pip install --require-hashes`` accepts nothing else;
4. ``release.json``: version, the fmw wheel, the SHA-256 of every wheel, the
   target CPython and platform, and the lock's own SHA-256;
5. ``deploy.bat`` and the deploy step's standard-library modules (``ops/…``),
   so the bundle deploys itself;
6. one zip, ``fmw-VERSION-win_amd64-cp311.zip``, written as ``.partial`` and
   renamed when complete.

The lock is made with ``LOCK_COMMAND`` (uv) and committed; a lock that lacks
a dependency of ``pyproject.toml`` is refused. Without a lock (tests, a Linux
host whose dependencies are provided otherwise) the bundle holds fmw's wheel
only and is marked for any platform.

This module must never install anything into the running environment nor
touch a deploy root; it only builds files under the output folder.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from fmw.errors import DeployError

DEFAULT_LOCK = Path("requirements") / "windows-py311.lock"
LOCK_COMMAND = (
    "uv pip compile pyproject.toml --python-platform x86_64-pc-windows-msvc "
    "--python-version 3.11 --generate-hashes -o requirements/windows-py311.lock"
)
# What the bundle carries besides the wheels: deploy.bat and every module the deploy step
# imports (all standard library), laid out as in the repository so deploy.bat finds ops\deploy.
DEPLOY_FILES = (
    "deploy.bat",
    "ops/__init__.py",
    "ops/errors.py",
    "ops/deploy/__init__.py",
    "ops/deploy/__main__.py",
    "ops/deploy/step.py",
    "ops/deploy/plan.py",
    "ops/deploy/release.py",
    "ops/deploy/processes.py",
)
_LOCK_LINE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==(\S+)")
_REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


@dataclass(frozen=True)
class Target:
    """The server's interpreter and platform the wheels are downloaded for."""

    platform: str = "win_amd64"
    python_version: str = "3.11"
    implementation: str = "cp"

    @property
    def tag(self) -> str:
        return f"{self.platform}-{self.implementation}{self.python_version.replace('.', '')}"


@dataclass(frozen=True)
class BundleResult:
    """What ``build_bundle`` wrote."""

    path: Path
    version: str
    wheel: str
    wheel_sha256: str
    wheels: int
    bytes: int


def normalize(name: str) -> str:
    """A distribution name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


def lock_pins(text: str) -> dict[str, str]:
    """name -> version of every ``name==version`` line of a lock."""
    pins = {}
    for line in text.splitlines():
        match = _LOCK_LINE.match(line)
        if match:
            pins[normalize(match[1])] = match[3]
    return pins


def missing_from_lock(pyproject: Path, lock: Path) -> list[str]:
    """The dependencies of ``pyproject`` that ``lock`` does not pin (a stale lock)."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
    pins = lock_pins(lock.read_text(encoding="utf-8"))
    missing = []
    for requirement in project.get("dependencies", []):
        match = _REQUIREMENT_NAME.match(requirement)
        if match and normalize(match[1]) not in pins:
            missing.append(match[1])
    return missing


def unhashed_lines(lock_text: str) -> list[str]:
    """Requirements in a lock that carry no ``--hash`` (pip --require-hashes refuses them)."""
    entries: list[str] = []
    current: list[str] = []
    for line in lock_text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        current.append(stripped)
        if not stripped.endswith("\\"):
            entries.append(" ".join(current))
            current = []
    return [e.split()[0] for e in entries if "--hash=sha256:" not in e]


def wheel_command(source: Path, into: Path, *, python: str, build_isolation: bool) -> list[str]:
    """Build fmw's own wheel (no dependencies)."""
    command = [python, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", str(into)]
    if not build_isolation:
        command.append("--no-build-isolation")
    return [*command, str(source)]


def download_command(lock: Path, into: Path, target: Target, *, python: str) -> list[str]:
    """Download exactly the lock's wheels for the target (hashes checked by pip)."""
    return [
        python,
        "-m",
        "pip",
        "download",
        "--only-binary=:all:",
        "--platform",
        target.platform,
        "--python-version",
        target.python_version,
        "--implementation",
        target.implementation,
        "--require-hashes",
        "--no-deps",
        "-r",
        str(lock),
        "-d",
        str(into),
    ]


def bundle_commands(
    source: Path,
    wheelhouse: Path,
    lock: Path | None,
    target: Target,
    *,
    python: str = sys.executable,
    build_isolation: bool = True,
) -> list[list[str]]:
    """The commands ``build_bundle`` runs (what ``fmw deploy bundle --dry-run`` prints)."""
    commands = [wheel_command(source, wheelhouse, python=python, build_isolation=build_isolation)]
    if lock is not None:
        commands.append(download_command(lock, wheelhouse, target, python=python))
    return commands


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _run(command: Sequence[str], progress: Callable[[str], None]) -> None:
    progress(subprocess.list2cmdline(command) if sys.platform == "win32" else " ".join(command))
    done = subprocess.run(list(command), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = " / ".join((done.stdout + done.stderr).strip().splitlines()[-6:])
        raise DeployError(
            f"`{command[2]} {command[3]}` failed (exit code {done.returncode}): {tail}"
        )


def check_source(source: Path) -> None:
    """DeployError unless ``source`` is an fmw checkout with every file the bundle needs."""
    pyproject = source / "pyproject.toml"
    if not pyproject.is_file():
        raise DeployError(f"--source {source}: no pyproject.toml (run it in an fmw checkout)")
    name = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {}).get("name")
    if name != "fmw":
        raise DeployError(f"--source {source}: pyproject.toml is {name!r}'s, not fmw's")
    for relative in DEPLOY_FILES:
        if not (source / relative).is_file():
            raise DeployError(f"--source {source}: {relative} is missing")


def check_lock(source: Path, lock: Path) -> None:
    """DeployError naming the fix when the lock is missing, unhashed or stale."""
    if not lock.is_file():
        raise DeployError(f"--lock {lock}: no such file; make it with: {LOCK_COMMAND}")
    unhashed = unhashed_lines(lock.read_text(encoding="utf-8"))
    if unhashed:
        raise DeployError(f"--lock {lock}: no --hash for {', '.join(unhashed[:5])}; {LOCK_COMMAND}")
    missing = missing_from_lock(source / "pyproject.toml", lock)
    if missing:
        raise DeployError(
            f"--lock {lock} is stale: it lacks {', '.join(missing)} from pyproject.toml; "
            f"regenerate it: {LOCK_COMMAND}"
        )


def build_bundle(
    source: Path,
    out_dir: Path,
    *,
    lock: Path | None,
    target: Target = Target(),
    python: str = sys.executable,
    build_isolation: bool = True,
    progress: Callable[[str], None] = lambda _line: None,
) -> BundleResult:
    """Build the release bundle zip under ``out_dir``; nothing is left behind on failure."""
    source = source.resolve()
    check_source(source)
    if lock is not None:
        check_lock(source, lock)
    out_dir.mkdir(parents=True, exist_ok=True)
    work = out_dir / f".bundle-{datetime.now(UTC):%Y%m%dT%H%M%S%f}"
    wheelhouse = work / "wheelhouse"
    wheelhouse.mkdir(parents=True)
    partial: Path | None = None
    try:
        for command in bundle_commands(
            source, wheelhouse, lock, target, python=python, build_isolation=build_isolation
        ):
            _run(command, progress)
        ours = sorted(wheelhouse.glob("fmw-*.whl"))
        if len(ours) != 1:
            raise DeployError(f"expected one fmw wheel in {wheelhouse}, found {len(ours)}")
        wheel = ours[0]
        version = wheel.name.split("-")[1]
        wheels = {path.name: _sha256(path) for path in sorted(wheelhouse.glob("*.whl"))}
        lock_text = lock.read_text(encoding="utf-8") if lock is not None else ""
        requirements = lock_text.rstrip("\n") + ("\n" if lock_text else "")
        requirements += f"fmw=={version} --hash=sha256:{wheels[wheel.name]}\n"
        (work / "requirements.txt").write_text(requirements, encoding="utf-8")
        manifest = {
            "format": 1,
            "name": "fmw",
            "version": version,
            "wheel": wheel.name,
            "wheel_sha256": wheels[wheel.name],
            "python": target.python_version if lock is not None else None,
            "platform": target.platform if lock is not None else "any",
            "implementation": target.implementation if lock is not None else None,
            "lock": lock.name if lock is not None else None,
            "lock_sha256": _sha256(lock) if lock is not None else None,
            "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "wheels": wheels,
        }
        (work / "release.json").write_text(json.dumps(manifest, indent=2) + "\n", "utf-8")
        for relative in DEPLOY_FILES:
            (work / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source / relative, work / relative)
        name = f"fmw-{version}-{target.tag if lock is not None else 'any'}.zip"
        final = out_dir / name
        partial = out_dir / f"{name}.partial"
        with zipfile.ZipFile(partial, "w") as bundle:
            for path in sorted(p for p in work.rglob("*") if p.is_file()):
                packed = zipfile.ZIP_STORED if path.suffix == ".whl" else zipfile.ZIP_DEFLATED
                bundle.write(path, path.relative_to(work).as_posix(), compress_type=packed)
        partial.replace(final)
        progress(f"wrote {final} ({len(wheels)} wheels)")
        return BundleResult(
            final, version, wheel.name, wheels[wheel.name], len(wheels), final.stat().st_size
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if partial is not None:
            partial.unlink(missing_ok=True)

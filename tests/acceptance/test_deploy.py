"""The deploy for real on Linux: bundles built from this checkout, rollback of a broken release.

Two bundles are built with ``fmw.deploy.bundle.build_bundle`` from copies of this
checkout: release A (1.0.0) and release B (1.1.0), whose dashboard exits at
once. Each deploy builds its own release venv and installs fmw's wheel from
the bundle's wheelhouse with ``--no-index --require-hashes``. To keep CI fast
the dependencies are not re-installed: the deploy runs with ``PYTHONPATH`` on
a folder of links to this venv's packages, minus fmw itself (pip then counts
them as installed; fmw must come from the wheelhouse). The services use the
"process" backend (no systemd here): the dashboard runs as a background
process, really started, health-checked on ``/_stcore/health`` and stopped.

A is deployed from its extracted bundle (as deploy.bat inside it would),
B with ``python -m fmw.deploy`` and ``--root``; B fails its health check and
is rolled back to A; deploying A again only checks its health.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from fmw.deploy.bundle import build_bundle
from fmw.deploy.processes import ProcessBackend
from fmw.deploy.release import Layout, read_current, read_state, release_ids
from fmw.deploy.step import probe

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
PACKAGE_FOLDERS = sorted(
    {Path(folder).parts[0] for folder in PYPROJECT["tool"]["setuptools"]["package-dir"].values()}
)
SOURCE_PARTS = (*PACKAGE_FOLDERS, "pyproject.toml", "README.md", "deploy.bat")
NOT_SHARED = ("fmw", "__editable__", "pip", "setuptools", "_distutils_hack", "pkg_resources")
BROKEN_DASHBOARD = """

def serve(settings, port, base_url_path=""):  # release B: the dashboard exits at once
    return 3
"""
DEPLOY_STEPS = [
    "unpack",
    "venv",
    "install",
    "describe",
    "backup",
    "migrate",
    "services",
    "restart",
    "health",
    "activate",
    "prune",
]


def copy_source(into: Path, version: str, *, broken: bool = False) -> Path:
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build")
    for part in SOURCE_PARTS:
        if (ROOT / part).is_dir():
            shutil.copytree(ROOT / part, into / part, ignore=ignore)
        else:
            shutil.copy2(ROOT / part, into / part)
    pyproject = into / "pyproject.toml"
    text = re.sub(r'(?m)^version = ".*"$', f'version = "{version}"', pyproject.read_text())
    pyproject.write_text(text)
    if broken:
        dashboard = into / "ops" / "services" / "dashboard.py"
        assert dashboard.is_file(), "the dashboard's launcher moved: break release B elsewhere"
        with dashboard.open("a") as module:
            module.write(BROKEN_DASHBOARD)
    return into


def shared_dependencies(into: Path) -> Path:
    """Links to every package of this venv except fmw, pip and setuptools."""
    into.mkdir()
    site = Path(sysconfig.get_paths()["purelib"])
    for entry in site.iterdir():
        if entry.name.endswith(".pth") or entry.name.startswith(NOT_SHARED):
            continue
        (into / entry.name).symlink_to(entry)
    return into


def free_port() -> int:
    with socket.socket() as probe_socket:
        probe_socket.bind(("127.0.0.1", 0))
        return probe_socket.getsockname()[1]


@dataclass
class Deployed:
    root: Path
    layout: Layout
    url: str
    release_a: str
    a_first: subprocess.CompletedProcess[str]
    a_first_pid: int
    b: subprocess.CompletedProcess[str]
    b_pid: int
    a_again: subprocess.CompletedProcess[str]
    a_again_pid: int
    folders_before_again: list[str]
    log: str


def dashboard_record(layout: Layout) -> dict[str, object]:
    return json.loads(layout.processes_file.read_text())["dashboard"]


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    work = tmp_path_factory.mktemp("deploy")
    bundles = work / "dist"
    a_zip = build_bundle(
        copy_source(work / "src-a", "1.0.0"), bundles, lock=None, build_isolation=False
    ).path
    b_zip = build_bundle(
        copy_source(work / "src-b", "1.1.0", broken=True), bundles, lock=None, build_isolation=False
    ).path
    a_folder = work / "bundle-a"
    with zipfile.ZipFile(a_zip) as bundle:
        bundle.extractall(a_folder)

    root = work / "root"
    root.mkdir()
    port = free_port()
    (root / "fmw.toml").write_text(
        f'backup_verify = "read"\n[service]\ndashboard_ports = [{port}]\n'
        "stop_grace_seconds = 10\n[service.nginx]\nenabled = false\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FMW_", "PIP_"))}
    env["PYTHONPATH"] = str(shared_dependencies(work / "deps"))
    options = ["--services", "process", "--service", "dashboard", "--health-timeout", "90"]

    def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
        )

    # An installation whose database exists (the deploy backs it up before migrating).
    upgrade = run(["-m", "fmw", "db", "upgrade"], root)
    assert upgrade.returncode == 0, upgrade.stderr
    layout = Layout(root)
    try:
        a_first = run([str(a_folder / "ops" / "deploy"), *options], root)
        assert a_first.returncode == 0, a_first.stdout + a_first.stderr
        a_first_pid = int(str(dashboard_record(layout)["pid"]))
        restore = "--restore-db-on-rollback"
        b = run(["-m", "fmw.deploy", str(b_zip), "--root", str(root), restore, *options], work)
        b_pid = int(str(dashboard_record(layout)["pid"]))
        folders = release_ids(layout)
        a_again = run([str(a_folder / "ops" / "deploy"), str(a_zip), *options], root)
        current = read_current(layout)
        assert current is not None and current.release is not None
        yield Deployed(
            root=root,
            layout=layout,
            url=f"http://127.0.0.1:{port}/_stcore/health",
            release_a=current.release,
            a_first=a_first,
            a_first_pid=a_first_pid,
            b=b,
            b_pid=b_pid,
            a_again=a_again,
            a_again_pid=int(str(dashboard_record(layout)["pid"])),
            folders_before_again=folders,
            log=layout.log_file.read_text(encoding="utf-8"),
        )
    finally:
        backend = ProcessBackend(layout, lambda line: None)
        backend.stop(list(backend.records()), grace_seconds=10)
        run(["-m", "fmw", "db", "stop"], root)


def test_the_first_deploy_serves_the_dashboard_from_the_new_release(deployed: Deployed):
    assert deployed.release_a.startswith("1.0.0-")
    assert deployed.a_first.stdout.rstrip().endswith(
        f"[deploy] deployed {deployed.release_a}: active and healthy"
    )
    argv = dashboard_record(deployed.layout)["argv"]
    assert isinstance(argv, list)
    assert argv[0] == str(deployed.layout.python(deployed.release_a))
    assert probe(deployed.url) is None


def test_fmw_is_installed_from_the_wheelhouse_only(deployed: Deployed):
    folder = deployed.layout.release_dir(deployed.release_a)
    (installed,) = (folder / ".venv").glob("lib/python3.*/site-packages/fmw-1.0.0.dist-info")
    assert (installed / "INSTALLER").read_text().strip() == "pip"
    assert (
        f"-m pip install --no-index --find-links {folder / 'wheelhouse'} --only-binary=:all: "
        f"--require-hashes -r {folder / 'requirements.txt'}"
    ) in deployed.a_first.stdout
    assert "Successfully installed fmw-1.0.0" in deployed.a_first.stdout


def test_every_step_is_logged_with_a_timestamp(deployed: Deployed):
    first = deployed.log.split("[deploy] deploy fmw 1.1.0")[0]
    for number, step in enumerate(DEPLOY_STEPS, start=1):
        assert f"[{step}] === step {number}/{len(DEPLOY_STEPS)}: " in first, step
    stamp = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d \[[a-z]+\] "
    assert all(re.match(stamp, line) for line in deployed.log.splitlines())


def test_the_backup_runs_before_the_migration(deployed: Deployed):
    first = deployed.a_first.stdout
    assert first.index("[backup] pre-deploy backup: ") < first.index("[migrate] === step")
    assert len(list((deployed.root / "var" / "backups").glob("fmw_*.dump"))) == 2


def test_a_release_failing_its_health_check_is_rolled_back(deployed: Deployed):
    assert deployed.b.returncode == 2, deployed.b.stdout + deployed.b.stderr
    current = read_current(deployed.layout)
    assert current is not None
    assert current.release == deployed.release_a and current.pending is None
    assert current.last_failed is not None
    failed = current.last_failed["release"]
    assert failed.startswith("1.1.0-")
    assert current.last_failed["reason"].startswith("health: FMW-Dashboard exited (code 3)")
    assert read_state(deployed.layout.release_dir(failed))["state"] == "rolled back"


def test_after_the_rollback_the_previous_release_serves_again(deployed: Deployed):
    assert deployed.b_pid != deployed.a_first_pid  # restarted, not left over
    log_b = deployed.log.split("[deploy] deploy fmw 1.1.0")[1].split("[deploy] deploy fmw 1.0.0")[0]
    assert f"[rollback] rolling back to {deployed.release_a} (health: " in log_b
    steps = ["describe", "stop", "restore", "services", "restart", "health", "record"]
    for number, step in enumerate(steps, 1):
        assert f"[{step}] === rollback {number}/{len(steps)}: " in log_b
    assert f"[rollback] rolled back: {deployed.release_a} is active and healthy" in log_b
    assert probe(deployed.url) is None


def test_restore_db_on_rollback_restores_the_pre_deploy_backup(deployed: Deployed):
    log_b = deployed.log.split("[deploy] deploy fmw 1.1.0")[1].split("[deploy] deploy fmw 1.0.0")[0]
    backup = re.search(r"\[backup\] pre-deploy backup: (\S+)", log_b)
    assert backup is not None
    name = Path(backup[1]).name
    assert f"[restore]   | restored {name} into database fmw" in log_b
    assert "[restore]   |   the database it replaced is kept as fmw_old_" in log_b


def test_deploying_the_active_release_again_only_checks_its_health(deployed: Deployed):
    assert deployed.a_again.returncode == 0, deployed.a_again.stdout
    assert deployed.a_again.stdout.rstrip().endswith(
        f"[deploy] release {deployed.release_a} is active and healthy: nothing to do"
    )
    assert "[unpack]" not in deployed.a_again.stdout
    assert release_ids(deployed.layout) == deployed.folders_before_again
    assert deployed.a_again_pid == deployed.b_pid  # not restarted

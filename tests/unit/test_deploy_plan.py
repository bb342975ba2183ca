"""The deploy's plan and dry run: every step and exact command, the rollback, bad input refused."""

from __future__ import annotations

import io
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from fmw.deploy import step as deploy
from fmw.deploy.plan import Command, DeployOptions, DeployPlan
from fmw.deploy.release import Current, Layout, read_release, this_platform
from tests.support.deploy_bundles import make_bundle

PY = "/srv/py311/bin/python3"


def dry_run(*args: str) -> tuple[int, list[str]]:
    out = io.StringIO()
    code = deploy.main(["--dry-run", *args], stream=out)
    return code, out.getvalue().splitlines()


def plan_for(tmp_path: Path, current: Current | None = None, **options: Any) -> DeployPlan:
    bundle = make_bundle(tmp_path)
    root = tmp_path / "root"
    opts = DeployOptions(release=bundle, root=root, python=Path(PY), **options)
    return DeployPlan(opts, read_release(bundle), Layout(root, windows=False), "1.0.0-X", current)


def test_dry_run_prints_every_step_with_its_exact_command(tmp_path: Path):
    bundle = make_bundle(tmp_path)
    root = tmp_path / "root"
    code, lines = dry_run(str(bundle), "--root", str(root))
    assert code == 0
    (release_line,) = [line for line in lines if line.startswith("  into ")]
    release_id = release_line.rsplit("/", 1)[1].rstrip(")")
    folder = root / "releases" / release_id
    python = folder / ".venv" / "bin" / "python"
    steps = [line.split(":")[0] for line in lines if line[:1].isdigit()]
    assert steps == [
        "1. unpack",
        "2. venv",
        "3. install",
        "4. describe",
        "5. backup",
        "6. migrate",
        "7. services",
        "8. restart",
        "9. health",
        "10. activate",
        "11. prune",
    ]
    commands = [line.strip() for line in lines if line.startswith("     ")]
    assert f"{sys.executable} -m venv {folder}/.venv" in commands
    assert (
        f"{python} -m pip install --no-index --find-links {folder}/wheelhouse "
        f"--only-binary=:all: --require-hashes -r {folder}/requirements.txt"
    ) in commands
    assert f"{python} -m fmw deploy describe --python {python}" in commands
    assert f"{python} -m fmw backup" in commands
    assert f"{python} -m fmw db upgrade" in commands
    assert f"FMW_SERVICE__PYTHON={python} {python} -m fmw service install" in commands
    assert f"{python} -m fmw service stop" in commands
    assert f"{python} -m fmw service start" in commands
    assert lines[-1] == "dry run: nothing was changed"


def test_dry_run_changes_nothing(tmp_path: Path):
    bundle = make_bundle(tmp_path)
    root = tmp_path / "root"
    root.mkdir()
    code, _lines = dry_run(str(bundle), "--root", str(root))
    assert code == 0
    assert list(root.iterdir()) == []


def test_only_services_are_passed_to_every_service_command(tmp_path: Path):
    plan = plan_for(tmp_path, only=("dashboard", "scheduler"))
    shown = [c.shown(False) for s in plan.steps() for c in s.commands if "service" in c.argv]
    assert shown and all(line.endswith("--only dashboard --only scheduler") for line in shown)


def test_the_first_deploy_has_nothing_to_roll_back_to(tmp_path: Path):
    plan = plan_for(tmp_path)
    assert plan.previous is None
    assert plan.rollback_steps() == []


def test_the_rollback_points_the_services_back_at_the_previous_release(tmp_path: Path):
    plan = plan_for(tmp_path, Current(release="0.9.0-A", wheel_sha256="0" * 64))
    old = plan.layout.python("0.9.0-A")
    steps = plan.rollback_steps()
    assert [s.key for s in steps] == ["describe", "services", "restart", "health", "record"]
    install = steps[1].commands[0]
    assert install.argv == (str(old), "-m", "fmw", "service", "install")
    assert install.env == (("FMW_SERVICE__PYTHON", str(old)),)
    assert [c.argv[-1] for c in steps[2].commands] == ["stop", "start"]
    assert all(c.argv[0] == str(old) for s in steps for c in s.commands)


def test_restore_on_rollback_stops_the_services_and_restores_the_backup(tmp_path: Path):
    plan = plan_for(tmp_path, Current(release="0.9.0-A"), restore_db_on_rollback=True)
    steps = plan.rollback_steps(backup="/b/fmw_1.dump", database="fmw")
    assert [s.key for s in steps][:3] == ["describe", "stop", "restore"]
    old = str(plan.layout.python("0.9.0-A"))
    assert steps[2].commands[0].argv == (
        old,
        "-m",
        "fmw",
        "restore",
        "/b/fmw_1.dump",
        "--into",
        "fmw",
        "--replace",
    )


def test_no_backup_skips_the_backup_step(tmp_path: Path):
    plan = plan_for(tmp_path, backup=False)
    (backup,) = [s for s in plan.steps() if s.key == "backup"]
    assert backup.lines(False) == ["skipped: --no-backup (no backup before the migration)"]


def test_the_active_release_is_only_health_checked(tmp_path: Path):
    bundle = make_bundle(tmp_path)
    digest = read_release(bundle).wheel_sha256
    plan = plan_for(tmp_path, Current(release="1.0.0-OLD", wheel_sha256=digest))
    assert plan.already_active
    assert [s.key for s in plan.steps()] == ["describe", "health"]
    assert plan.steps()[0].commands[0].argv[0] == str(plan.layout.python("1.0.0-OLD"))


def test_a_cut_off_deploy_of_the_same_release_runs_in_full(tmp_path: Path):
    digest = read_release(make_bundle(tmp_path)).wheel_sha256
    plan = plan_for(tmp_path, Current(release="1.0.0-OLD", wheel_sha256=digest, pending="1.1.0-B"))
    assert not plan.already_active
    assert plan.steps()[0].key == "unpack"


def test_force_deploys_the_active_release_again(tmp_path: Path):
    digest = read_release(make_bundle(tmp_path)).wheel_sha256
    plan = plan_for(tmp_path, Current(release="1.0.0-OLD", wheel_sha256=digest), force=True)
    assert plan.steps()[0].key == "unpack"


def test_process_backend_steps_say_what_the_deploy_does_itself(tmp_path: Path):
    plan = plan_for(tmp_path, services="process")
    restart = next(s for s in plan.steps() if s.key == "restart")
    assert restart.commands == ()
    assert any("SIGINT" in line for line in restart.lines(False))


def test_windows_commands_are_shown_as_cmd_exe_would_run_them():
    command = Command(
        (r"C:\fmw\releases\1.0.0-X\.venv\Scripts\python.exe", "-m", "fmw", "service", "install"),
        env=(("FMW_SERVICE__PYTHON", r"C:\fmw\releases\1.0.0-X\.venv\Scripts\python.exe"),),
    )
    assert command.shown(True).splitlines() == [
        r'set "FMW_SERVICE__PYTHON=C:\fmw\releases\1.0.0-X\.venv\Scripts\python.exe"',
        r"C:\fmw\releases\1.0.0-X\.venv\Scripts\python.exe -m fmw service install",
    ]


def test_the_nginx_check_is_planned_only_with_a_url(tmp_path: Path):
    without = next(s for s in plan_for(tmp_path).steps() if s.key == "health")
    with_url = next(
        s
        for s in plan_for(tmp_path, nginx_url="http://127.0.0.1/_stcore/health").steps()
        if s.key == "health"
    )
    assert "then through nginx, when it is configured (--nginx-url URL)" in without.actions
    assert any(
        a.startswith("GET http://127.0.0.1/_stcore/health through nginx") for a in with_url.actions
    )


# --- refusals --------------------------------------------------------------------------


def test_a_missing_release_is_refused_by_name(tmp_path: Path):
    code, lines = dry_run(str(tmp_path / "nope.zip"), "--root", str(tmp_path))
    assert code == 1
    assert lines[-1].endswith(f"error: {tmp_path / 'nope.zip'}: no such release file or folder")


def test_a_zip_without_a_manifest_is_refused(tmp_path: Path):
    path = tmp_path / "other.zip"
    with zipfile.ZipFile(path, "w") as bundle:
        bundle.writestr("hello.txt", "hi")
    code, lines = dry_run(str(path), "--root", str(tmp_path / "root"))
    assert code == 1
    assert "no release.json at the top of the zip" in lines[-1]


def test_wheels_for_another_python_are_refused(tmp_path: Path):
    bundle = make_bundle(tmp_path, manifest={"python": "3.12", "platform": "any"})
    code, lines = dry_run(str(bundle), "--root", str(tmp_path / "root"))
    assert code == 1
    assert "its wheels are for CPython 3.12, but this is Python 3.11" in lines[-1]


def test_wheels_for_another_platform_are_refused(tmp_path: Path):
    bundle = make_bundle(tmp_path, manifest={"platform": "win_amd64"})
    code, lines = dry_run(str(bundle), "--root", str(tmp_path / "root"))
    assert code == 1
    assert f"its wheels are for win_amd64, this machine is {this_platform()}" in lines[-1]


def test_a_manifest_naming_a_wheel_it_does_not_list_is_refused(tmp_path: Path):
    bundle = make_bundle(tmp_path, manifest={"wheel": "fmw-2.0.0-py3-none-any.whl"})
    code, lines = dry_run(str(bundle), "--root", str(tmp_path / "root"))
    assert code == 1
    assert "'wheel' must name one of 'wheels'" in lines[-1]


def test_a_damaged_current_pointer_is_refused_by_name(tmp_path: Path):
    root = tmp_path / "root"
    (root / "releases").mkdir(parents=True)
    (root / "releases" / "current.json").write_text("{not json")
    code, lines = dry_run(str(make_bundle(tmp_path)), "--root", str(root))
    assert code == 1
    assert f"{root / 'releases' / 'current.json'}: damaged" in lines[-1]


def test_restore_on_rollback_without_a_backup_is_refused(tmp_path: Path, capsys):
    with pytest.raises(SystemExit) as stopped:
        deploy.main([str(make_bundle(tmp_path)), "--no-backup", "--restore-db-on-rollback"])
    assert stopped.value.code == 2
    assert "--restore-db-on-rollback needs the backup" in capsys.readouterr().err


def test_a_root_inside_the_release_folder_is_refused(tmp_path: Path):
    folder = tmp_path / "bundle"
    folder.mkdir()
    with zipfile.ZipFile(make_bundle(tmp_path)) as bundle:
        bundle.extractall(folder)
    code, lines = dry_run(str(folder), "--root", str(folder / "inside"))
    assert code == 1
    assert "is inside the release folder" in lines[-1]

"""Write the edge's files into nginx's prefix, proven by ``nginx -t`` before they go live.

Its job (``fmw nginx render``): take the texts ``fmw.edge.config`` rendered, write
them into a staging folder beside the live configuration, let nginx test
them there (``nginx -t -p PREFIX -c conf/<staging>/nginx.conf``), and only
then replace the live files one by one (each an atomic ``os.replace``). A
refused configuration changes nothing live. It also makes the folders nginx
needs inside its prefix (``logs``, ``temp``) and the admin folder with its
index page, and keeps a copy of a main file FMW did not write
(``nginx.conf.before-fmw``: the Windows zip ships one).

It must never start, stop or reload nginx (services do) and never read logs.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from fmw.edge.config import CONF_MARKER, PREFIX_FOLDERS, EdgePlan, render_files
from fmw.edge.pages import write_admin_index
from fmw.errors import EdgeError

STAGING_NAME = ".fmw-staging"
BACKUP_SUFFIX = ".before-fmw"
TEST_TIMEOUT_SECONDS = 60


@dataclass
class RenderResult:
    """What a render did: files written or left as they were, and the nginx test's verdict."""

    written: list[Path] = field(default_factory=list)
    unchanged: list[Path] = field(default_factory=list)
    backup: Path | None = None
    tested_with: Path | None = None  # the nginx that accepted the configuration, if any


def nginx_test(nginx: Path, prefix: Path, conf: PurePosixPath | Path) -> None:
    """Run ``nginx -t`` on ``conf`` with ``prefix``; EdgeError with nginx's words if refused."""
    command = [str(nginx), "-t", "-q", "-p", _as_prefix(prefix), "-c", str(conf).replace("\\", "/")]
    command += ["-g", "daemon off;"]  # the same -g as the service, so nothing differs
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=TEST_TIMEOUT_SECONDS, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise EdgeError(f"cannot run {nginx} -t: {exc}") from exc
    if done.returncode != 0:
        said = " ".join((done.stderr or done.stdout).split()) or f"exit code {done.returncode}"
        raise EdgeError(f"nginx -t refused the rendered configuration: {said}")


def _as_prefix(prefix: Path) -> str:
    text = prefix.as_posix()
    return text if text.endswith("/") else text + "/"


def install(
    plan: EdgePlan,
    *,
    nginx: Path | None,
    progress: Callable[[str], None] = lambda _line: None,
) -> RenderResult:
    """Render, test (when ``nginx`` is given) and put the site live; see the module docstring."""
    files = render_files(plan)
    result = RenderResult()
    _make_folders(plan)
    staging = plan.conf_dir / STAGING_NAME
    shutil.rmtree(staging, ignore_errors=True)
    try:
        for relative, text in files.items():
            target = staging / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(text.encode("utf-8"))
        if nginx is not None:
            staged_conf = _staged_conf(plan)
            progress(f"testing with {nginx} -t")
            nginx_test(nginx, plan.prefix, staged_conf)
            result.tested_with = nginx
        result.backup = _keep_foreign_main_file(plan)
        for relative, text in files.items():
            target = plan.conf_dir / relative
            data = text.encode("utf-8")
            if target.exists() and target.read_bytes() == data:
                result.unchanged.append(target)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            _replace(staging / relative, target)
            result.written.append(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    write_admin_index(plan.admin_dir)
    return result


def _staged_conf(plan: EdgePlan) -> PurePosixPath | Path:
    """The staged main file as nginx -c gets it (relative to the prefix when the live one is)."""
    if plan.conf.is_absolute():
        return plan.conf_dir / STAGING_NAME / plan.conf.name
    return plan.conf.parent / STAGING_NAME / plan.conf.name


def _make_folders(plan: EdgePlan) -> None:
    try:
        for name in PREFIX_FOLDERS:
            (plan.prefix / name).mkdir(parents=True, exist_ok=True)
        plan.logs_path.mkdir(parents=True, exist_ok=True)
        plan.conf_dir.mkdir(parents=True, exist_ok=True)
        plan.admin_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EdgeError(f"cannot create nginx's folders: {exc}") from exc


def _keep_foreign_main_file(plan: EdgePlan) -> Path | None:
    """Keep a copy of a main file FMW did not write (once); return where, or None."""
    main = plan.conf_dir / plan.conf.name
    if not main.exists():
        return None
    head = main.read_bytes()[: len(CONF_MARKER)].decode("utf-8", errors="replace")
    if head == CONF_MARKER:
        return None
    backup = main.with_name(main.name + BACKUP_SUFFIX)
    if not backup.exists():
        shutil.copy2(main, backup)
    return backup


def _replace(source: Path, target: Path) -> None:
    """Move ``source`` over ``target`` atomically (copied first: staging may be elsewhere)."""
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    try:
        shutil.copyfile(source, tmp)
        tmp.replace(target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise EdgeError(f"cannot write {target}: {exc}") from exc

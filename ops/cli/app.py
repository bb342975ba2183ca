"""The ``fmw`` command: the admin's one entry point, assembled from the command groups.

Each group lives in its own module (``db``, ``batch``, ``data``, ``job`` …); this
module only puts them under one typer app and holds ``main``, which warns
about a password in the settings file first. It must never define a command.
"""

from __future__ import annotations

import typer
from rich.markup import escape

from fmw.cli.backup import backup_app, restore
from fmw.cli.batch import batch_app
from fmw.cli.data import export, load, sync
from fmw.cli.db import db_app
from fmw.cli.demo import demo
from fmw.cli.deploy import deploy_app
from fmw.cli.doctor import doctor
from fmw.cli.jobs import job_app, scheduler_app
from fmw.cli.nginx import nginx_app
from fmw.cli.psql import psql
from fmw.cli.report import report_app
from fmw.cli.service import service_app
from fmw.cli.source import source_app
from fmw.cli.support import err
from fmw.cli.ui import ui
from fmw.cli.vocab import vocab_app
from fmw.cli.web import web
from fmw.settings_secrets import secret_warnings

app = typer.Typer(
    help="FMW: policy and feature statuses from many spreadsheets, in one PostgreSQL database.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(db_app, name="db")
app.add_typer(batch_app, name="batch")
app.add_typer(source_app, name="source")
app.add_typer(vocab_app, name="vocab")
app.add_typer(job_app, name="job")
app.add_typer(scheduler_app, name="scheduler")
app.add_typer(backup_app, name="backup")
app.command("restore")(restore)
app.add_typer(service_app, name="service")
app.add_typer(deploy_app, name="deploy")
app.add_typer(nginx_app, name="nginx")
app.add_typer(report_app, name="report")
app.command("ui")(ui)
app.command("web")(web)
app.command("doctor")(doctor)
app.command("load")(load)
app.command("sync")(sync)
app.command("export")(export)
app.command("demo")(demo)
app.command("psql", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(
    psql
)


def main() -> None:
    """Console-script entry point."""
    for line in secret_warnings():  # a password in fmw.toml, worse when others can read it
        err.print(f"[yellow]warning:[/yellow] {escape(line)}")
    app()

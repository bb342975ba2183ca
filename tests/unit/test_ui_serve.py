"""fmw.ui.serve: the dashboard process prepares the first visit before anyone asks."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from fmw.snapshot import generations, layout
from fmw.ui import serve
from tests.support.ui_snapshot import publish_fixture


def test_warm_verifies_the_files_home_reads_once_for_the_whole_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    root = tmp_path / "snapshots"
    generation = publish_fixture(root)
    monkeypatch.setenv("FMW_SNAPSHOT_DIR", str(root))
    monkeypatch.chdir(tmp_path)  # no fmw.toml here
    records = str(generation.path(layout.records_file("is_active")))
    assert records not in generations._verified
    serve.warm()
    assert records in generations._verified, "the first visit finds the records checked"


def test_warm_without_a_snapshot_only_logs_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    monkeypatch.setenv("FMW_SNAPSHOT_DIR", str(tmp_path / "empty"))
    monkeypatch.chdir(tmp_path)
    with caplog.at_level(logging.INFO, logger="fmw.ui.serve"):
        serve.warm()
    assert "nothing to prepare before the first visit" in caplog.text

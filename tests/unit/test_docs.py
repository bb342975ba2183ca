"""Docs that tests keep honest: the README's commands are the ones CI and users run, the
generated reference is what the code says, and no relative link or anchor is broken."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
REGENERATE = "run python docs/generate_reference.py"


def _generator() -> ModuleType:
    """docs/generate_reference.py, imported by path (docs/ is not a package)."""
    spec = importlib.util.spec_from_file_location(
        "generate_reference", ROOT / "docs" / "generate_reference.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


generate_reference = _generator()


def shell_blocks(text: str) -> list[str]:
    return re.findall(r"```sh\n(.*?)```", text, flags=re.S)


def test_ci_runs_exactly_the_readme_test_command():
    test_command = next(
        line for block in shell_blocks(README) for line in block.splitlines() if "pytest" in line
    )
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert test_command in ci.splitlines()


def test_readme_has_the_install_and_demo_command():
    assert any("pip install -e . && .venv/bin/fmw demo" in b for b in shell_blocks(README))


# --- the generated reference --------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(generate_reference.RENDERERS))
def test_the_committed_reference_is_what_the_generator_writes(name: str):
    committed = generate_reference.REFERENCE_DIR / name
    assert committed.is_file(), f"docs/reference/{name} is missing: {REGENERATE}"
    expected = generate_reference.RENDERERS[name]()
    assert committed.read_text(encoding="utf-8") == expected, (
        f"docs/reference/{name} is out of date: {REGENERATE}"
    )


def test_every_command_has_its_help_in_the_reference():
    reference = (generate_reference.REFERENCE_DIR / "commands.md").read_text(encoding="utf-8")
    paths = generate_reference.command_paths()
    assert {"fmw", "fmw db upgrade", "fmw backup verify", "fmw report usage"} <= set(paths)
    missing = [path for path in paths if f"\n## {path}\n\n```text\nUsage: {path} " not in reference]
    assert missing == []


def test_the_reference_help_is_plain_text_of_a_fixed_width():
    reference = generate_reference.render_commands()
    blocks = re.findall(r"```text\n(.*?)```", reference, flags=re.S)
    assert len(blocks) == len(generate_reference.command_paths())
    lines = [line for block in blocks for line in block.splitlines()]
    assert max(len(line) for line in lines) <= generate_reference.HELP_WIDTH
    assert not [line for line in lines if "\x1b" in line or "╭" in line]  # no colour, no panels
    assert "--unit-dir <path>" in reference
    assert "[default: /etc/systemd/system]" in reference  # forward slashes on every platform


def test_every_setting_is_in_the_settings_reference():
    from fmw.settings import EdgeSettings, SchedulerSettings, ServiceSettings, Settings

    reference = generate_reference.render_settings()
    expected_env = {
        *(f"FMW_{name.upper()}" for name in Settings.model_fields if name != "base_dir"),
        *(f"FMW_SERVICE__{name.upper()}" for name in ServiceSettings.model_fields),
        *(f"FMW_SCHEDULER__{name.upper()}" for name in SchedulerSettings.model_fields),
        *(f"FMW_EDGE__{name.upper()}" for name in EdgeSettings.model_fields),
    }
    # sources, service, scheduler, edge and service.nginx are sections, not rows
    sections = {"FMW_SOURCES", "FMW_SERVICE", "FMW_SCHEDULER", "FMW_EDGE", "FMW_SERVICE__NGINX"}
    rows = set(re.findall(r"\| `(FMW_[A-Z_]+)` \|", reference))
    assert rows == expected_env - sections | {
        "FMW_SOURCES__NAME__PATH",
        "FMW_SOURCES__NAME__FORMAT",
        "FMW_SOURCES__NAME__ENCODING",
        "FMW_SOURCES__NAME__SHEET",
        "FMW_SOURCES__NAME__PRIORITY",
        "FMW_SOURCES__NAME__MODE",
        "FMW_SERVICE__NGINX__ENABLED",
        "FMW_SERVICE__NGINX__EXECUTABLE",
        "FMW_SERVICE__NGINX__PREFIX",
        "FMW_SERVICE__NGINX__CONF",
    }
    assert "## `[service.nginx]`" in reference
    assert "| `keep_generations` | integer, ≥ 2 | `5` | `FMW_KEEP_GENERATIONS` |" in reference
    assert '| `mode` | "full" or "delta" | `"full"` | `FMW_SOURCES__NAME__MODE` |' in reference
    assert "| `dashboard_ports` | list of integers, not empty | `[8501]` |" in reference
    assert "| `path` | string | required | `FMW_SOURCES__NAME__PATH` |" in reference


def test_a_setting_without_a_description_stops_the_generator(monkeypatch: pytest.MonkeyPatch):
    from fmw.settings import SchedulerSettings

    monkeypatch.setattr(SchedulerSettings.model_fields["poll_seconds"], "description", None)
    with pytest.raises(ValueError, match=r"scheduler\.poll_seconds has no description"):
        generate_reference.render_settings()

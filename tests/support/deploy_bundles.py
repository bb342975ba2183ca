"""Small stand-in release bundles for the deploy's unit tests (no wheel is built)."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path
from typing import Any


def make_bundle(
    folder: Path, version: str = "1.0.0", *, manifest: dict[str, Any] | None = None
) -> Path:
    """A bundle zip as `fmw deploy bundle` lays it out (the wheel's bytes are a stand-in)."""
    wheel = f"fmw-{version}-py3-none-any.whl"
    data = f"stand-in wheel {version}".encode()
    digest = hashlib.sha256(data).hexdigest()
    doc = {
        "format": 1,
        "name": "fmw",
        "version": version,
        "wheel": wheel,
        "wheel_sha256": digest,
        "python": None,
        "platform": "any",
        "wheels": {wheel: digest},
    }
    doc.update(manifest or {})
    path = folder / f"fmw-{version}-any.zip"
    with zipfile.ZipFile(path, "w") as bundle:
        bundle.writestr("release.json", json.dumps(doc))
        bundle.writestr("requirements.txt", f"fmw=={version} --hash=sha256:{digest}\n")
        bundle.writestr(f"wheelhouse/{wheel}", data)
    return path

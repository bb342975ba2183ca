"""nginx log lines for the edge tests: the real sample log and hand-made ``fmw_json`` lines.

``SAMPLE`` (``tests/data/nginx/access.log``) holds real lines written by
Debian's nginx with FMW's rendered configuration; ``line(**fields)`` makes one
more, with any field changed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "nginx" / "access.log"
SAMPLE_LINES = 35


def line(**fields: Any) -> bytes:
    doc = {
        "fmw": 1,
        "time": "2026-11-27T05:27:42+00:00",
        "msec": 1795757262.217,
        "addr": "127.0.0.1",
        "user": "tester",
        "admin": "",
        "deny": "",
        "method": "GET",
        "path": "/",
        "uri": "/",
        "status": 200,
        "bytes": 10,
        "request_time": 0.003,
        "upstream": "127.0.0.1:8501",
        "xff": "",
        "agent": "test",
    }
    doc.update(fields)
    return (json.dumps(doc) + "\n").encode()

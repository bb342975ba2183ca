"""fmw.heap: a process that freed a large block gives later freed memory back (glibc)."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from fmw import heap

GLIBC = platform.libc_ver()[0] == "glibc"

RETAINED_AFTER_FREE = """
import sys
from fmw import heap
if sys.argv[1] == "fixed":
    assert heap.return_freed_memory()
def rss():
    with open("/proc/self/status") as status:
        return next(int(l.split()[1]) for l in status if l.startswith("VmRSS")) // 1024
big = bytearray(30 << 20)  # freed, it raises glibc's thresholds (to 30 and 60 MiB) unless fixed
del big
before = rss()
blocks = [bytearray(1 << 20) for _ in range(40)]  # 40 MiB, each block touched
del blocks
print(rss() - before)
"""


def retained_mib(mode: str) -> int:
    """MiB still resident after 40 one-MiB blocks were allocated and freed."""
    done = subprocess.run(
        [sys.executable, "-c", RETAINED_AFTER_FREE, mode],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return int(done.stdout)


@pytest.mark.skipif(not GLIBC, reason="glibc's malloc only")
def test_freed_blocks_stay_resident_by_default_and_go_back_once_fixed() -> None:
    assert retained_mib("default") >= 30  # what the dashboard kept after its first searches
    assert retained_mib("fixed") <= 5


@pytest.mark.skipif(GLIBC, reason="on glibc the thresholds are set")
def test_without_glibc_nothing_is_changed() -> None:
    assert heap.return_freed_memory() is False

"""Keep a long-running process's freed memory given back to the system (glibc's malloc).

Its job: ``return_freed_memory()``, called once when a long-running process starts (the
dashboard, ``fmw.ui.serve``; the web app, ``fmw.web``; the scheduler, whose day's sync
peaks near 300 MiB). glibc's ``malloc`` raises two thresholds each time a process frees a
large block: the size from which a block is mapped on its own (up to 32 MiB) and the
free space at the top of the heap it keeps rather than gives back (twice that). After
the dashboard's first searches over a million records, the temporary arrays of later
searches come from the heap and their freed memory stays resident: about 40 MiB of a
266 MiB process (docs/benchmarks.md, "the dashboard's freed memory given back"). Setting
the trim threshold fixes both at glibc's own starting values, so a freed large block is
unmapped and a heap with more than 128 KiB free at its top is trimmed, as on the first
day of the process.

It must never fail or slow a process: where the C library is not glibc (Windows,
whose heap returns large blocks by itself; macOS; musl) it does nothing, and it never
changes anything but these two thresholds.
"""

from __future__ import annotations

import ctypes
import platform

M_TRIM_THRESHOLD = -1
"""``mallopt``'s parameter number for the trim threshold (glibc's ``malloc.h``)."""

TRIM_THRESHOLD = 128 * 1024
"""glibc's own starting trim threshold; set, it no longer grows (nor does the mmap one)."""


def return_freed_memory() -> bool:
    """Fix glibc's trim and mmap thresholds at their starting values; False where the
    process does not run on glibc (nothing to do) or ``mallopt`` refused."""
    if platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL("libc.so.6")
    return bool(libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))

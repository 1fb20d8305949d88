"""How this process gets memory from the kernel (Linux), set once at start, unless
RECON_MEMORY=system.

Matching a million lines makes and drops gigabytes of temporary arrays, and on the 2-core VMs
recon is measured on, memory new to the process is slow to touch (benchmarks/memory_bench.py,
BENCHMARKS.md):

- a transparent huge page (numpy, DuckDB and Arrow ask for 2 MB pages on large buffers) costs
  up to 8 ms to fault in: 1.2 GB of new arrays took 0.5-8.8 s with them, 0.7 s without;
- glibc gives each large array its own mapping and returns it on free, so the next array is
  new memory again: 6 GB of arrays written, dropped and written again took 14 s the second
  time that way, 0.4 s with freed memory kept (3 GB with the mallopt calls below: 0.17 s).

So huge pages are turned off for this process (prctl; no system setting changes) and malloc
keeps what is freed for the next allocation (no mmap per large block, no trimming). The
process's memory then stays at its high-water mark until it exits, which for a batch run
is what it would reach anyway.
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys

log = logging.getLogger(__name__)

SWITCH = "RECON_MEMORY"  # "system": leave the kernel's and malloc's defaults alone
PR_SET_THP_DISABLE = 41  # <linux/prctl.h>; the process's flag, inherited by its children
M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4  # <malloc.h>; -1 as the threshold: never trim


def tune_process_memory(environ: dict[str, str] | None = None) -> bool:
    """True when both settings took. Never raises: where a call is not available (another
    OS or libc, a sandbox refusing prctl) that part stays as it was."""
    environ = os.environ if environ is None else environ
    if environ.get(SWITCH, "").strip().lower() == "system":
        log.debug("process memory left to the system's defaults (%s=system)", SWITCH)
        return False
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        huge_pages_off = libc.prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0) == 0
        # mallopt answers 1 on success; musl and other libcs may not have it at all.
        malloc_keeps = (libc.mallopt(M_MMAP_MAX, 0) == 1
                        and libc.mallopt(M_TRIM_THRESHOLD, -1) == 1)
    except (OSError, AttributeError):
        huge_pages_off = malloc_keeps = False
    if not (huge_pages_off and malloc_keeps):
        log.debug("process memory: huge pages off %s, malloc keeps freed memory %s",
                  huge_pages_off, malloc_keeps)
    return huge_pages_off and malloc_keeps

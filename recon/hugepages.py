"""Transparent huge pages off for this process (Linux), unless RECON_HUGEPAGES=keep.

numpy, DuckDB and Arrow ask the kernel for 2 MB pages on their large buffers
(madvise(MADV_HUGEPAGE)). On the 2-core VMs this product is measured on, faulting in such a
page costs about 20 ms (1.2 GB of fresh arrays: 12.5 s with huge pages, 0.7 s without;
benchmarks/hugepages_bench.py), and a matching run at 100k lines touches a few hundred of
them: 6.7 s -> 4.8 s with them off (BENCHMARKS.md). On machines where huge pages are cheap the
loss is a few TLB misses; a server that prefers them sets RECON_HUGEPAGES=keep.
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys

log = logging.getLogger(__name__)

PR_SET_THP_DISABLE = 41  # <linux/prctl.h>; the flag is the process's and its children's
PR_GET_THP_DISABLE = 42
KEEP_VARIABLE = "RECON_HUGEPAGES"


def disable_transparent_huge_pages(environ: dict[str, str] | None = None) -> bool:
    """True when huge pages are now off for this process. Never raises: where the call is
    not available (another OS, an old kernel, a sandbox refusing prctl) nothing changes."""
    environ = os.environ if environ is None else environ
    if environ.get(KEEP_VARIABLE, "").strip().lower() == "keep":
        log.debug("transparent huge pages kept (%s=keep)", KEEP_VARIABLE)
        return False
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        failed = libc.prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0) != 0
    except (OSError, AttributeError):
        failed = True
    if failed:
        log.debug("could not turn transparent huge pages off (errno %d)", ctypes.get_errno())
        return False
    return True

"""recon sets how its process gets memory (no transparent huge pages; malloc keeps what is
freed), unless RECON_MEMORY=system. Checked in child processes, through what the kernel
shows of each in /proc/self/status: the THP flag, and whether a dropped 200 MB array leaves
the process's resident memory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from recon.memory import tune_process_memory

STATUS = Path("/proc/self/status")
# Prints what the call returned, the kernel's THP flag for the process, and the MB of
# resident memory a dropped 200 MB array gave back.
CHILD = """
import ctypes
from pathlib import Path
import numpy as np
# The THP flag is inherited, and this test process may carry it (tests that ran `recon` in
# it turned it off): back on, so what the child shows is what the call did.
ctypes.CDLL(None).prctl(41, 0, 0, 0, 0)
{call}
def status(field):
    line = [l for l in Path('/proc/self/status').read_text().splitlines()
            if l.startswith(field + ':')]
    return int(line[0].split()[1])
array = np.ones(25_000_000)  # 200 MB
held = status('VmRSS')
del array
print(returned, status('THP_enabled'), round((held - status('VmRSS')) / 1024))
"""
TUNE = ("from recon.memory import tune_process_memory\n"
        "returned = tune_process_memory()")


def kernel_reports_thp() -> bool:
    return STATUS.exists() and "THP_enabled:" in STATUS.read_text()


needs_linux_status = pytest.mark.skipif(
    not kernel_reports_thp(), reason="this kernel does not show THP_enabled in /proc/*/status")


def child(call: str, **env: str) -> tuple[str, int, int]:
    out = subprocess.run([sys.executable, "-c", CHILD.format(call=call)], check=True,
                         capture_output=True, text=True,
                         env={**os.environ, "RECON_MEMORY": "", **env}).stdout
    returned, thp, released_mb = out.split()[-3:]  # after whatever the call printed
    return returned, int(thp), int(released_mb)


@needs_linux_status
def test_recon_settings_turn_huge_pages_off_and_keep_freed_memory() -> None:
    returned, thp, released_mb = child(TUNE)
    assert (returned, thp) == ("True", 0)
    assert released_mb < 20  # kept for the next array, not handed back


@needs_linux_status
def test_system_leaves_the_defaults() -> None:
    returned, thp, released_mb = child(TUNE, RECON_MEMORY="system")
    assert (returned, thp) == ("False", 1)
    assert released_mb > 150  # glibc unmaps a block this large on free


@needs_linux_status
def test_the_recon_command_sets_them_before_doing_anything() -> None:
    call = ("from recon.cli import main\n"
            "try:\n    main(['--version'])\nexcept SystemExit:\n    returned = 'exited'")
    returned, thp, released_mb = child(call)
    assert (returned, thp) == ("exited", 0) and released_mb < 20


def test_system_is_read_from_the_environment_given() -> None:
    assert tune_process_memory({"RECON_MEMORY": " System "}) is False

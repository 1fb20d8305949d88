"""recon turns transparent huge pages off for its own process (they cost ~20 ms a page fault on
the VMs it is measured on), unless RECON_HUGEPAGES=keep. Checked in child processes: the
flag is the whole process's, and the kernel shows it in /proc/<pid>/status."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from recon.hugepages import disable_transparent_huge_pages

STATUS = Path("/proc/self/status")
# Prints what the call returned, then the kernel's view of this process.
CHILD = """
import sys
from pathlib import Path
{call}
line = [l for l in Path('/proc/self/status').read_text().splitlines()
        if l.startswith('THP_enabled:')]
print(returned, line[0].split()[1])
"""


def kernel_reports_thp() -> bool:
    return STATUS.exists() and "THP_enabled:" in STATUS.read_text()


needs_thp_status = pytest.mark.skipif(
    not kernel_reports_thp(), reason="this kernel does not show THP_enabled in /proc/*/status")


def child(call: str, **env: str) -> list[str]:
    out = subprocess.run([sys.executable, "-c", CHILD.format(call=call)], check=True,
                         capture_output=True, text=True,
                         env={**os.environ, "RECON_HUGEPAGES": "", **env}).stdout
    return out.split()


@needs_thp_status
def test_the_call_turns_huge_pages_off_for_the_process() -> None:
    call = ("from recon.hugepages import disable_transparent_huge_pages\n"
            "returned = disable_transparent_huge_pages()")
    assert child(call) == ["True", "0"]


@needs_thp_status
def test_keep_leaves_them_as_the_machine_has_them() -> None:
    call = ("from recon.hugepages import disable_transparent_huge_pages\n"
            "returned = disable_transparent_huge_pages()")
    assert child(call, RECON_HUGEPAGES="keep") == ["False", "1"]


@needs_thp_status
def test_the_recon_command_turns_them_off_before_doing_anything() -> None:
    call = ("from recon.cli import main\n"
            "try:\n    main(['--version'])\nexcept SystemExit:\n    returned = 'exited'")
    assert child(call)[-2:] == ["exited", "0"]  # after what --version printed


def test_keep_is_read_from_the_environment_given() -> None:
    assert disable_transparent_huge_pages({"RECON_HUGEPAGES": " KEEP "}) is False

"""One recon at a time per company: an exclusive lock beside the company's store.

The lock is an OS lock (flock) on `<store>.lock`, so a killed run never leaves a stale
lock behind; the file's text says who holds it (pid, host, command, since when), so a
second run can tell the person who is in the way.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from recon.config import Config
from recon.dates import SAO_PAULO
from recon.errors import LockHeld
from recon.store import Store


def lock_path(store_path: Path) -> Path:
    return store_path.with_name(store_path.name + ".lock")


@contextmanager
def company_lock(store_path: Path, command: str) -> Iterator[None]:
    """Hold the company's lock for the block; LockHeld at once if another process has it."""
    path = lock_path(store_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LockHeld(f"another recon holds {store_path}: {_holder(path)}; wait for it to "
                           "finish (a killed process releases the lock by itself)") from None
        _write_holder(fd, command)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _write_holder(fd: int, command: str) -> None:
    holder = {"pid": os.getpid(), "host": socket.gethostname(), "command": command,
              "since": datetime.now(tz=SAO_PAULO).isoformat(timespec="seconds")}
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(holder).encode(), 0)
    os.fsync(fd)


def _holder(path: Path) -> str:
    try:
        holder = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        holder = {}
    if not holder:
        return "a process that has not said who it is yet"
    return (f"pid {holder.get('pid')} on {holder.get('host')}, `{holder.get('command')}` "
            f"since {holder.get('since')}")


@contextmanager
def locked_store(config: Config, command: str) -> Iterator[Store]:
    """The company's store, opened under its lock (every command that touches it)."""
    path = config.path("store.path")
    with company_lock(path, command), Store(path, config.get("store.memory_limit")) as store:
        yield store

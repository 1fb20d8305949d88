"""OAuth tokens for one connected company, kept in a 0600 JSON file.

Conta Azul rotates the refresh token on every refresh and refuses the old one
(`invalid_grant`), so a refresh must happen in one place at a time and the new
refresh token must be on disk before the new access token is used. The file
is replaced atomically; a lock file serialises refreshes across processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import stat
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from recon.errors import ConfigError, ContaAzulAuthError

# Refresh a little before expiry so no call goes out with a dying token: a minute,
# or a tenth of the token's life when it is short (as in tests).
REFRESH_AHEAD_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class Tokens:
    refresh_token: str
    access_token: str = ""
    expires_at: int = 0  # epoch seconds
    lifetime: int = 3600  # seconds the access token was issued for

    def access_is_fresh(self, now: float | None = None) -> bool:
        moment = time.time() if now is None else now
        ahead = min(REFRESH_AHEAD_SECONDS, self.lifetime / 10)
        return bool(self.access_token) and moment < self.expires_at - ahead

    def __repr__(self) -> str:  # never show a token in a traceback or log
        return f"Tokens(expires_at={self.expires_at!r}, access_token=***, refresh_token=***)"


def whole_seconds(value: object) -> int:
    """A duration or an epoch time from JSON, in whole seconds (a token's life needs no more)."""
    return int(Decimal(str(value)))


def tokens_from_response(document: dict) -> Tokens:
    """The token endpoint's answer; the refresh token in it replaces ours from now on."""
    lifetime = whole_seconds(document.get("expires_in", 3600))
    return Tokens(refresh_token=str(document["refresh_token"]),
                  access_token=str(document["access_token"]),
                  expires_at=int(time.time()) + lifetime, lifetime=lifetime)


class TokenFile:
    """Reads and writes one company's tokens; the lock spans read-refresh-write."""

    def __init__(self, path: Path):
        self.path = path

    def read(self) -> Tokens:
        try:
            if self.path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
                raise ConfigError(f"token file {self.path} is readable by others: "
                                  f"run chmod 600 {self.path}")
            document = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ContaAzulAuthError(
                f"no token file at {self.path}: connect the company first with "
                "`recon auth login` (or `recon auth import` on a headless server)"
            ) from exc
        except json.JSONDecodeError as exc:
            raise ConfigError(f"token file {self.path} is not valid JSON") from exc
        if not document.get("refresh_token"):
            raise ContaAzulAuthError(f"token file {self.path} has no refresh_token")
        return Tokens(
            refresh_token=str(document["refresh_token"]),
            access_token=str(document.get("access_token", "")),
            expires_at=whole_seconds(document.get("expires_at", 0)),
            lifetime=whole_seconds(document.get("lifetime", 3600)),
        )

    def write(self, tokens: Tokens) -> None:
        """Atomic replace, created 0600 from the start (never briefly world-readable)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        payload = json.dumps(
            {
                "refresh_token": tokens.refresh_token,
                "access_token": tokens.access_token,
                "expires_at": tokens.expires_at,
                "lifetime": tokens.lifetime,
            }
        )
        fd, tmp_name = tempfile.mkstemp(prefix=".tokens-", dir=self.path.parent)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp_name, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)
            raise

    @contextlib.asynccontextmanager
    async def locked_async(self) -> AsyncIterator[None]:
        """The same lock, waited for in a thread: while another process refreshes, this
        run's other requests keep going instead of stalling the event loop."""
        fd = self._open_lock()
        try:
            await asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _open_lock(self) -> int:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(self.path.with_name(self.path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Exclusive lock across processes for the whole read-refresh-write."""
        fd = self._open_lock()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

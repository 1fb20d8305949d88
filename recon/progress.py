"""Progress of long work, for a person watching a terminal; silent anywhere else (cron).

Library code reports stages and steps to whatever `Progress` it is handed; only the CLI
hands it a `TerminalBar`, and only when stderr is a terminal and -q was not given.
"""

from __future__ import annotations

import time
from typing import Protocol, TextIO


class Progress(Protocol):
    def stage(self, name: str, total: int | None = None) -> None: ...
    def advance(self, steps: int = 1) -> None: ...
    def finish(self) -> None: ...


class Silent:
    """The default: reports nothing."""

    def stage(self, name: str, total: int | None = None) -> None:
        pass

    def advance(self, steps: int = 1) -> None:
        pass

    def finish(self) -> None:
        pass


class TerminalBar:
    """One line rewritten in place: `settling  [########------------]  84/250  12 s`."""

    WIDTH = 24

    def __init__(self, stream: TextIO, min_interval: float = 0.1):
        self._stream = stream
        self._min_interval = min_interval
        self._name = ""
        self._total: int | None = None
        self._done = 0
        self._started = self._drawn = 0.0

    def stage(self, name: str, total: int | None = None) -> None:
        self.finish()
        self._name, self._total, self._done = name, total, 0
        self._started = time.monotonic()
        self._draw(force=True)

    def advance(self, steps: int = 1) -> None:
        self._done += steps
        self._draw(force=self._total is not None and self._done >= self._total)

    def finish(self) -> None:
        if self._name:
            self._draw(force=True)
            self._stream.write("\n")
            self._stream.flush()
            self._name = ""

    def render(self) -> str:
        elapsed = f"{time.monotonic() - self._started:.0f} s"
        if not self._total:
            return f"{self._name:<10} {elapsed}"
        filled = round(self.WIDTH * min(self._done, self._total) / self._total)
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        return f"{self._name:<10} [{bar}] {self._done:>{len(str(self._total))}}/{self._total}  {elapsed}"

    def _draw(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._drawn < self._min_interval:
            return
        self._drawn = now
        self._stream.write("\r" + self.render())
        self._stream.flush()

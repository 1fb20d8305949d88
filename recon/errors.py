"""The one exception tree of recon.

Every error a user can meet carries enough context to act on: which file,
line, field and value, or which HTTP call and status, and what to do next.
Secrets never enter a message: URLs are sanitized and headers are not kept.

* ReconError
  + ConfigError            bad or missing configuration (key, where it was looked up)
  + InputError             a bad statement file or line (file, line, field, value, hint)
  + ContaAzulError         an HTTP call to Conta Azul failed (method, url, status, message)
    + ContaAzulAuthError   401/403, invalid_grant: the company must log in again
    + ContaAzulRateLimited 429 after the retries allowed
    + ContaAzulConflict    409: the parcela's `versao` moved
    + ContaAzulTransportError  no answer at all (connection refused, timeout)
  + StoreError             the DuckDB store cannot be opened or written
  + LockHeld               another recon process works on the same company now
  + ReviewError            a review, approval or undo that cannot be done as asked
  + ReportError            the report cannot be rendered in a browser (Chromium missing or failed)
  + NotifyError            the report could not be emailed or posted (server, what to do)
"""

from __future__ import annotations


class ReconError(Exception):
    """Base of every error recon raises on purpose."""


class ConfigError(ReconError, ValueError):
    """Configuration is missing or invalid."""

    def __init__(self, message: str, *, key: str | None = None, source: str | None = None):
        self.key = key
        self.source = source
        where = f" ({key} in {source})" if key and source else f" ({key})" if key else ""
        super().__init__(f"{message}{where}")


class InputError(ReconError, ValueError):
    """A statement file, or one line of it, cannot be used."""

    def __init__(
        self,
        reason: str,
        *,
        file: str,
        line: int | None = None,
        field: str | None = None,
        value: str | None = None,
        hint: str = "",
    ):
        self.reason = reason
        self.file = file
        self.line = line
        self.field = field
        self.value = value
        self.hint = hint
        super().__init__(self._render())

    def _render(self) -> str:
        where = self.file + (f", line {self.line}" if self.line else "")
        what = f"field {self.field} " if self.field else ""
        value = f"value {self.value!r}: " if self.value is not None else ""
        hint = f" {self.hint}" if self.hint else ""
        return f"{where}: {what}{value}{self.reason}.{hint}"


class ContaAzulError(ReconError):
    """An HTTP call to Conta Azul did not succeed."""

    def __init__(
        self,
        message: str,
        *,
        method: str = "",
        url: str = "",
        status: int | None = None,
    ):
        self.message = message
        self.method = method
        self.url = url
        self.status = status
        call = f"{method} {url}".strip()
        code = f" -> {status}" if status is not None else ""
        super().__init__(f"Conta Azul {call}{code}: {message}" if call else message)


class ContaAzulAuthError(ContaAzulError):
    """Credentials were refused; a person must run the login again."""


class ContaAzulRateLimited(ContaAzulError):
    """Still rate limited (429) after every retry allowed."""


class ContaAzulConflict(ContaAzulError):
    """409: the resource changed since it was read (stale `versao`)."""


class ContaAzulTransportError(ContaAzulError):
    """The server could not be reached or did not answer in time."""


class StoreError(ReconError):
    """The DuckDB store cannot be opened or written."""


class LockHeld(ReconError):
    """Another recon process holds the company's lock (the message says which)."""


class ReviewError(ReconError):
    """A review item, approval, rejection or undo that cannot be done as asked (and why)."""


class ReportError(ReconError):
    """The report cannot be rendered in a browser: Chromium is missing or failed (stderr tail)."""


class NotifyError(ReconError):
    """The report could not be emailed or posted to the chat webhook (never with a secret)."""

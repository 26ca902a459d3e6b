"""The error hierarchy. Its classes, not string matching, decide what is retried.

- ``InputError`` (and subclasses): the caller sent something we refuse; nothing was stored.
- ``DeliveryError``: a channel could not deliver. ``TransientError`` is retried with
  backoff; ``PermanentError`` makes the letter ``dead`` with the reason recorded.
"""

from __future__ import annotations

from dataclasses import dataclass


class NotifierError(Exception):
    """Base of every error this package raises on purpose."""


@dataclass(frozen=True)
class FieldError:
    """One problem with one field; ``field`` is a dotted path such as ``data.citizen.cpr``."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class InputError(NotifierError):
    """Malformed input. Carries every field error found, so the caller can fix them at once."""

    def __init__(self, errors: list[FieldError], *, where: str = "") -> None:
        self.errors = errors
        self.where = where
        prefix = f"{where}: " if where else ""
        super().__init__(prefix + "; ".join(str(e) for e in errors))

    @classmethod
    def single(cls, field: str, message: str, *, where: str = "") -> InputError:
        return cls([FieldError(field, message)], where=where)

    def located(self, where: str) -> InputError:
        """The same errors, prefixed with where they came from (a file line, a list index)."""
        return type(self)(self.errors, where=where)


class ConflictError(InputError):
    """Well-formed input that the case's current state forbids (HTTP 409)."""


class ConfigError(NotifierError):
    """Invalid settings, rules or letter catalog; raised at start, before anything runs."""


class DeliveryError(NotifierError):
    """A channel failed to deliver a letter."""


class TransientError(DeliveryError):
    """Worth retrying: connection refused, timeout, HTTP 5xx or 429, SMTP 4xx.

    ``retry_after`` is the peer's own hint in seconds (HTTP Retry-After), if it gave one.
    """

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class UncertainError(TransientError):
    """The request may have reached the peer (timeout or dropped connection after it left,
    an unreadable answer): the letter must not count as sent, and a retry must reuse the
    same ids (issue 12)."""


class PermanentError(DeliveryError):
    """Retrying cannot help: validation refused, bad address, policy forbids the channel."""


class RenderError(PermanentError):
    """A template could not be rendered with the letter's data."""

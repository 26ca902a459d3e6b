"""Errors the API and the CLI share beyond notifier.errors."""

from __future__ import annotations

from notifier.errors import InputError


class NotFoundError(InputError):
    """The case or letter named does not exist (HTTP 404; CLI exit code 2)."""

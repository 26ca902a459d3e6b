"""Settings as a freshly started process would load them, for module-scoped fixtures
(function-scoped tests use the ``clean_env`` fixture instead)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def without_notifier_env() -> Iterator[None]:
    """No NOTIFIER_* variables while inside: CI sets NOTIFIER_REQUIRE_INTEGRATION, which
    Settings rightly refuses as unknown, and a developer's shell may set others."""
    saved = {k: v for k, v in os.environ.items() if k.upper().startswith("NOTIFIER_")}
    for name in saved:
        del os.environ[name]
    try:
        yield
    finally:
        os.environ.update(saved)

"""Structured logs (structlog), JSON when not on a terminal, with CPR numbers redacted.

Redaction runs last, after exceptions are formatted, so a CPR number inside a traceback
or a library's log line (dramatiq, APScheduler via the stdlib bridge) is masked too. It is
a safety net: code must still never log a CPR number on purpose.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

from notifier.identifiers import mask_cpr

MASK = "[CPR]"


def redact_text(text: str) -> str:
    return mask_cpr(text, MASK)


def _redact(value: Any) -> Any:
    if value is None or isinstance(value, bool | float):
        return value
    if isinstance(value, int):
        text = f"{value:010d}" if 0 <= value < 10**10 else str(value)
        return MASK if redact_text(text) != text else value  # a CPR with its leading 0 lost
    if isinstance(value, dict):
        return {_redact(k): _redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_redact(v) for v in value]
    return redact_text(value if isinstance(value, str) else str(value))


def redact_processor(_logger: Any, _name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    return {key: _redact(value) for key, value in event_dict.items()}


def configure_logging(level: str = "info", fmt: str = "auto") -> None:
    """Route structlog and the stdlib (dramatiq, APScheduler) through one redacting pipeline."""
    json_output = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact_processor,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if json_output
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = _CurrentStderr()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                renderer,
                _redact_line,  # last: whatever a renderer or library added is masked too
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("apscheduler", "dramatiq", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    for glyphs in ("weasyprint", "fontTools"):  # per-glyph warnings quote letter text
        logging.getLogger(glyphs).setLevel(logging.ERROR)


class _CurrentStderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to ``sys.stderr`` as it is when a record comes, as the stdlib's last-resort
    handler does, not as it was when logging was configured: a stream swapped in for a
    while (a test capturing output) and closed after must not make later records, such
    as a server thread's, fail with "I/O operation on closed file"."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        """StreamHandler's __init__ and setStream assign it; the property decides."""


def _redact_line(_logger: Any, _name: str, line: Any) -> Any:
    """The rendered line (a str from the renderer before it) redacted once more."""
    return redact_text(line) if isinstance(line, str) else line


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)

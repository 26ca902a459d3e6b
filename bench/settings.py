"""Settings and environments for the benchmark's own runtime and its child processes."""

from __future__ import annotations

import os
from pathlib import Path

from notifier.settings import ENV_PREFIX, Settings, load_settings


def bench_settings(redis_url: str | None, workdir: Path, *, pdf: bool = False) -> Settings:
    """Defaults, except Redis, the outbox, and whether Digital Post letters carry a PDF."""
    return load_settings(redis_url=redis_url, outbox_dir=workdir / "outbox",
                         digital_post_pdf=pdf)


def child_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment for a `notifier` child process with the same settings as ours."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(ENV_PREFIX)}
    env.update({
        f"{ENV_PREFIX}REDIS_URL": str(settings.redis_url),
        f"{ENV_PREFIX}OUTBOX_DIR": str(settings.outbox_dir),
        f"{ENV_PREFIX}DIGITAL_POST_PDF": "true" if settings.digital_post_pdf else "false",
        f"{ENV_PREFIX}LOG_FORMAT": "json",
        **extra,
    })
    return env

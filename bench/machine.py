"""What the numbers were measured on, printed above the table."""

from __future__ import annotations

import os
import platform
import re
from pathlib import Path


def _first(path: str, pattern: str) -> str:
    try:
        found = re.search(pattern, Path(path).read_text(), re.MULTILINE)
    except OSError:
        return "unknown"
    return found.group(1).strip() if found else "unknown"


def describe(redis_version: str) -> list[str]:
    memory_kb = _first("/proc/meminfo", r"^MemTotal:\s+(\d+)")
    memory = f"{int(memory_kb) / 1024 ** 2:.1f} GiB" if memory_kb.isdigit() else "unknown"
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    cpu = _first("/proc/cpuinfo", r"^model name\s*:\s*(.+)$")
    return [
        f"- CPU: {cpu}, {os.cpu_count()} cores (nproc)",
        f"- RAM: {memory}",
        f"- Python {platform.python_version()}, redis-server {redis_version}, "
        f"{platform.system()} {platform.release()}",
        f"- load average at start: {load}",
    ]

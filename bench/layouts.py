"""Options for a smaller pending letter: bytes per letter for variants of the Store's
layout, on one redis-server without persistence. An experiment behind the memory note
in docs/performance.md, not part of the benchmark table.

Usage: .venv/bin/python bench/layouts.py [LETTERS]   (default 100000)
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the `bench` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.memory import pending
from bench.servers import RedisServer
from bench.workload import PIPELINE_BATCH, Pending, PendingLetters, letter_templates
from notifier.clock import SystemClock
from notifier.runtime import build_planner
from notifier.settings import load_settings
from notifier.store import DUE, LETTER, Store

Record = Callable[[Pending], dict[str, str]]


def as_today(letter: Pending) -> dict[str, str]:
    return letter.record


def without_id(letter: Pending) -> dict[str, str]:
    """The id is in the key already."""
    return {k: v for k, v in letter.record.items() if k != "letter_id"}


def without_id_and_zero_attempts(letter: Pending) -> dict[str, str]:
    return {k: v for k, v in without_id(letter).items() if k != "attempts"}


def lean(letter: Pending) -> dict[str, str]:
    """Also send_at as epoch seconds instead of ISO 8601 with offset."""
    return {**without_id_and_zero_attempts(letter), "send_at": str(int(letter.due))}


VARIANTS: list[tuple[str, Record, str]] = [
    ("as stored today (case index: set)", as_today, "set"),
    ("without the letter_id field", without_id, "set"),
    ("... and without attempts=0", without_id_and_zero_attempts, "set"),
    ("... and send_at as epoch seconds", lean, "set"),
    ("as today, case index as a zset (listpack on Redis 7.0)", as_today, "zset"),
    ("all three, case index as a zset", lean, "zset"),
    ("as today, no case index at all (its cost)", as_today, "none"),
]


def footprint(server: RedisServer, letters: PendingLetters, count: int, record: Record,
              index: str) -> float:
    client: Any = server.client()  # redis-py's typed mapping is invariant; ours is str
    client.flushall()
    before = server.used_memory()
    pipe = client.pipeline(transaction=False)
    for n, letter in enumerate(pending(letters, 0, count, SystemClock().now()), start=1):
        pipe.hset(LETTER + letter.letter_id, mapping=record(letter))
        pipe.zadd(DUE, {letter.letter_id: letter.due})
        key = Store.case_letters_key(letter.case_id)
        if index == "set":
            pipe.sadd(key, letter.letter_id)
        elif index == "zset":
            pipe.zadd(key, {letter.letter_id: letter.due})
        if n % PIPELINE_BATCH == 0:
            pipe.execute()
    pipe.execute()
    return (server.used_memory() - before) / count


def main(count: int) -> int:
    letters = PendingLetters(letter_templates(build_planner(load_settings())), "MEM")
    with RedisServer(aof=False) as server:
        print(f"redis-server {server.version()}, {count:,} pending letters\n")
        print("| layout | bytes per pending letter |\n|---|---:|")
        for name, record, index in VARIANTS:
            print(f"| {name} | {footprint(server, letters, count, record, index):,.0f} |",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000))

"""Issue 14a: Redis memory after a simulated year of closed cases, retention on vs off.

    .venv/bin/python bench/retention.py            # 50,000 cases closed over 365 days
    .venv/bin/python bench/retention.py --quick    # 5,000 cases (a tenth)

One template case goes through the real pipeline on an in-process store (opened, its
first letters sent with their documents, a meeting booked and its summons sent, closed,
the closing letter sent, Digital Post receipts recorded), so every key has the layout and
size the Store really writes. It is cloned once per case into a real redis-server (no
persistence, so ``used_memory`` counts data, not the AOF buffer) with its own case id,
letter ids, event ids and closing date, the closing dates spread evenly over the year.

Retention off: every case written, then ``INFO memory used_memory``. Retention on: the
same, day by day, and each simulated day at 02:30 the real ``Retention.run()`` (default
90 days) archives and purges what is due, into a temporary archive directory. Documents
are stored without a PDF checksum here (as with NOTIFIER_DIGITAL_POST_PDF=false), so the
archive holds their HTML and no PDF is rebuilt: WeasyPrint would take the run hours and
does not change what stays in Redis.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
import uuid
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

if __package__ in (None, ""):  # run as a script: make the `bench` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import fakeredis

from bench.machine import describe
from bench.report import progress
from bench.servers import RedisServer
from bench.workload import opening_event
from notifier.clock import SimulatedClock
from notifier.intake.events import parse_event
from notifier.logging import configure_logging
from notifier.records.receipts import accept_receipt
from notifier.records.retention import build_retention
from notifier.runtime import Runtime, build_runtime
from notifier.settings import load_settings

CPH = ZoneInfo("Europe/Copenhagen")
TEMPLATE_CASE = "TMPLCASEID"
TEMPLATE_CLOSED_ON = "2026-12-18"
YEAR_START = date(2027, 1, 1)


def template(workdir: Path) -> tuple[dict[bytes, tuple[str, Any]], int, int]:
    """The template case's keys ({key: (type, value)}), its letter count and sent count."""
    settings = load_settings(outbox_dir=workdir / "outbox", digital_post_pdf=False,
                             archive_dir=workdir / "unused")
    clock = SimulatedClock(datetime(2026, 11, 23, 10, 15, tzinfo=CPH))
    runtime = build_runtime(settings, clock=clock, client=fakeredis.FakeRedis())

    def apply(event_id: str, type_: str, at: str, data: dict[str, Any]) -> None:
        clock.set(datetime.fromisoformat(at))
        raw = {"event_id": event_id, "type": type_, "case_id": TEMPLATE_CASE,
               "occurred_at": at, "data": data}
        runtime.store.apply_event(parse_event(raw), runtime.planner, clock.now())
        deliver(runtime)

    opening = opening_event(TEMPLATE_CASE, clock.now()).payload()  # the demo's first case
    apply("TMPLEVTOPEN", "sick_leave_reported", "2026-11-23T10:15:00+01:00", opening["data"])
    apply("TMPLEVTMEET", "meeting_booked", "2026-11-30T10:00:00+01:00",
          {"meeting_id": "m-1", "starts_at": "2026-12-08T10:30:00+01:00", "form": "phone",
           "with_employer": False})
    apply("TMPLEVTCLOSE", "case_closed", f"{TEMPLATE_CLOSED_ON}T10:00:00+01:00",
          {"closed_on": TEMPLATE_CLOSED_ON, "reason": "recovered"})
    letters = runtime.store.case_letters(TEMPLATE_CASE)
    sent = [x for x in letters.values() if x.status.value == "sent"]
    for letter in sent:
        if letter.channel.value in ("digital_post", "print"):
            accept_receipt(runtime.store, runtime.renderer.catalog,
                           {"message_uuid": letter.letter_id, "status": "delivered",
                            "received_at": clock.now().isoformat()}, clock.now())
    client: Any = runtime.client
    keys: dict[bytes, tuple[str, Any]] = {}
    ids = [TEMPLATE_CASE.encode(), *(lid.encode() for lid in letters)]
    for key in client.scan_iter(count=1000):
        if not any(i in key for i in ids) and b"TMPLEVT" not in key:
            continue
        kind = client.type(key).decode()
        value = {"string": client.get, "hash": client.hgetall,
                 "list": lambda k: client.lrange(k, 0, -1),
                 "zset": lambda k: client.zrange(k, 0, -1, withscores=True)}[kind](key)
        keys[key] = (kind, value)
    return keys, len(letters), len(sent)


def deliver(runtime: Runtime) -> None:
    """What a dispatcher tick claims, delivered in this thread."""
    now = runtime.clock.now()
    for letter_id in runtime.store.claim_due(now, now + timedelta(minutes=5), 1000):
        runtime.deliverer.deliver(letter_id)


class Cloner:
    """Writes copy ``n`` of the template with its own ids and closing date."""

    def __init__(self, keys: dict[bytes, tuple[str, Any]], letter_ids: list[str]) -> None:
        self.keys = keys
        self.letter_ids = [i.encode() for i in letter_ids]

    def swaps(self, n: int, closed_on: date) -> list[tuple[bytes, bytes]]:
        case = f"Y2027-{n:06d}".encode()
        pairs = [(TEMPLATE_CASE.encode(), case), (b"TMPLEVT", case + b"-evt-"),
                 (TEMPLATE_CLOSED_ON.encode(), closed_on.isoformat().encode())]
        pairs += [(lid, str(uuid.UUID(int=(n << 16) + i, version=4)).encode())
                  for i, lid in enumerate(self.letter_ids)]
        return pairs

    def write(self, pipe: Any, n: int, closed_on: date) -> None:
        swaps = self.swaps(n, closed_on)

        def sub(value: bytes) -> bytes:
            for old, new in swaps:
                value = value.replace(old, new)
            return value

        for key, (kind, value) in self.keys.items():
            name = sub(key)
            if kind == "string":
                pipe.set(name, sub(value))
            elif kind == "hash":
                pipe.hset(name, mapping={k: sub(v) for k, v in value.items()})
            elif kind == "list":
                pipe.rpush(name, *[sub(v) for v in value])
            else:
                pipe.zadd(name, {sub(m): s for m, s in value})


def simulate(server: RedisServer, cloner: Cloner, cases: int, workdir: Path, *,
             retention: bool) -> dict[str, float]:
    client = server.client()
    client.flushall()
    baseline = server.used_memory()
    archive = workdir / "archive"
    shutil.rmtree(archive, ignore_errors=True)
    settings = load_settings(redis_url=server.url, outbox_dir=workdir / "outbox",
                             archive_dir=archive, retention_enabled=retention)
    clock = SimulatedClock(datetime.combine(YEAR_START, datetime.min.time(), tzinfo=CPH))
    runtime = build_runtime(settings, clock=clock, client=client)
    job = build_retention(runtime) if retention else None
    per_day = [cases * (d + 1) // 365 - cases * d // 365 for d in range(365)]
    written = purged = 0
    started = time.monotonic()
    retention_seconds = 0.0
    for day, count in enumerate(per_day):
        closed_on = YEAR_START + timedelta(days=day)
        with client.pipeline(transaction=False) as pipe:
            for _ in range(count):
                cloner.write(pipe, written, closed_on)
                written += 1
            pipe.execute()
        if job is not None:
            clock.set(datetime.combine(closed_on + timedelta(days=1), datetime.min.time(),
                                       tzinfo=CPH) + timedelta(hours=2, minutes=30))
            before = time.monotonic()
            purged += len(job.run().purged)
            retention_seconds += time.monotonic() - before
        if day % 30 == 29:
            progress(f"retention {'on' if retention else 'off'}: day {day + 1}, "
                     f"{written:,} cases written, {purged:,} purged")
    used = server.used_memory() - baseline
    return {"cases": written, "purged": purged, "used_memory": used,
            "keys": int(client.dbsize()), "seconds": time.monotonic() - started,
            "retention_seconds": retention_seconds,
            "archive_bytes": sum(p.stat().st_size for p in archive.rglob("*") if p.is_file())
            if archive.exists() else 0}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5,000 cases instead of 50,000")
    parser.add_argument("--cases", type=int, help="cases closed over the year")
    parser.add_argument("--no-fsync", action="store_true",
                        help="archive without fsync (faster; the memory figures are the same)")
    parser.add_argument("--only", choices=["off", "on"], help="one of the two runs")
    args = parser.parse_args(argv)
    if args.no_fsync:
        import notifier.records.archive

        notifier.records.archive.os.fsync = lambda fd: None  # type: ignore[attr-defined]
    cases = args.cases or (5_000 if args.quick else 50_000)
    configure_logging("warning", "console")
    workdir = Path(tempfile.mkdtemp(prefix="notifier-bench-retention-"))
    try:
        progress("template case through the real pipeline")
        keys, letters, sent = template(workdir)
        letter_ids = [k.decode().rpartition(":")[2] for k in keys
                      if k.startswith(b"notifier:letter:")]
        cloner = Cloner(keys, letter_ids)
        with RedisServer(aof=False) as server:
            runs = {name: simulate(server, cloner, cases, workdir, retention=name == "on")
                    for name in ("off", "on") if args.only in (None, name)}
            version = server.version()
        print("\n".join(describe(version)))
        print(f"- archive fsync: {'off (--no-fsync)' if args.no_fsync else 'on'}")
        print(f"\nA year: {cases:,} cases closed evenly over 365 days; per case {letters} "
              f"letter records ({sent} sent with their documents), {len(keys)} keys.\n")
        print(table(runs))
        sys.stdout.flush()
    finally:
        progress("removing the temporary archive")
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


def table(runs: dict[str, dict[str, float]]) -> str:
    lines = ["| retention | cases in Redis at year end | keys | used_memory | per case written |"
             " archive on disk | 365 daily runs | per purged case |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, row in runs.items():
        label = "on, 90 days" if name == "on" else name
        each = row["retention_seconds"] / row["purged"] * 1000 if row["purged"] else 0.0
        lines.append(
            f"| {label} | {row['cases'] - row['purged']:,.0f} | {row['keys']:,.0f} | "
            f"{row['used_memory'] / 2**20:,.1f} MiB | {row['used_memory'] / row['cases']:,.0f} B "
            f"| {row['archive_bytes'] / 2**20:,.1f} MiB | {row['retention_seconds']:,.0f} s | "
            f"{each:,.0f} ms |")
    if len(runs) == 2:
        share = runs["on"]["used_memory"] / runs["off"]["used_memory"]
        lines.append(f"\nretention on keeps {share:.1%} of the memory retention off uses")
    return "\n".join(lines)

if __name__ == "__main__":
    sys.exit(main())

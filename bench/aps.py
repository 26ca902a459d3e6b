"""The obvious alternative: one APScheduler 3 job per letter in a RedisJobStore.

The scheduler is started paused, so add_job stores each job in Redis (one pickled job
in the ``apscheduler.jobs`` hash plus its run time in ``apscheduler.run_times``) and
nothing ever runs. Each job carries the letter's record as keyword arguments, so both
sides store the same information about a letter.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from apscheduler.jobstores.redis import RedisJobStore
from apscheduler.schedulers.background import BackgroundScheduler


def deliver_letter(**letter: str) -> None:
    """What each job would run (a module-level function, so the job stores a reference)."""


def paused_scheduler(port: int, db: int = 0) -> BackgroundScheduler:
    store = RedisJobStore(host="127.0.0.1", port=port, db=db)
    scheduler = BackgroundScheduler(jobstores={"default": store}, timezone="UTC")
    scheduler.start(paused=True)
    return scheduler


def add_jobs(scheduler: BackgroundScheduler,
             letters: Iterable[tuple[str, dict[str, str], datetime]]) -> int:
    """One add_job per letter; ``misfire_grace_time=None`` so a late job still runs, as a
    late letter still goes out in our design."""
    count = 0
    for job_id, record, due in letters:
        scheduler.add_job(deliver_letter, "date", run_date=due, kwargs=record,
                          id=job_id, misfire_grace_time=None)
        count += 1
    return count

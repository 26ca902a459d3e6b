"""The embedded store (no NOTIFIER_REDIS_URL) is one database for every thread."""

from __future__ import annotations

from notifier.runtime import embedded_client


def test_the_embedded_database_exists_before_any_thread_connects() -> None:
    """Given the embedded store as the runtime builds it, its database already exists.

    Why: fakeredis (2.41) creates a server's database on the first connection to it,
    outside its lock. The demo's dispatcher and worker threads then connected at once, two
    of them each created a database, and one wrote where the others never read: in CI the
    demo lost its case ("unknown case") under load. With 8 threads released together on a
    fresh fakeredis server, 3 trials in 300 lost writes (measured on 2 December 2026).
    Once the database exists, every connection finds it; without the connect in
    ``embedded_client`` this fails every time.
    """
    client = embedded_client()
    server = client.connection_pool.connection_kwargs["server"]
    assert 0 in server.dbs, "no connection yet: the first threads to connect would race"

"""Wiring: builds every part from one Settings object. Entry points call this once."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import dramatiq
import fakeredis
import redis

from notifier.calendar import ClosedDays, DanishCalendar
from notifier.channels.base import Channel
from notifier.channels.digital_post import DigitalPost, FileTransport, MemoTransport
from notifier.channels.gateway import GatewayTransport, KombiChoice, Sf1601Gateway
from notifier.channels.mail import Mail, MailFolder, MailTransport
from notifier.channels.print import GatewayPrint, Print, PrintJobFolder, PrintTransport
from notifier.channels.smtp import SmtpTransport
from notifier.clock import Clock, SystemClock
from notifier.delivery.deliverer import Deliverer
from notifier.delivery.pdf import PdfRenderer
from notifier.delivery.render import Renderer
from notifier.dispatch.actors import declare_actors
from notifier.dispatch.broker import build_broker
from notifier.dispatch.dispatcher import Dispatcher
from notifier.errors import ConfigError
from notifier.models import ChannelName
from notifier.planning.catalog import load_catalog
from notifier.planning.planner import Planner
from notifier.planning.rules import load_rules
from notifier.planning.versions import stamp
from notifier.records.callbacks import CallbackOutbox, CallbackSender
from notifier.settings import Settings
from notifier.store import Store
from notifier.store.replication import Durability, sentinel_client


def load_calendar(settings: Settings) -> DanishCalendar:
    path = settings.rules_dir / "calendar.toml"
    closed = ClosedDays()
    if path.exists():
        try:
            doc = tomllib.loads(path.read_text(encoding="utf-8"))
            fixed = tuple(
                (int(text.split("-")[0]), int(text.split("-")[1])) for text in doc["closed_days"]
            )
            closed = ClosedDays(fixed, bool(doc.get("friday_after_ascension_closes_banks", True)))
        except (tomllib.TOMLDecodeError, KeyError, ValueError, IndexError) as exc:
            message = f"{path.name}: closed_days must be a list of 'MM-DD': {exc}"
            raise ConfigError(message) from None
    return DanishCalendar(settings.zone, closed=closed, window_start=settings.send_window_start,
                          window_end=settings.send_window_end, postal_days=settings.postal_days)


def build_planner(settings: Settings) -> Planner:
    rules = stamp(load_rules(settings.rules_dir), settings.rules_dir, settings.letters_dir)
    return Planner(rules, load_calendar(settings))


def redis_client(settings: Settings) -> redis.Redis:
    if settings.redis_sentinels is not None:
        return sentinel_client(settings.redis_sentinels, settings.redis_sentinel_master,
                               settings.redis_db)
    if settings.redis_url is None:
        return embedded_client()
    return redis.Redis.from_url(settings.redis_url, health_check_interval=30,
                                socket_timeout=10, socket_connect_timeout=5)


def embedded_client() -> redis.Redis:
    """The embedded store: an in-memory server (fakeredis) private to this process.

    Connected once here, before any thread starts: fakeredis (2.41) creates a database
    on the first connection to it outside its lock, so threads connecting at once (the
    demo's worker and dispatcher) could each create their own, and one of them then wrote
    where nobody else read: the demo lost its case under load in CI.
    """
    client = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    client.ping()
    return client


def build_channels(settings: Settings, clock: Clock) -> dict[ChannelName, Channel]:
    """The channels the settings choose: files in the outbox by default, or the SF1601
    gateway (Digital Post, print) and an SMTP server (mail)."""
    outbox = Path(settings.outbox_dir)
    uses_gateway = "http" in (settings.digital_post_transport, settings.print_transport)
    gateway = Sf1601Gateway(settings, clock) if uses_gateway else None
    memo: MemoTransport = FileTransport(outbox)
    printing: PrintTransport = PrintJobFolder(outbox)
    mail: MailTransport = MailFolder(outbox)
    if settings.digital_post_transport == "http" and gateway:
        memo = GatewayTransport(gateway, KombiChoice.DIGITAL)
    if settings.print_transport == "http" and gateway:
        printing = GatewayPrint(settings, gateway)
    if settings.mail_transport == "smtp":
        mail = SmtpTransport(settings)
    return {
        ChannelName.DIGITAL_POST: DigitalPost(settings, memo),
        ChannelName.PRINT: Print(printing),
        ChannelName.MAIL: Mail(settings.mail_from, mail),
    }


@dataclass
class Runtime:
    settings: Settings
    clock: Clock
    client: redis.Redis
    store: Store
    planner: Planner
    renderer: Renderer
    pdf: PdfRenderer
    broker: dramatiq.Broker
    deliverer: Deliverer
    dispatcher: Dispatcher
    channels: dict[ChannelName, Channel] = field(default_factory=dict)
    callbacks: CallbackSender | None = None  # issue 13: with NOTIFIER_CALLBACK_URL

    def close(self) -> None:
        """Close the channels' connections (SMTP, the gateway's HTTP pool)."""
        for channel in self.channels.values():
            channel.close()
        if self.callbacks is not None:
            self.callbacks.close()


def build_runtime(
    settings: Settings,
    *,
    clock: Clock | None = None,
    client: redis.Redis | None = None,
    channels: dict[ChannelName, Channel] | None = None,
) -> Runtime:
    """Everything, built once. Tests pass fakes for the clock, the client and channels."""
    clock = clock or SystemClock()
    client = client if client is not None else redis_client(settings)
    # Issue 13: the outbox also feeds the file drop (NOTIFIER_FILE_DROP_DIR).
    outbox = settings.callback_url is not None or settings.file_drop_dir is not None
    store = Store(client, Durability(settings.replicas_to_confirm, settings.redis_wait_timeout),
                  callbacks=outbox)
    planner = build_planner(settings)
    catalog = load_catalog(settings.letters_dir)
    renderer = Renderer(settings.letters_dir, catalog, settings.zone)
    pdf = PdfRenderer(settings.letters_dir)
    channels = channels or build_channels(settings, clock)
    broker = build_broker(client)
    deliverer = Deliverer(store, planner, renderer, pdf, channels, clock, settings)
    callbacks = (CallbackSender(store, catalog, pdf, clock, settings, stamp=SystemClock())
                 if outbox else None)
    declare_actors(broker, deliverer, callbacks)
    dispatcher = Dispatcher(store, broker, clock, settings,
                            CallbackOutbox(store) if callbacks is not None else None)
    return Runtime(settings, clock, client, store, planner, renderer, pdf, broker, deliverer,
                   dispatcher, channels, callbacks)

"""One typed settings object, read once at each entry point from ``NOTIFIER_*`` variables.

An unknown ``NOTIFIER_*`` variable is an error: a misspelt setting must not silently fall
back to its default (``NOTIFIER_REDIS_ULR`` would otherwise run on the embedded store).
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from datetime import time
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from notifier.errors import ConfigError

PACKAGE_DIR = Path(__file__).resolve().parent
ENV_PREFIX = "NOTIFIER_"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    redis_url: str | None = Field(
        default=None, description="Redis URL; unset runs the embedded, non-persistent store"
    )
    outbox_dir: Path = Field(default=Path("outbox"), description="Where file transports write")
    rules_dir: Path = Field(default=PACKAGE_DIR / "schedules", description="schedules/*.toml")
    letters_dir: Path = Field(default=PACKAGE_DIR / "letters" / "da", description="Templates")
    timezone: str = Field(default="Europe/Copenhagen", description="Zone rules are decided in")
    send_window_start: time = Field(default=time(8, 0), description="Earliest local send time")
    send_window_end: time = Field(default=time(17, 0), description="Latest local send time")

    sender_cvr: str = Field(default="29189366", description="The municipality's CVR (MeMo Sender)")
    sender_name: str = Field(default="Jobcenter Eksempel Kommune", description="Sender label")
    jobcenter_address: str = Field(default="Rådhuspladsen 1, 2630 Eksempelby")
    jobcenter_phone: str = Field(default="70 10 20 30")
    jobcenter_email: str = Field(default="jobcenter@eksempel.dk")
    jobcenter_opening_hours: str = Field(
        default="Mandag-onsdag 9-15, torsdag 9-17, fredag 9-13"
    )
    secure_mail_url: str = Field(default="https://www.borger.dk/sikkerpost")
    self_service_url: str = Field(default="https://selvbetjening.eksempel.dk/sygedagpenge")
    caseworker_url: str = Field(
        default="http://localhost:8000/ui/cases", description="Link base for caseworker alerts"
    )

    digital_post_transport: Literal["file", "http"] = Field(
        default="file", description="file: MeMo files in the outbox; http: the SF1601 gateway"
    )
    digital_post_pdf: bool = Field(
        default=True, description="MeMo main document as PDF (HTML alternative); false: HTML"
    )
    print_transport: Literal["file", "http"] = Field(
        default="file", description="file: PDF + address JSON in the outbox; http: gateway"
    )
    gateway_url: str | None = Field(
        default=None, description="SF1601 kombi endpoint (https) for the http transports"
    )
    gateway_cert_file: Path | None = Field(default=None, description="Client certificate (PEM)")
    gateway_key_file: Path | None = Field(default=None, description="Client key (PEM)")
    gateway_ca_file: Path | None = Field(default=None, description="CA bundle for the gateway")
    gateway_timeout: float = Field(default=30.0, gt=0, description="Seconds per gateway call")

    # Issue 12: Serviceplatformen SF1601 as the real one speaks it (STS tokens, kombi,
    # Fjernprint, MeMo 1.2, PostForespoerg). See docs/digital-post.md.
    postforespoerg_url: str | None = Field(
        default=None, description="SF1601 PostForespoerg_1 base URL (https)"
    )
    sts_url: str | None = Field(
        default=None, description="STS REST issue endpoint (…/runtime/api/rest/wstrust/v1/issue)"
    )
    token_url: str | None = Field(
        default=None, description="AccessTokenService_1/token endpoint (https)"
    )
    gateway_p12_file: Path | None = Field(
        default=None, description="OCES3 function certificate as PKCS#12 (instead of PEM files)"
    )
    gateway_p12_password: SecretStr | None = Field(default=None, description="PKCS#12 password")
    memo_version: Literal["1.2", "1.1"] = Field(default="1.2", description="MeMo version sent")
    print_type_id: int | None = Field(
        default=None, ge=1,
        description="ForsendelseTypeIdentifikator from the municipality's print agreement",
    )
    print_category: Literal["A", "B"] = Field(
        default="B", description="Fjernprint PostKategoriKode: A = Prioritaire, B = Economique"
    )
    authority_cvr: str | None = Field(
        default=None, description="AnvenderKontekst.Cvr for the STS; defaults to SENDER_CVR"
    )
    token_refresh_seconds: int = Field(
        default=300, ge=0, description="Refresh a token this long before it expires"
    )
    uncertain_wait_seconds: int = Field(
        default=24 * 3600, ge=60,
        description="How long an uncertain letter waits for its PKO_PostStatus before it is "
                    "resent with the same ids",
    )
    paper_resend_on_failure: bool = Field(
        default=True, description="A citizen's Digital Post letter whose PKO_PostStatus is "
                                  "Fejlet is resent by paper post")
    beskedfordeler_host: str = Field(default="127.0.0.1", description="Receipt listener host")
    beskedfordeler_port: int = Field(default=8443, ge=0, le=65535,
                                     description="Receipt listener port (mutual TLS)")
    beskedfordeler_cert_file: Path | None = Field(
        default=None, description="The receipt listener's server certificate (PEM)")
    beskedfordeler_key_file: Path | None = Field(default=None, description="Its key (PEM)")
    beskedfordeler_client_ca_file: Path | None = Field(
        default=None, description="CA bundle the Beskedfordeler's client certificate must "
                                  "chain to")
    beskedfordeler_client_subject: str | None = Field(
        default=None, description="If set, a substring the client certificate's subject "
                                  "must contain")
    postforespoerg_cache_seconds: int = Field(
        default=300, ge=0, description="How long a PostForespoerg answer is reused"
    )

    mail_transport: Literal["file", "smtp"] = Field(
        default="file", description="file: .eml files in the outbox; smtp: send"
    )
    smtp_host: str = Field(default="localhost", description="SMTP server")
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_tls: Literal["starttls", "implicit", "none"] = Field(
        default="starttls", description="starttls (required), implicit TLS, or none (dev only)"
    )
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_ca_file: Path | None = Field(default=None, description="CA bundle to verify SMTP")
    smtp_timeout: float = Field(default=30.0, gt=0, description="Seconds per SMTP operation")
    mail_from: str = Field(default="jobcenter@eksempel.dk", description="From address")

    api_host: str = Field(default="127.0.0.1", description="notifier api / serve bind host")
    api_port: int = Field(default=8000, ge=0, le=65535, description="API port (0 = any)")
    api_tokens: SecretStr = Field(
        default=SecretStr(""),
        description="Comma-separated role:name:sha256hex entries (see notifier token)",
    )
    api_max_body_bytes: int = Field(default=1_000_000, ge=1024, description="Request limit")

    dispatch_interval: float = Field(default=1.0, gt=0, description="Seconds between ticks")
    claim_batch: int = Field(default=500, ge=1, le=10_000, description="Letters per claim")
    lease_seconds: int = Field(default=300, ge=5, description="Claim lease before re-queue")
    max_queue_depth: int = Field(
        default=1000, ge=1, description="Claim no more while the work queue holds this many"
    )
    max_attempts: int = Field(default=12, ge=1, description="Send attempts before dead")
    retry_base_seconds: int = Field(default=30, ge=1, description="First retry delay")
    retry_max_seconds: int = Field(default=6 * 3600, ge=60, description="Give up after this")
    worker_threads: int = Field(default=4, ge=1, le=64)
    stop_seconds: float = Field(
        default=45.0, gt=0, le=3600,
        description="On SIGTERM a worker waits this long for the letters in hand, then exits "
                    "(a letter cut off is taken again after its lease, under the same id)")

    # --- issue 17 (security review): addresses, sessions, tokens, logins, rendering ---
    email_domains: str = Field(
        default="", description="Comma-separated domains e-mail fields must be in (empty: any)"
    )
    dev_mode: bool = Field(
        default=False, description="Plain-http development: the session cookie is not Secure"
    )
    session_idle_minutes: int = Field(default=30, ge=1, description="A session ends unused")
    session_max_hours: int = Field(default=10, ge=1, description="A session ends regardless")
    token_days: int = Field(default=365, ge=1, description="Expiry of tokens stored in Redis")
    trusted_proxies: str = Field(
        default="", description="Comma-separated proxy addresses whose X-Forwarded-For counts"
    )
    login_burst: int = Field(default=10, ge=1, description="Failed logins per address ...")
    login_window_seconds: int = Field(default=300, ge=1, description="... in this window: 429")
    letter_max_chars: int = Field(
        default=50_000, ge=1000, description="Text of one letter (ad hoc and rendered)"
    )
    render_timeout: float = Field(default=20.0, gt=0, description="Seconds per PDF render")
    pdf_cache_entries: int = Field(default=64, ge=0, description="Sent PDFs kept in memory")
    api_header_timeout: float = Field(default=10.0, gt=0, description="Seconds for a request head")
    api_body_timeout: float = Field(default=30.0, gt=0, description="Seconds for a request body")
    api_limit_concurrency: int = Field(
        default=200, ge=1, description="Connections and requests at once before 503"
    )
    api_docs: Literal["token", "off"] = Field(
        default="token", description="token: /docs and /openapi.json need a token; off: none"
    )
    # --- issue 11: paper post ---------------------------------------------------------
    postal_days: int = Field(
        default=5, ge=0, le=30,
        description="Working days a printed letter takes to arrive (the distributor's terms)")

    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["auto", "json", "console"] = "auto"

    # --- issue 15: Redis Sentinel and replica-confirmed writes (docs/high-availability.md)
    redis_sentinels: str | None = Field(
        default=None, description="host:port,host:port of Sentinels; instead of REDIS_URL")
    redis_sentinel_master: str = Field(
        default="notifier", min_length=1, description="The master name the Sentinels monitor")
    redis_db: int = Field(default=0, ge=0, description="Database number (with Sentinels)")
    redis_wait_replicas: int | None = Field(
        default=None, ge=0, le=16,
        description="Replicas a write must reach (WAIT) before it is acknowledged; "
                    "unset: 1 with Sentinels, 0 without")
    redis_wait_timeout: float = Field(
        default=1.0, gt=0, le=30, description="Seconds to wait for the replicas to confirm")

    # --- issue 13: signed callbacks to the case system (Standard Webhooks) -------------
    callback_url: str | None = Field(
        default=None, description="Where status callbacks go (https; http only to loopback); "
                                  "unset: no callbacks are written")
    callback_secrets: SecretStr | None = Field(
        default=None, description="Comma-separated whsec_ secrets; the first signs (rotation)")
    callback_timeout: float = Field(default=10.0, gt=0, le=120, description="Seconds per POST")
    callback_retry_base_seconds: int = Field(
        default=10, ge=1, description="First retry delay; it doubles up to the maximum")
    callback_retry_max_seconds: int = Field(
        default=3600, ge=1, description="Longest delay between two attempts")
    callback_dead_seconds: int = Field(
        default=3 * 86400, ge=60, description="A callback not accepted by then is dead")
    # --- issue 13 (part 2): operations page, sweeper, certificate warning, file drop ----
    sweep_interval: float = Field(
        default=60.0, gt=0, le=86400, description="Seconds between the scheduler's sweeps "
                                                  "for stranded letters and callbacks")
    overdue_seconds: int = Field(
        default=900, ge=60, description="A due letter not claimed this long after its time "
                                        "is overdue (operations page, sweeper)")
    certificate_warn_days: int = Field(
        default=30, ge=1, le=365, description="Warn this many days before the Digital Post "
                                              "certificate expires")
    file_drop_dir: Path | None = Field(
        default=None, description="If set, each sent letter's PDF and metadata JSON are "
                                  "written here (temp file + rename) for an ESDH import")

    # --- issue 14 (14b): the access log (tilgangslog) -----------------------------------
    access_log_retention_days: int = Field(
        default=1825, ge=1, description="Access-log entries are kept this long (then archived "
                                        "with the case, or dropped)")
    access_log_coalesce_seconds: int = Field(
        default=60, ge=0, description="The same read by the same person within this many "
                                      "seconds is one entry (0: every request)")

    # --- issue 14a: retention and archive (notifier/records/retention.py, docs/retention.md) ----
    retention_enabled: bool = Field(
        default=False, description="The scheduler archives and purges closed cases daily "
                                   "(needs NOTIFIER_ARCHIVE_DIR)")
    retention_days: int = Field(
        default=90, ge=0, le=36500,
        description="Days after a case's closed_on before it is archived and purged")
    retention_receipt_wait_days: int = Field(
        default=14, ge=0, le=3650,
        description="A sent Digital Post letter without a business receipt is awaiting one "
                    "this many days after it was sent (its case is not purged meanwhile)")
    retention_run_at: time = Field(default=time(2, 30),
                                   description="Local time of the scheduler's daily run")
    retention_batch: int = Field(default=1000, ge=1, le=100_000,
                                 description="Cases archived and purged per run at most")
    archive_dir: Path | None = Field(
        default=None, description="Where purged cases are archived, one folder each (in "
                                  "production a mounted durable volume)")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("send_window_end")
    @classmethod
    def _window_order(cls, value: time, info: ValidationInfo) -> time:
        start = info.data.get("send_window_start")
        if start is not None and start >= value:
            raise ValueError(f"must be after NOTIFIER_SEND_WINDOW_START ({start:%H:%M})")
        return value

    @field_validator("sender_cvr")
    @classmethod
    def _valid_cvr(cls, value: str) -> str:
        from notifier.identifiers import cvr_problem

        problem = cvr_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("gateway_url", "postforespoerg_url", "sts_url", "token_url", "callback_url")
    @classmethod
    def _gateway_scheme(cls, value: str | None) -> str | None:
        if value is None:
            return value
        parts = urlsplit(value)
        # Plain http would carry CPR numbers in the clear; only a loopback test gateway may.
        if parts.scheme != "https" and not (parts.scheme == "http" and _loopback(value)):
            raise ValueError("must be an https URL (http only to a loopback address)")
        return value

    @field_validator("redis_sentinels")
    @classmethod
    def _sentinel_list(cls, value: str | None) -> str | None:
        if value is not None:
            from notifier.store.replication import parse_sentinels

            parse_sentinels(value)  # ValueError names the bad entry
        return value

    @model_validator(mode="after")
    def _one_redis(self) -> Settings:
        if self.redis_url is not None and self.redis_sentinels is not None:
            raise ValueError("set NOTIFIER_REDIS_URL or NOTIFIER_REDIS_SENTINELS, not both")
        if self.redis_db and self.redis_sentinels is None:
            raise ValueError("NOTIFIER_REDIS_DB is for NOTIFIER_REDIS_SENTINELS (a "
                             "NOTIFIER_REDIS_URL names its database itself)")
        if self.embedded and self.redis_wait_replicas:
            raise ValueError("NOTIFIER_REDIS_WAIT_REPLICAS needs a real Redis (the embedded "
                             "store has no replicas)")
        return self

    @model_validator(mode="after")
    def _retention_archive(self) -> Settings:
        """Issue 14a: nothing is purged without a place to archive it first."""
        if self.retention_enabled and self.archive_dir is None:
            raise ValueError("NOTIFIER_ARCHIVE_DIR is required with NOTIFIER_RETENTION_ENABLED")
        return self

    @property
    def replicas_to_confirm(self) -> int:
        """How many replicas must confirm an acknowledged write (0: the primary alone)."""
        if self.redis_wait_replicas is not None:
            return self.redis_wait_replicas
        return 1 if self.redis_sentinels else 0

    @model_validator(mode="after")
    def _transports_configured(self) -> Settings:
        uses_gateway = "http" in (self.digital_post_transport, self.print_transport)
        if uses_gateway and not self.gateway_url:
            raise ValueError("NOTIFIER_GATEWAY_URL is required when a transport is 'http'")
        if bool(self.gateway_cert_file) != bool(self.gateway_key_file):
            raise ValueError("NOTIFIER_GATEWAY_CERT_FILE and _KEY_FILE go together")
        self._serviceplatformen_configured(uses_gateway)
        self._caseworker_link_reachable(uses_gateway)
        return self

    def _caseworker_link_reachable(self, uses_gateway: bool) -> None:
        """Sending through a real (non-loopback) Serviceplatformen is production: a
        caseworker's alert must then link to a case page they can open, not to localhost."""
        if not uses_gateway or _loopback(self.gateway_url):
            return
        parts = urlsplit(self.caseworker_url)
        if parts.scheme != "https" or _loopback(self.caseworker_url):
            raise ValueError("NOTIFIER_CASEWORKER_URL must be the https address caseworkers "
                             "open /ui/cases at (not localhost) when sending through the real "
                             "Serviceplatformen")

    def _serviceplatformen_configured(self, uses_gateway: bool) -> None:
        """Issue 12: the real platform needs every part of the token flow and a certificate."""
        if self.gateway_p12_file and self.gateway_cert_file:
            raise ValueError("NOTIFIER_GATEWAY_P12_FILE or NOTIFIER_GATEWAY_CERT_FILE, not both")
        if not uses_gateway:
            return
        missing = [name for name, value in (
            ("NOTIFIER_STS_URL", self.sts_url), ("NOTIFIER_TOKEN_URL", self.token_url),
            ("NOTIFIER_GATEWAY_CERT_FILE (or NOTIFIER_GATEWAY_P12_FILE)",
             self.gateway_cert_file or self.gateway_p12_file),
        ) if not value]
        if self.digital_post_transport == "http" and not self.postforespoerg_url:
            missing.append("NOTIFIER_POSTFORESPOERG_URL")
        if self.print_transport == "http" and self.print_type_id is None:
            missing.append("NOTIFIER_PRINT_TYPE_ID")
        if missing:
            raise ValueError(f"{', '.join(missing)}: required when a transport is 'http'")

    @model_validator(mode="after")
    def _callbacks_configured(self) -> Settings:
        """Issue 13: a callback URL needs at least one valid Standard Webhooks secret."""
        if self.callback_url is None:
            return self
        if not self.callback_secret_list:
            raise ValueError("NOTIFIER_CALLBACK_SECRETS is required with NOTIFIER_CALLBACK_URL")
        for number, secret in enumerate(self.callback_secret_list, start=1):
            if not _webhook_secret(secret):
                raise ValueError(f"NOTIFIER_CALLBACK_SECRETS: secret {number} is not a "
                                 "whsec_ secret (whsec_ + base64 of at least 24 bytes)")
        return self

    @property
    def callback_secret_list(self) -> tuple[str, ...]:
        raw = self.callback_secrets.get_secret_value() if self.callback_secrets else ""
        return tuple(s.strip() for s in raw.split(",") if s.strip())

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def embedded(self) -> bool:
        return self.redis_url is None and self.redis_sentinels is None

    @property
    def email_domain_list(self) -> tuple[str, ...]:
        return tuple(d.strip().lower() for d in self.email_domains.split(",") if d.strip())

    @property
    def trusted_proxy_list(self) -> frozenset[str]:
        return frozenset(p.strip() for p in self.trusted_proxies.split(",") if p.strip())


def _webhook_secret(secret: str) -> bool:
    """A Standard Webhooks secret: ``whsec_`` + base64 of 24 to 64 random bytes."""
    import base64
    import binascii

    if not secret.startswith("whsec_"):
        return False
    try:
        key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        return False
    return 24 <= len(key) <= 64


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """Messages for ``NOTIFIER_*`` variables that name no setting, with a suggestion."""
    known = {name.upper() for name in Settings.model_fields}
    messages = []
    for var in sorted(environ):
        name = var.upper().removeprefix(ENV_PREFIX)
        if var.upper().startswith(ENV_PREFIX) and (name not in known or var != var.upper()):
            close = difflib.get_close_matches(name, sorted(known), n=1)
            hint = f" (did you mean {ENV_PREFIX}{close[0]}?)" if close else ""
            messages.append(f"{var}: unknown setting{hint}")
    return messages


def load_settings(**overrides: object) -> Settings:
    """Read settings once from the environment; raise ConfigError naming every bad variable.

    ``overrides`` are command-line values; they win over the environment.
    """
    problems = unknown_variables(os.environ)
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        for err in exc.errors():
            message = str(err["msg"]).removeprefix("Value error, ")
            if err["loc"]:
                name = ENV_PREFIX + ".".join(str(p) for p in err["loc"]).upper()
                message = f"{name}: {message}"
            problems.append(message)
    else:
        if not problems:
            return settings
    raise ConfigError("invalid settings: " + "; ".join(problems))


def _loopback(url: str | None) -> bool:
    return urlsplit(url or "").hostname in {"127.0.0.1", "localhost", "::1"}

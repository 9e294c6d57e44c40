"""Settings: one frozen dataclass built from PUSHGATE_* environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TypeVar

from worker.chatops.settings import ChatSettings
from worker.durations import parse_duration, parse_schedule
from worker.errors import ConfigurationError
from worker.policies import DaemonPushMode, LogFormat
from worker.secret import Secret as Secret  # where every caller has found it
from worker.waits import WaitSettings

PREFIX = "PUSHGATE_"
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
E = TypeVar("E", bound=StrEnum)


# Standard Webhooks: after an immediate first attempt, retry after these delays.
WEBHOOK_RETRY_SCHEDULE = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)


class _Env:
    """Typed readers of PUSHGATE_* variables; a bad value is a ConfigurationError naming it."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ

    def raw(self, name: str) -> str | None:
        """The variable's value, None when unset or empty (`name` without the prefix)."""
        return self.environ.get(PREFIX + name) or None

    def _bad(self, name: str, problem: str) -> ConfigurationError:
        return ConfigurationError(f"{PREFIX}{name}: {problem}")

    def text(self, name: str, default: str) -> str:
        """A string."""
        return self.raw(name) or default

    def duration(self, name: str, default: float) -> float:
        """Seconds, written as 30, 30s, 15m, 1h or 7d."""
        value = self.raw(name)
        if value is None:
            return default
        try:
            return parse_duration(value)
        except ConfigurationError as exc:
            raise self._bad(name, str(exc)) from None

    def integer(self, name: str, default: int, minimum: int = 1) -> int:
        """A whole number of at least `minimum`."""
        value = self.raw(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            raise self._bad(name, f"must be an integer, not {value!r}") from None
        if number < minimum:
            raise self._bad(name, f"must be at least {minimum}, not {number}")
        return number

    def flag(self, name: str, default: bool) -> bool:
        """A boolean: 1/true/yes/on or 0/false/no/off."""
        value = self.raw(name)
        if value is None:
            return default
        if value.strip().lower() in _TRUE:
            return True
        if value.strip().lower() in _FALSE:
            return False
        raise self._bad(name, f"must be true or false (1/0, yes/no), not {value!r}")

    def names(self, name: str) -> frozenset[str]:
        """A comma-separated list, lowercased."""
        return frozenset(
            item.strip().lower() for item in (self.raw(name) or "").split(",") if item.strip()
        )

    def path(self, name: str, *, docker_first: bool = False) -> Path | None:
        """A filesystem path; with `docker_first`, docker's own unprefixed variable wins."""
        docker = self.environ.get(name) or None if docker_first else None
        value = docker or self.raw(name)
        return Path(value) if value else None

    def choice(self, name: str, enum: type[E], default: E) -> E:
        """One of an enum's values."""
        value = self.raw(name)
        if value is None:
            return default
        try:
            return enum(value.strip().lower())
        except ValueError:
            allowed = ", ".join(member.value for member in enum)
            raise self._bad(name, f"must be one of {allowed}, not {value!r}") from None

    def schedule(self, name: str, default: tuple[float, ...]) -> tuple[float, ...]:
        """Comma-separated durations."""
        value = self.raw(name)
        if value is None:
            return default
        try:
            return parse_schedule(value)
        except ConfigurationError as exc:
            raise self._bad(name, str(exc)) from None

    def secret(self, name: str) -> Secret | None:
        """A secret given as NAME, or read from the file NAME_FILE names (on first use)."""
        value = self.raw(name)
        if value is not None:
            return Secret(value)
        path = self.path(f"{name}_FILE")
        return Secret.from_file(path, f"{PREFIX}{name}_FILE") if path else None


@dataclass(frozen=True)
class Settings:
    """Everything pushgate's processes are configured with."""

    redis_url: str = "redis://127.0.0.1:6379/0"  # also rediss:// and sentinel:// (README)
    redis_ca_file: Path | None = None  # rediss://: CA bundle that signed Redis's certificate
    redis_cert_file: Path | None = None  # rediss://: client certificate, when Redis asks for one
    redis_key_file: Path | None = None
    redis_sentinel_master: str = "mymaster"  # sentinel://: the monitored master's name
    redis_password: Secret | None = field(default=None, repr=False)  # unless the URL has one
    registry: str = "registry.replicated.com"
    registry_username: str = "pushgate"
    registry_token: Secret | None = field(default=None, repr=False)
    insecure_registries: frozenset[str] = frozenset()
    token_realm_hosts: frozenset[str] = frozenset()  # trusted for every registry's tokens
    registry_token_realm_hosts: frozenset[str] = frozenset()  # for the vendor registry's
    source_registries: frozenset[str] = frozenset()
    api_keys_file: Path | None = None
    targets_file: Path | None = None
    apps_file: Path | None = None  # per-app policies (worker/apps_file.py)
    credential_helper_ttl: float = 1800.0
    docker_config: Path | None = None
    job_retention: float = 7 * 86400.0
    copy_concurrency: int = 4
    progress_interval: float = 0.5
    max_attempts: int = 3
    default_deadline: float = 3600.0
    max_deadline: float = 6 * 3600.0
    retry_attempts: int = 100  # a hot-loop guard per request; retry_max_wait is the budget
    retry_max_wait: float = 120.0
    stall_timeout: float = 30.0
    # Per host and process; well above the jobs, since on a slow link each request waits.
    registry_concurrency: int = 64
    worker_concurrency: int = 32  # pushes at once per worker process (threads)
    blob_streams: int = 32  # blob transfers at once in a process, shared fairly by its jobs
    chunk_threshold: int = 128 * 1024 * 1024
    chunk_size: int = 512 * 1024 * 1024  # the most one PATCH carries
    heartbeat_interval: float = 5.0
    heartbeat_timeout: float = 30.0
    reconcile_interval: float = 10.0
    daemon_sources: bool = False
    docker_host: str | None = None
    daemon_push: DaemonPushMode = DaemonPushMode.EXPORT
    log_level: str = "INFO"
    log_format: LogFormat = LogFormat.TEXT
    metrics_port: int | None = None  # a worker host's /metrics; the API serves its own
    default_rate: int = 60  # pushes per minute per API key, unless its entry says `rate`
    default_max_active: int = 100  # queued + running jobs per API key (`max_active`)
    shutdown_grace: float = 20.0  # SIGTERM: running jobs get this long, then are handed back
    liveness_file: Path | None = None  # a worker touches it every few seconds (liveness probe)
    webhooks_file: Path | None = None
    webhook_hosts: frozenset[str] = frozenset()
    webhook_timeout: float = 15.0
    webhook_retry_schedule: tuple[float, ...] = WEBHOOK_RETRY_SCHEDULE
    chat: ChatSettings = field(default_factory=ChatSettings)
    waits: WaitSettings = field(default_factory=WaitSettings)  # long-polls

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build Settings from `environ` (default: os.environ); unknown keys are ignored."""
        env = _Env(os.environ if environ is None else environ)
        d = cls  # the defaults
        return cls(
            redis_url=env.text("REDIS_URL", d.redis_url),
            redis_ca_file=env.path("REDIS_CA_FILE"),
            redis_cert_file=env.path("REDIS_CERT_FILE"),
            redis_key_file=env.path("REDIS_KEY_FILE"),
            redis_sentinel_master=env.text("REDIS_SENTINEL_MASTER", d.redis_sentinel_master),
            redis_password=env.secret("REDIS_PASSWORD"),
            registry=env.text("REGISTRY", d.registry),
            registry_username=env.text("REGISTRY_USERNAME", d.registry_username),
            registry_token=env.secret("REGISTRY_TOKEN"),
            insecure_registries=env.names("INSECURE_REGISTRIES"),
            token_realm_hosts=env.names("TOKEN_REALM_HOSTS"),
            registry_token_realm_hosts=env.names("REGISTRY_TOKEN_REALM_HOSTS"),
            source_registries=env.names("SOURCE_REGISTRIES"),
            api_keys_file=env.path("API_KEYS_FILE"),
            targets_file=env.path("TARGETS_FILE"),
            apps_file=env.path("APPS_FILE"),
            credential_helper_ttl=env.duration("CREDENTIAL_HELPER_TTL", d.credential_helper_ttl),
            docker_config=env.path("DOCKER_CONFIG", docker_first=True),
            job_retention=env.duration("JOB_RETENTION", d.job_retention),
            copy_concurrency=env.integer("COPY_CONCURRENCY", d.copy_concurrency),
            progress_interval=env.duration("PROGRESS_INTERVAL", d.progress_interval),
            max_attempts=env.integer("MAX_ATTEMPTS", d.max_attempts),
            default_deadline=env.duration("DEFAULT_DEADLINE", d.default_deadline),
            max_deadline=env.duration("MAX_DEADLINE", d.max_deadline),
            retry_attempts=env.integer("RETRY_ATTEMPTS", d.retry_attempts),
            retry_max_wait=env.duration("RETRY_MAX_WAIT", d.retry_max_wait),
            stall_timeout=env.duration("STALL_TIMEOUT", d.stall_timeout),
            registry_concurrency=env.integer("REGISTRY_CONCURRENCY", d.registry_concurrency),
            blob_streams=env.integer("BLOB_STREAMS", d.blob_streams),
            worker_concurrency=env.integer("WORKER_CONCURRENCY", d.worker_concurrency),
            chunk_threshold=env.integer("CHUNK_THRESHOLD", d.chunk_threshold),
            chunk_size=env.integer("CHUNK_SIZE", d.chunk_size),
            heartbeat_interval=env.duration("HEARTBEAT_INTERVAL", d.heartbeat_interval),
            heartbeat_timeout=env.duration("HEARTBEAT_TIMEOUT", d.heartbeat_timeout),
            reconcile_interval=env.duration("RECONCILE_INTERVAL", d.reconcile_interval),
            daemon_sources=env.flag("DAEMON_SOURCES", d.daemon_sources),
            docker_host=env.raw("DOCKER_HOST") or env.environ.get("DOCKER_HOST") or None,
            daemon_push=env.choice("DAEMON_PUSH", DaemonPushMode, d.daemon_push),
            log_level=env.text("LOG_LEVEL", d.log_level),
            log_format=env.choice("LOG_FORMAT", LogFormat, d.log_format),
            metrics_port=env.integer("METRICS_PORT", 0, minimum=0) or None,
            default_rate=env.integer("DEFAULT_RATE", d.default_rate),
            default_max_active=env.integer("DEFAULT_MAX_ACTIVE", d.default_max_active),
            shutdown_grace=env.duration("SHUTDOWN_GRACE", d.shutdown_grace),
            liveness_file=env.path("LIVENESS_FILE"),
            webhooks_file=env.path("WEBHOOKS_FILE"),
            webhook_hosts=env.names("WEBHOOK_HOSTS"),
            webhook_timeout=env.duration("WEBHOOK_TIMEOUT", d.webhook_timeout),
            webhook_retry_schedule=env.schedule("WEBHOOK_RETRY_SCHEDULE", d.webhook_retry_schedule),
            chat=ChatSettings.read(env),
            waits=WaitSettings.read(env),
        )

    def source_allowed(self, registry: str) -> bool:
        """True when callers may name `registry` as a source."""
        return "*" in self.source_registries or registry.lower() in self.source_registries

    def is_insecure(self, registry: str) -> bool:
        """True when `registry` is reached over plain HTTP."""
        return registry.lower() in self.insecure_registries

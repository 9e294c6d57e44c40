"""Settings: one frozen dataclass built from PUSHGATE_* environment variables."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from worker.errors import ConfigurationError

PREFIX = "PUSHGATE_"
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


class Secret:
    """A credential that never shows its value in repr(), str() or logs."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret value, for the one place that must send it."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def parse_duration(text: str) -> float:
    """Seconds in `text`, which is a number with an optional unit s, m, h or d."""
    match = _DURATION_RE.match(text)
    if not match:
        raise ConfigurationError(f"invalid duration {text!r}: use e.g. 30s, 15m, 1h or 7d")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def _split_list(text: str) -> frozenset[str]:
    return frozenset(item.strip().lower() for item in text.split(",") if item.strip())


@dataclass(frozen=True)
class Settings:
    """Everything pushgate's processes are configured with."""

    redis_url: str = "redis://127.0.0.1:6379/0"  # also rediss:// and sentinel:// (README)
    redis_ca_file: Path | None = None  # rediss://: CA bundle that signed Redis's certificate
    redis_cert_file: Path | None = None  # rediss://: client certificate, when Redis asks for one
    redis_key_file: Path | None = None
    redis_sentinel_master: str = "mymaster"  # sentinel://: the monitored master's name
    registry: str = "registry.replicated.com"
    registry_username: str = "pushgate"
    registry_token: Secret | None = field(default=None, repr=False)
    insecure_registries: frozenset[str] = frozenset()
    source_registries: frozenset[str] = frozenset()
    api_keys_file: Path | None = None
    docker_config: Path | None = None
    job_retention: float = 7 * 86400.0
    copy_concurrency: int = 4
    progress_interval: float = 0.5
    request_timeout: float = 60.0
    max_attempts: int = 3
    default_deadline: float = 3600.0
    max_deadline: float = 6 * 3600.0
    retry_attempts: int = 6
    retry_max_wait: float = 120.0
    stall_timeout: float = 30.0
    registry_concurrency: int = 8  # requests in flight per registry host, per process
    chunk_threshold: int = 128 * 1024 * 1024
    chunk_size: int = 64 * 1024 * 1024
    heartbeat_interval: float = 5.0
    heartbeat_timeout: float = 30.0
    reconcile_interval: float = 10.0
    daemon_sources: bool = False
    docker_host: str | None = None
    daemon_push: str = "export"  # or "sdk": tag + `docker push` through the daemon
    log_level: str = "INFO"
    shutdown_grace: float = 20.0  # SIGTERM: running jobs get this long, then are handed back
    liveness_file: Path | None = None  # a worker touches it every few seconds (liveness probe)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build Settings from `environ` (default: os.environ); unknown keys are ignored."""
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(PREFIX + name)
            return value if value not in (None, "") else None

        token = get("REGISTRY_TOKEN")
        token_file = get("REGISTRY_TOKEN_FILE")
        if token is None and token_file is not None:
            try:
                token = Path(token_file).read_text().strip()
            except OSError as exc:
                raise ConfigurationError(
                    f"cannot read PUSHGATE_REGISTRY_TOKEN_FILE {token_file}: {exc.strerror}"
                ) from None
        docker_config = env.get("DOCKER_CONFIG") or get("DOCKER_CONFIG")
        kwargs: dict[str, object] = {
            "registry_token": Secret(token) if token else None,
            "insecure_registries": _split_list(get("INSECURE_REGISTRIES") or ""),
            "source_registries": _split_list(get("SOURCE_REGISTRIES") or ""),
            "api_keys_file": Path(v) if (v := get("API_KEYS_FILE")) else None,
            "docker_config": Path(docker_config) if docker_config else None,
            "daemon_sources": (get("DAEMON_SOURCES") or "0").lower() in ("1", "true", "yes"),
            "docker_host": get("DOCKER_HOST") or env.get("DOCKER_HOST") or None,
        }
        for name in ("redis_ca_file", "redis_cert_file", "redis_key_file", "liveness_file"):
            if (v := get(name.upper())) is not None:
                kwargs[name] = Path(v)
        for name in (
            "redis_url",
            "registry",
            "registry_username",
            "log_level",
            "daemon_push",
            "redis_sentinel_master",
        ):
            if (v := get(name.upper())) is not None:
                kwargs[name] = v
        for name in (
            "job_retention",
            "progress_interval",
            "request_timeout",
            "default_deadline",
            "max_deadline",
            "retry_max_wait",
            "stall_timeout",
            "heartbeat_interval",
            "heartbeat_timeout",
            "reconcile_interval",
            "shutdown_grace",
        ):
            if (v := get(name.upper())) is not None:
                kwargs[name] = parse_duration(v)
        for name in (
            "copy_concurrency",
            "max_attempts",
            "retry_attempts",
            "registry_concurrency",
            "chunk_threshold",
            "chunk_size",
        ):
            if (v := get(name.upper())) is not None:
                try:
                    kwargs[name] = int(v)
                except ValueError:
                    raise ConfigurationError(f"{PREFIX}{name.upper()} must be an integer") from None
        return cls(**kwargs)  # type: ignore[arg-type]

    def source_allowed(self, registry: str) -> bool:
        """True when callers may name `registry` as a source."""
        return "*" in self.source_registries or registry.lower() in self.source_registries

    def is_insecure(self, registry: str) -> bool:
        """True when `registry` is reached over plain HTTP."""
        return registry.lower() in self.insecure_registries

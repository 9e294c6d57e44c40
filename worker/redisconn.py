"""Redis connections from PUSHGATE_REDIS_URL: plain, TLS (rediss://) or found through Sentinel.

The job store (redis-py) and Celery's broker (kombu) are configured from the same settings here,
so both reach the same server and both follow a Sentinel master after a failover."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import redis
from redis.sentinel import Sentinel

from worker.errors import ConfigurationError
from worker.redaction import register_secret
from worker.settings import Settings

SENTINEL_PORT = 26379
# Short timeouts: an outage surfaces within seconds as StoreUnavailable (503 + Retry-After).
CLIENT_TIMEOUTS = {"socket_timeout": 5, "socket_connect_timeout": 2}
SENTINEL_TIMEOUTS = {"socket_timeout": 2, "socket_connect_timeout": 2}


@dataclass(frozen=True)
class SentinelUrl:
    """What a sentinel:// URL names: the sentinels, the database, the master's credentials."""

    sentinels: tuple[tuple[str, int], ...]
    db: int
    username: str | None
    password: str | None

    def celery_url(self) -> str:
        """The URL in Celery's form: every sentinel as its own sentinel:// part."""
        auth = ""
        if self.password is not None:
            auth = f"{quote(self.username or '', safe='')}:{quote(self.password, safe='')}@"
        parts = (f"sentinel://{auth}{host}:{port}/{self.db}" for host, port in self.sentinels)
        return ";".join(parts)


def scheme_of(url: str) -> str:
    """The URL's scheme, lower case ('' when it has none)."""
    return url.split("://", 1)[0].lower() if "://" in url else ""


def parse_sentinel_url(url: str) -> SentinelUrl:
    """Parse `sentinel://[[user]:password@]host:port;host:port;.../db` (each part may repeat
    `sentinel://`, which is Celery's own form); ConfigurationError when it is malformed."""
    sentinels: list[tuple[str, int]] = []
    db, username, password = 0, None, None
    for part in (p.strip() for p in url.split(";")):
        if not part:
            continue
        split = urlsplit(part if "://" in part else f"sentinel://{part}")
        try:
            port = split.port or SENTINEL_PORT
            if split.scheme.lower() != "sentinel" or not split.hostname:
                raise ValueError(part)
            if split.path.strip("/"):
                db = int(split.path.strip("/"))
        except ValueError:
            raise ConfigurationError(
                "PUSHGATE_REDIS_URL: use sentinel://host:port;host:port/DB for Sentinel"
            ) from None
        if split.password is not None and password is None:
            username = unquote(split.username) if split.username else None
            password = unquote(split.password)
        sentinels.append((split.hostname, port))
    if not sentinels:
        raise ConfigurationError("PUSHGATE_REDIS_URL names no sentinel")
    return SentinelUrl(tuple(sentinels), db, username, password)


def tls_options(settings: Settings) -> dict[str, Any]:
    """ssl_* options for redis-py and kombu alike: verify the server, optional client cert."""
    options: dict[str, Any] = {"ssl_cert_reqs": ssl.CERT_REQUIRED}
    for option, path in (
        ("ssl_ca_certs", settings.redis_ca_file),
        ("ssl_certfile", settings.redis_cert_file),
        ("ssl_keyfile", settings.redis_key_file),
    ):
        if path is not None:
            if not path.is_file():
                raise ConfigurationError(f"Redis TLS file {path} does not exist")
            options[option] = str(path)
    return options


def redis_url(settings: Settings) -> str:
    """PUSHGATE_REDIS_URL with PUSHGATE_REDIS_PASSWORD(_FILE) in it when it has none of its
    own; either password is registered for redaction."""
    url = settings.redis_url
    password = settings.redis_password.reveal() if settings.redis_password else None
    if scheme_of(url) == "sentinel":
        given = parse_sentinel_url(url).password
        if given is None and password is not None:
            parts = url.split(";")
            for i, part in enumerate(parts):
                rest = part.split("://", 1)[-1]
                scheme = "sentinel://" if "://" in part else ""
                if "@" not in rest:
                    parts[i] = f"{scheme}:{quote(password, safe='')}@{rest}"
            url = ";".join(parts)
    else:
        split = urlsplit(url)
        given = unquote(split.password) if split.password is not None else None
        if given is None and password is not None and split.hostname is not None:
            url = split._replace(netloc=f":{quote(password, safe='')}@{split.netloc}").geturl()
    for secret in (given, password):
        if secret:
            register_secret(secret)
    return url


def redis_client(settings: Settings) -> redis.Redis:
    """A client of the Redis that `settings` names (through Sentinel: of the current master)."""
    url = redis_url(settings)
    scheme = scheme_of(url)
    common: dict[str, Any] = {"decode_responses": True, "health_check_interval": 10}
    if scheme == "sentinel":
        parsed = parse_sentinel_url(url)
        sentinel = Sentinel(  # type: ignore[no-untyped-call]
            list(parsed.sentinels), sentinel_kwargs=dict(SENTINEL_TIMEOUTS), **CLIENT_TIMEOUTS
        )
        client: redis.Redis = sentinel.master_for(  # type: ignore[no-untyped-call]
            settings.redis_sentinel_master,
            db=parsed.db,
            username=parsed.username,
            password=parsed.password,
            **common,
        )
        return client
    if scheme == "rediss":
        return redis.Redis.from_url(url, **common, **CLIENT_TIMEOUTS, **tls_options(settings))
    if scheme in ("redis", "unix"):
        return redis.Redis.from_url(url, **common, **CLIENT_TIMEOUTS)
    raise ConfigurationError(
        f"PUSHGATE_REDIS_URL must start with redis://, rediss://, unix:// or sentinel://, "
        f"not {scheme or 'no scheme'}"
    )


def broker_config(settings: Settings) -> dict[str, Any]:
    """Celery's broker_* settings for the same Redis the job store uses."""
    url = redis_url(settings)
    scheme = scheme_of(url)
    transport: dict[str, Any] = {
        # A message is redelivered after this if unacked; a job's heartbeat (not this) is
        # what the reconciler watches, so a dead worker's job comes back within a minute.
        "visibility_timeout": 3600,
        **CLIENT_TIMEOUTS,
    }
    config: dict[str, Any] = {"broker_url": url}
    if scheme == "sentinel":
        config["broker_url"] = parse_sentinel_url(url).celery_url()
        transport["master_name"] = settings.redis_sentinel_master
        transport["sentinel_kwargs"] = dict(SENTINEL_TIMEOUTS)
    elif scheme == "rediss":
        config["broker_use_ssl"] = tls_options(settings)
    config["broker_transport_options"] = transport
    return config

"""PUSHGATE_REDIS_URL forms: what the job store and Celery's broker are configured with."""

from __future__ import annotations

import ssl
from pathlib import Path
from urllib.parse import unquote

import pytest
import redis

from tests.support.services import RedisServer
from worker.celery import celery_config
from worker.errors import ConfigurationError
from worker.redaction import redact
from worker.redisconn import broker_config, parse_sentinel_url, redis_client
from worker.settings import Secret, Settings


def test_sentinel_url_in_both_forms_names_every_sentinel_and_the_database() -> None:
    short = parse_sentinel_url("sentinel://:s3cret@a:26380;b;c:1234/2")
    celery_form = parse_sentinel_url(
        "sentinel://:s3cret@a:26380/2;sentinel://b:26379/2;sentinel://c:1234/2"
    )
    assert short == celery_form
    assert short.sentinels == (("a", 26380), ("b", 26379), ("c", 1234))
    assert short.db == 2 and short.password == "s3cret" and short.username is None


@pytest.mark.parametrize(
    "url", ["sentinel://", "sentinel://a:notaport/0", "sentinel://a/x", "redis://a;sentinel://b"]
)
def test_malformed_sentinel_urls_are_refused(url: str) -> None:
    with pytest.raises(ConfigurationError):
        parse_sentinel_url(url)


def test_celery_follows_the_sentinel_master_the_store_follows() -> None:
    settings = Settings(redis_url="sentinel://a:1;b:2/3", redis_sentinel_master="main")
    config = celery_config(settings)
    assert config["broker_url"] == "sentinel://a:1/3;sentinel://b:2/3"
    assert config["broker_transport_options"]["master_name"] == "main"
    assert config["broker_transport_options"]["visibility_timeout"] == 3600
    pool = redis_client(settings).connection_pool
    assert pool.service_name == "main"  # type: ignore[attr-defined]
    assert pool.connection_kwargs["db"] == 3


def test_tls_verifies_the_server_with_the_ca_file_for_both(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("not read until connecting")
    settings = Settings(redis_url="rediss://r:6380/0", redis_ca_file=ca)
    use_ssl = broker_config(settings)["broker_use_ssl"]
    assert use_ssl == {"ssl_cert_reqs": ssl.CERT_REQUIRED, "ssl_ca_certs": str(ca)}
    kwargs = redis_client(settings).connection_pool.connection_kwargs
    assert kwargs["ssl_ca_certs"] == str(ca) and kwargs["ssl_cert_reqs"] == ssl.CERT_REQUIRED
    with pytest.raises(ConfigurationError, match="does not exist"):
        redis_client(Settings(redis_url="rediss://r/0", redis_ca_file=tmp_path / "missing"))


def test_unknown_schemes_are_refused_and_settings_read_the_new_variables() -> None:
    with pytest.raises(ConfigurationError, match="PUSHGATE_REDIS_URL"):
        redis_client(Settings(redis_url="http://r:6379"))
    settings = Settings.from_env(
        {
            "PUSHGATE_REDIS_CA_FILE": "/ca.pem",
            "PUSHGATE_REDIS_SENTINEL_MASTER": "m",
            "PUSHGATE_SHUTDOWN_GRACE": "1m",
            "PUSHGATE_LIVENESS_FILE": "/tmp/alive",
        }
    )
    assert settings.redis_ca_file == Path("/ca.pem") and settings.redis_sentinel_master == "m"
    assert settings.shutdown_grace == 60.0 and settings.liveness_file == Path("/tmp/alive")


def test_a_password_from_its_own_setting_reaches_a_redis_that_requires_it(
    tmp_path: Path,
) -> None:
    password = "redis-pass/with@odd:chars-" + tmp_path.name
    (tmp_path / "password").write_text(password + "\n")
    server = RedisServer(tmp_path / "redis", extra=("--requirepass", password))
    settings = Settings(
        redis_url=server.url, redis_password=Secret.from_file(tmp_path / "password", "P")
    )
    try:
        with pytest.raises(redis.exceptions.RedisError):  # NOAUTH without it
            redis_client(Settings(redis_url=server.url)).ping()
        assert redis_client(settings).ping()
    finally:
        server.stop()
    assert unquote(broker_config(settings)["broker_url"]).startswith(f"redis://:{password}@")
    assert password not in redact(f"cannot reach redis://:{password}@host")

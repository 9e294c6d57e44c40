"""Settings.from_env, variable by variable, and what a bad value says: pure, no services."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from worker.errors import ConfigurationError, CredentialsUnreadable
from worker.policies import DaemonPushMode, LogFormat
from worker.settings import Secret, Settings, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30", 30.0),
        ("30s", 30.0),
        ("1.5", 1.5),
        (" 15m ", 900.0),
        ("2h", 7200.0),
        ("7d", 7 * 86400.0),
        ("0.05", 0.05),
    ],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "-5s", "5 minutes", "1w", "1h30m", "s"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(ConfigurationError, match="invalid duration"):
        parse_duration(text)


def test_defaults_when_nothing_is_set() -> None:
    assert Settings.from_env({}) == Settings()


@pytest.mark.parametrize(
    ("variable", "value", "field", "expected"),
    [
        ("PUSHGATE_REDIS_URL", "redis://r:6380/2", "redis_url", "redis://r:6380/2"),
        ("PUSHGATE_REGISTRY", "reg.example:5000", "registry", "reg.example:5000"),
        ("PUSHGATE_REGISTRY_USERNAME", "vendor@x.io", "registry_username", "vendor@x.io"),
        ("PUSHGATE_REGISTRY_TOKEN", "tok", "registry_token", Secret("tok")),
        (
            "PUSHGATE_INSECURE_REGISTRIES",
            " A:5000, b:1 ,,",
            "insecure_registries",
            frozenset({"a:5000", "b:1"}),
        ),
        ("PUSHGATE_SOURCE_REGISTRIES", "*", "source_registries", frozenset({"*"})),
        ("PUSHGATE_API_KEYS_FILE", "/etc/keys.yaml", "api_keys_file", Path("/etc/keys.yaml")),
        ("PUSHGATE_DOCKER_CONFIG", "/cfg", "docker_config", Path("/cfg")),
        ("DOCKER_CONFIG", "/home/ci/.docker", "docker_config", Path("/home/ci/.docker")),
        ("PUSHGATE_JOB_RETENTION", "2d", "job_retention", 2 * 86400.0),
        ("PUSHGATE_COPY_CONCURRENCY", "8", "copy_concurrency", 8),
        ("PUSHGATE_PROGRESS_INTERVAL", "0.1", "progress_interval", 0.1),
        ("PUSHGATE_MAX_ATTEMPTS", "5", "max_attempts", 5),
        ("PUSHGATE_DEFAULT_DEADLINE", "30m", "default_deadline", 1800.0),
        ("PUSHGATE_MAX_DEADLINE", "12h", "max_deadline", 12 * 3600.0),
        ("PUSHGATE_RETRY_ATTEMPTS", "10", "retry_attempts", 10),
        ("PUSHGATE_RETRY_MAX_WAIT", "1m", "retry_max_wait", 60.0),
        ("PUSHGATE_STALL_TIMEOUT", "45s", "stall_timeout", 45.0),
        ("PUSHGATE_REGISTRY_CONCURRENCY", "2", "registry_concurrency", 2),
        ("PUSHGATE_BLOB_STREAMS", "12", "blob_streams", 12),
        ("PUSHGATE_WORKER_CONCURRENCY", "16", "worker_concurrency", 16),
        ("PUSHGATE_CHUNK_THRESHOLD", "1048576", "chunk_threshold", 1 << 20),
        ("PUSHGATE_CHUNK_SIZE", "524288", "chunk_size", 1 << 19),
        ("PUSHGATE_HEARTBEAT_INTERVAL", "1s", "heartbeat_interval", 1.0),
        ("PUSHGATE_HEARTBEAT_TIMEOUT", "1m", "heartbeat_timeout", 60.0),
        ("PUSHGATE_RECONCILE_INTERVAL", "5", "reconcile_interval", 5.0),
        ("PUSHGATE_DAEMON_SOURCES", "yes", "daemon_sources", True),
        ("PUSHGATE_DAEMON_SOURCES", "0", "daemon_sources", False),
        ("PUSHGATE_DOCKER_HOST", "tcp://d:2375", "docker_host", "tcp://d:2375"),
        ("DOCKER_HOST", "unix:///run/d.sock", "docker_host", "unix:///run/d.sock"),
        ("PUSHGATE_DAEMON_PUSH", "sdk", "daemon_push", DaemonPushMode.SDK),
        ("PUSHGATE_DAEMON_PUSH", "EXPORT", "daemon_push", DaemonPushMode.EXPORT),
        ("PUSHGATE_LOG_LEVEL", "DEBUG", "log_level", "DEBUG"),
        ("PUSHGATE_LOG_FORMAT", "JSON", "log_format", LogFormat.JSON),
        ("PUSHGATE_METRICS_PORT", "9100", "metrics_port", 9100),
        ("PUSHGATE_DEFAULT_RATE", "5", "default_rate", 5),
        ("PUSHGATE_DEFAULT_MAX_ACTIVE", "7", "default_max_active", 7),
    ],
)
def test_each_variable(variable: str, value: str, field: str, expected: object) -> None:
    settings = Settings.from_env({variable: value})
    assert getattr(settings, field) == expected
    # and nothing else moved
    others = {k: v for k, v in vars(settings).items() if k != field}
    assert others == {k: v for k, v in vars(Settings()).items() if k != field}


def test_docker_config_of_docker_wins_and_pushgate_docker_host_wins() -> None:
    settings = Settings.from_env(
        {
            "DOCKER_CONFIG": "/docker",
            "PUSHGATE_DOCKER_CONFIG": "/pushgate",
            "DOCKER_HOST": "unix:///docker.sock",
            "PUSHGATE_DOCKER_HOST": "unix:///pushgate.sock",
        }
    )
    assert settings.docker_config == Path("/docker")
    assert settings.docker_host == "unix:///pushgate.sock"


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("PUSHGATE_JOB_RETENTION", "a week", "invalid duration 'a week'"),
        ("PUSHGATE_HEARTBEAT_TIMEOUT", "-1s", "invalid duration"),
        ("PUSHGATE_COPY_CONCURRENCY", "four", "must be an integer, not 'four'"),
        ("PUSHGATE_MAX_ATTEMPTS", "0", "must be at least 1, not 0"),
        ("PUSHGATE_CHUNK_SIZE", "64MiB", "must be an integer"),
        ("PUSHGATE_DAEMON_SOURCES", "maybe", "must be true or false"),
        ("PUSHGATE_DAEMON_PUSH", "push", "must be one of export, sdk, not 'push'"),
        ("PUSHGATE_LOG_FORMAT", "xml", "must be one of text, json, not 'xml'"),
    ],
)
def test_bad_values_name_the_variable(variable: str, value: str, says: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env({variable: value})
    assert str(caught.value).startswith(f"{variable}: ")
    assert says in str(caught.value)


def test_empty_values_mean_the_default() -> None:
    assert Settings.from_env({"PUSHGATE_MAX_ATTEMPTS": "", "PUSHGATE_DAEMON_PUSH": ""}) == (
        Settings()
    )


def test_token_file_is_read_when_first_needed(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    settings = Settings.from_env({"PUSHGATE_REGISTRY_TOKEN_FILE": str(token_file)})
    assert settings.registry_token is not None  # no file yet: settings still load
    token_file.write_text("s3cret-token\n")
    assert settings.registry_token.reveal() == "s3cret-token"
    assert "s3cret" not in repr(settings) and "s3cret" not in str(settings.registry_token)


def test_inline_token_wins_over_the_file(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {"PUSHGATE_REGISTRY_TOKEN": "inline", "PUSHGATE_REGISTRY_TOKEN_FILE": "/nonexistent"}
    )
    assert settings.registry_token == Secret("inline")


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda p: None, "No such file or directory"),
        (lambda p: p.mkdir(), "Is a directory"),
        (lambda p: p.write_text("  \n"), "is empty"),
        (lambda p: p.write_bytes(b"\xff\xfe"), "not UTF-8 text"),
    ],
)
def test_unreadable_token_file_names_the_variable_and_the_file(
    tmp_path: Path, make: Callable[[Path], object], says: str
) -> None:
    path = tmp_path / "token"
    make(path)
    secret = Settings.from_env({"PUSHGATE_REGISTRY_TOKEN_FILE": str(path)}).registry_token
    assert secret is not None
    with pytest.raises(CredentialsUnreadable) as caught:
        secret.reveal()
    assert f"PUSHGATE_REGISTRY_TOKEN_FILE file {path}" in str(caught.value)
    assert says in str(caught.value)
    assert caught.value.type == "auth"

"""Chat-ops without a service: the grants file, the command parser, the messages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from worker.chatops.commands import CommandError, parse_command
from worker.chatops.grants import first_grant, load_grants
from worker.chatops.messages import MATTERMOST, SLACK, escape, event_message
from worker.errors import ConfigurationError
from worker.jobs.model import Job, JobError, JobStatus


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "chatops.json"
    path.write_text(json.dumps(data))
    return path


def test_the_first_matching_grant_wins_and_empty_lists_mean_any(tmp_path: Path) -> None:
    grants = load_grants(
        write(
            tmp_path,
            [
                {"key": "ops", "slack": {"team": "T1", "users": ["U1"]}},
                {"key": "everyone", "slack": {"team": "T1", "channels": []}},
                {"key": "mm", "mattermost": {}},
            ],
        )
    )
    assert first_grant(grants, "slack", "T1", "C9", "U1").key == "ops"  # type: ignore[union-attr]
    assert first_grant(grants, "slack", "T1", "C9", "U2").key == "everyone"  # type: ignore[union-attr]
    assert first_grant(grants, "slack", "T2", "C9", "U1") is None
    assert first_grant(grants, "mattermost", "any", "c", "u").key == "mm"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"slack": {}}, "`key`"),
        ({"key": "k"}, "at least one of"),
        ({"key": "k", "slack": {"channel": ["C1"]}}, "unknown field `channel`"),
        ({"key": "k", "slack": {"users": "U1"}}, "`users` must be a list"),
        ({"key": "k", "irc": {}}, "unknown field `irc`"),
    ],
)
def test_a_bad_grant_names_the_file_entry_and_field(
    tmp_path: Path, entry: dict[str, object], message: str
) -> None:
    path = write(tmp_path, [entry])
    with pytest.raises(ConfigurationError, match="grant #1") as caught:
        load_grants(path)
    assert message in str(caught.value) and str(path) in str(caught.value)


def test_push_takes_the_cli_flags() -> None:
    command = parse_command(
        "push ghcr.io/acme/worker:1.0.1 --app myapp --to ecr-prod --to replicated "
        "--extra-tag latest --platform linux/amd64 --attestations keep"
    )
    assert command.verb == "push" and command.push is not None
    assert command.push.targets == ["ecr-prod", "replicated"]
    assert command.push.extra_tags == ["latest"] and command.push.options.attestations == "keep"
    assert parse_command("status abc").job_id == "abc"
    assert parse_command("").verb == "help"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("push ghcr.io/a/b:1", "--app"),
        ("deploy x", "unknown command"),
        ("status", "one job id"),
        ("push x --app a --attestations maybe", "invalid choice"),
        ("push 'x --app a", "cannot split"),
    ],
)
def test_a_bad_command_says_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(CommandError, match=message):
        parse_command(text)


def test_registry_text_is_escaped_for_each_platform() -> None:
    assert escape(SLACK, "<!channel> & <http://x|y>") == "&lt;!channel&gt; &amp; &lt;http://x|y&gt;"
    assert escape(MATTERMOST, "@all *bold* [l](u)") == "@all \\*bold\\* \\[l\\](u)"
    job = Job(
        id="j1",
        status=JobStatus.FAILED,
        source="r.example/a:1",
        app_slug="myapp",
        image="a",
        tags=["1"],
        destinations=["v.example/myapp/a:1"],
        error=JobError("rejected", "Rejected", "registry said <!here> no"),
    )
    body = json.loads(event_message(SLACK, "push.failed", job))
    assert body["text"].startswith("Push failed")
    assert "&lt;!here&gt;" in body["blocks"][1]["text"]["text"]
    assert "<!here>" not in json.dumps(body)

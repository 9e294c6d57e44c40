"""Text log lines: what a caller sent cannot forge another line."""

from __future__ import annotations

import logging

from worker.logs import TextFormatter, escape_controls
from worker.webhooks.payload import slack_text


def test_control_characters_are_escaped_in_text_lines() -> None:
    record = logging.makeLogRecord(
        {"msg": "GET %s 404", "args": ("/x\n2026-01-01 INFO forged\x1b[31m\u2028",), "levelno": 20}
    )
    line = TextFormatter(logging.Formatter("%(message)s")).format(record)
    assert "\n" not in line and "\x1b" not in line and "\u2028" not in line
    assert line == "GET /x\\n2026-01-01 INFO forged\\x1b[31m\\u2028 404"


def test_printable_text_is_unchanged() -> None:
    assert escape_controls("push ghcr.io/a/b:1 → ok") == "push ghcr.io/a/b:1 → ok"


def test_slack_summaries_mention_and_link_nothing() -> None:
    assert slack_text("tag <!channel> & <https://x|y>") == (
        "tag &lt;!channel&gt; &amp; &lt;https://x|y&gt;"
    )

"""Command-line plumbing: durations, the API key, the output mode, printing."""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from pushgate_cli.errors import CliError, Exit

_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd]?)")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


class Duration(click.ParamType[float]):
    """A duration such as 90, 90s, 15m, 1h30m."""

    name = "duration"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        """Seconds as a float."""
        if isinstance(value, int | float):
            return float(value)
        text = str(value).strip().lower()
        parts = _DURATION.findall(text)
        if not text or "".join(n + u for n, u in parts) != text:
            self.fail(f"{value!r} is not a duration (e.g. 90s, 15m, 1h30m)", param, ctx)
        return float(sum(float(n) * _UNIT[u] for n, u in parts))


DURATION = Duration()


def read_api_key(key_file: Path | None) -> str:
    """The API key from --api-key-file, else from PUSHGATE_API_KEY."""
    if key_file is not None:
        try:
            key = key_file.read_text().strip()
        except OSError as exc:
            raise CliError(Exit.INVALID, f"cannot read --api-key-file {key_file}: {exc}") from None
    else:
        key = os.environ.get("PUSHGATE_API_KEY", "").strip()
    if not key:
        raise CliError(Exit.INVALID, "no API key: set PUSHGATE_API_KEY or pass --api-key-file")
    return key


@dataclass(frozen=True)
class Output:
    """Where things go: JSON documents on stdout with --output json, all else on stderr."""

    json: bool

    def info(self, message: str) -> None:
        """A message for people, always on stderr."""
        click.echo(message, err=True)

    def result(self, text: str, document: Any) -> None:
        """The command's result: `document` as JSON, or `text`, on stdout."""
        if self.json:
            sys.stdout.write(json.dumps(document, indent=2) + "\n")
            sys.stdout.flush()
        else:
            click.echo(text)

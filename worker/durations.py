"""Durations as the settings write them: `30`, `30s`, `15m`, `1h`, `7d`, and lists of them."""

from __future__ import annotations

import re

from worker.errors import ConfigurationError

_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """Seconds in `text`, which is a number with an optional unit s, m, h or d."""
    match = _DURATION_RE.match(text)
    if not match:
        raise ConfigurationError(f"invalid duration {text!r}: use e.g. 30s, 15m, 1h or 7d")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def parse_schedule(text: str) -> tuple[float, ...]:
    """Comma-separated durations, e.g. `5s,5m,30m`, as seconds."""
    return tuple(parse_duration(part) for part in text.split(",") if part.strip())

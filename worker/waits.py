"""The long-poll part of Settings: how many waits one API key, and one API process, may hold
at once, so waits can never take every thread and starve the probes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class _Reader(Protocol):
    def integer(self, name: str, default: int, minimum: int = 1) -> int: ...


@dataclass(frozen=True)
class WaitSettings:
    """PUSHGATE_MAX_WAITS_PER_KEY (across every API process) and
    PUSHGATE_MAX_WAITS_PER_PROCESS (keep it below gunicorn's --threads: the rest answer
    probes and short requests)."""

    per_key: int = 16
    per_process: int = 48  # of the 64 threads the image and the manifests give gunicorn

    @classmethod
    def read(cls, env: _Reader) -> WaitSettings:
        """The wait limits from Settings' environment reader."""
        return cls(
            per_key=env.integer("MAX_WAITS_PER_KEY", cls.per_key),
            per_process=env.integer("MAX_WAITS_PER_PROCESS", cls.per_process),
        )

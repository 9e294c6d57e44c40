"""A gate for the fault proxy's `plan` hook: holds blob upload PUTs until a test opens it."""

from __future__ import annotations

import threading
from collections import Counter

HOLD_AT_MOST = 300.0  # seconds: a forgotten gate never hangs a test run for good


def repository_of(path: str) -> str:
    """The repository named by a /v2/<name>/blobs/... or /v2/<name>/manifests/... path."""
    name = path.split("/v2/", 1)[-1]
    for marker in ("/blobs/", "/manifests/"):
        name = name.split(marker, 1)[0]
    return name


class UploadGate:
    """Holds every blob upload PUT (its body already read) until opened; counts the held."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._held_repositories: set[str] | None = None  # None: hold every repository
        self.waiting: Counter[str] = Counter()

    def __call__(self, method: str, path: str, nth: int) -> str | None:
        """The proxy's plan hook: wait here while the gate is closed; never injects a fault."""
        if method != "PUT" or "/blobs/uploads/" not in path:
            return None
        repository = repository_of(path)
        with self._cond:
            self.waiting[repository] += 1
            self._cond.notify_all()
            self._cond.wait_for(lambda: self._is_open(repository), HOLD_AT_MOST)
            self.waiting[repository] -= 1
        return None

    def _is_open(self, repository: str) -> bool:
        return self._held_repositories is not None and repository not in self._held_repositories

    def wait_held(self, repositories: set[str], timeout: float = 120) -> None:
        """Wait until an upload of each of `repositories` is held at the gate."""
        with self._cond:
            held = self._cond.wait_for(
                lambda: all(self.waiting[r] > 0 for r in repositories), timeout
            )
        if not held:
            raise AssertionError(f"uploads held: {dict(self.waiting)}, wanted {repositories}")

    def open(self, *, except_for: set[str] | None = None) -> None:
        """Let uploads through, except those of `except_for` (held until open() again)."""
        with self._cond:
            self._held_repositories = set(except_for or ())
            self._cond.notify_all()

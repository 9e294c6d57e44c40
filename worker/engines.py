"""The copy engine of a process, assembled: settings, the targets file's logins, an observer.
The engine itself reads no files; this is where the targets it serves come from."""

from __future__ import annotations

from worker.registry.copier import CopyEngine
from worker.registry.logins import Logins
from worker.registry.traffic_hooks import RegistryObserver
from worker.settings import Settings
from worker.targets import TargetSet
from worker.targets_file import load_targets


def build_engine(
    settings: Settings,
    targets: TargetSet | None = None,
    observer: RegistryObserver | None = None,
) -> CopyEngine:
    """An engine for `settings` that logs in to `targets` (read from PUSHGATE_TARGETS_FILE
    when not given); `observer` hears of every registry request and retry."""
    chosen = targets if targets is not None else load_targets(settings)
    return CopyEngine.from_settings(settings, Logins(settings, chosen), observer)

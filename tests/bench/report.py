"""What the benches print besides the table: the phase breakdown of pushgate's jobs."""

from __future__ import annotations

from tests.bench.duel import Duel


def print_phases(title: str, duel: Duel) -> None:
    """Median seconds per phase of pushgate's jobs in `duel` (one line, or a note)."""
    phases = duel.phases()
    if not phases:
        print(f"phases, {title}: the jobs record none")
        return
    print(f"phases, {title} (medians per job: start after the POST, span, busy):")
    for name, (start, seconds, busy) in phases.items():
        print(f"  {name:<17} +{start:6.3f} s  {seconds:6.3f} s  busy {busy:6.3f} s")

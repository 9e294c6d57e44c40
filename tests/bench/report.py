"""What the benches print besides the table: the phase breakdown of pushgate's jobs."""

from __future__ import annotations

from tests.bench.duel import Duel


def print_phases(title: str, duel: Duel) -> None:
    """Median seconds per phase of pushgate's jobs in `duel` (one line, or a note)."""
    phases = duel.phases()
    if not phases:
        print(f"phases, {title}: the jobs record none")
        return
    parts = ", ".join(f"{name} {seconds:.3f} s" for name, seconds in phases.items())
    print(f"phases, {title} (median per job): {parts}")

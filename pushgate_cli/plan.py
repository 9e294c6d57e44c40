"""`pushgate push --dry-run`: the plan of a push (POST /v1/plans) as a short table."""

from __future__ import annotations

from collections import Counter
from typing import Any

from pushgate_cli.client import ApiClient
from pushgate_cli.config import Output
from pushgate_cli.errors import Exit

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def _size(count: int) -> str:
    value = float(count)
    for unit in _UNITS:
        if value < 1024 or unit == _UNITS[-1]:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{count} B"  # pragma: no cover - the loop always returns


def _tags(destination: dict[str, Any]) -> str:
    counted = Counter(tag["state"] for tag in destination["tags"])
    return ", ".join(f"{n} {state}" for state, n in sorted(counted.items())) or "-"


def plan_table(plan: dict[str, Any]) -> str:
    """The plan for people: a verdict line, one row per destination, what is removed."""
    refused = [v for v in plan["verdicts"] if not v["allowed"]]
    if refused:
        head = "REFUSED: " + "; ".join(f"{v['rule']}: {v['detail']}" for v in refused)
    elif plan.get("error"):
        head = f"would fail: {plan['error']['type']}: {plan['error']['detail']}"
    else:
        head = f"allowed: {_size(plan.get('bytes_to_send', 0))} to send"
    read = plan.get("digest") or plan.get("source_digest") or "not read"  # daemon: its image id
    lines = [f"plan of {plan['source']} ({read}): {head}"]
    rows = [("TARGET", "REPOSITORY", "TAGS", "THERE", "MOUNT", "SEND", "BYTES")]
    for dest in plan["destinations"]:
        blobs = dest["blobs"]
        rows.append(
            (
                dest["target"],
                dest["repository"],
                _tags(dest),
                str(blobs["present"]),
                str(blobs["mountable"]),
                str(blobs["to_send"]),
                _size(blobs["bytes_to_send"]),
            )
        )
        if dest.get("error"):
            lines.append(f"{dest['target']}: {dest['error']['type']}: {dest['error']['detail']}")
    if len(rows) > 1:
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    lines += [f"removed {r['digest'][:19]}: {r['reason']}" for r in plan.get("removed", [])]
    lines += [f"note: {note}" for note in plan.get("notes", [])]
    return "\n".join(line.rstrip() for line in lines)


def dry_run(client: ApiClient, out: Output, body: dict[str, Any]) -> int:
    """Ask for the plan of `body` and print it; 0 allowed, 4 refused by a policy, 1 would fail."""
    plan = client.request("POST", "/v1/plans", json=body).json()
    out.result(plan_table(plan), plan)
    if any(not v["allowed"] for v in plan["verdicts"]):
        return Exit.UNAUTHORISED
    return Exit.SUCCEEDED if plan["allowed"] else Exit.FAILED

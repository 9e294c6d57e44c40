"""Fair measurements: wall time and CPU seconds of both sides, load average, digest checks.

Every run records the load average before and after it: a loaded machine flatters the side
that uses less CPU, so a run above LOADED_PER_CORE per core is marked in every line it feeds.
skopeo runs are checked afterwards: the target must serve the source's digest, else the run
is void (`VoidRun`) and the bench exits non-zero.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.bench.common import BENCH_TOKEN, forget_skopeo_cache

LOADED_PER_CORE = 1.5
CORES = os.cpu_count() or 1
MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ]
)


class VoidRun(RuntimeError):
    """A run whose result cannot count (the target does not serve the source's digest)."""


def load_average() -> float:
    """The one-minute load average."""
    return os.getloadavg()[0]


def machine() -> str:
    """One line naming the machine: cores, CPU model, kernel."""
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{CORES} cores, {model}, Linux {os.uname().release}"


@dataclass
class Run:
    """One measured run of one side."""

    wall: float
    cpu: float
    load_before: float
    load_after: float

    @property
    def loaded(self) -> bool:
        """True when the machine was above LOADED_PER_CORE per core before or after."""
        return max(self.load_before, self.load_after) > LOADED_PER_CORE * CORES

    def describe(self) -> str:
        """`1.234 s, 0.56 CPU s, load 0.8->1.1` (and LOADED when it was)."""
        mark = " LOADED" if self.loaded else ""
        return (
            f"{self.wall:.3f} s, {self.cpu:.2f} CPU s, load {self.load_before:.2f}->"
            f"{self.load_after:.2f}{mark}"
        )


@dataclass
class Side:
    """The runs of one contender in one measurement."""

    name: str
    runs: list[Run] = field(default_factory=list)

    @property
    def wall(self) -> float:
        """Median wall seconds."""
        return statistics.median(run.wall for run in self.runs)

    @property
    def cpu(self) -> float:
        """Median CPU seconds."""
        return statistics.median(run.cpu for run in self.runs)

    @property
    def loaded(self) -> int:
        """How many runs were loaded."""
        return sum(run.loaded for run in self.runs)


def tree_cpu(pid: int) -> float:
    """User + system CPU seconds of a live process, its threads and its descendants (with the
    children they have reaped); 0 for processes already gone."""
    total, todo, tick = 0.0, [pid], os.sysconf("SC_CLK_TCK")
    while todo:
        current = todo.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += sum(int(value) for value in fields[11:15]) / tick
            for task in Path(f"/proc/{current}/task").iterdir():
                todo.extend(int(child) for child in (task / "children").read_text().split())
        except (OSError, ValueError):
            continue
    return total


@contextmanager
def measuring(pid: int) -> Iterator[list[Run]]:
    """Measure the block: wall time and CPU seconds of process `pid`'s tree, load averages.
    Yields a list that holds the Run once the block ends."""
    out: list[Run] = []
    load_before, cpu_before = load_average(), tree_cpu(pid)
    start = time.perf_counter()
    yield out
    wall = time.perf_counter() - start
    out.append(Run(wall, tree_cpu(pid) - cpu_before, load_before, load_average()))


def skopeo_runs(argvs: list[list[str]]) -> tuple[Run, int]:
    """Run skopeo commands at once from a removed blob-info cache; (the run, peak RSS MiB).

    CPU is each skopeo's own rusage (user + system, its threads and children), read by wait4,
    so nothing else this process waits for is counted.
    """
    forget_skopeo_cache()
    load_before, start = load_average(), time.perf_counter()
    procs = [
        subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for argv in argvs
    ]
    cpu, peak, left = 0.0, 0, {proc.pid: proc for proc in procs}
    while left:
        for pid, proc in list(left.items()):
            waited, status, usage = os.wait4(pid, os.WNOHANG)
            if waited:
                proc.returncode = os.waitstatus_to_exitcode(status)
                cpu += usage.ru_utime + usage.ru_stime
                del left[pid]
        peak = max(peak, sum(_rss_kib(pid) for pid in left))
        time.sleep(0.005)
    wall = time.perf_counter() - start
    for proc in procs:
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        if proc.stderr:
            proc.stderr.close()
        if proc.returncode != 0:
            raise RuntimeError(f"skopeo failed ({proc.returncode}): {err[-1500:]}")
    return Run(wall, cpu, load_before, load_average()), peak // 1024


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def bearer_token(http: httpx.Client, host: str, repository: str, actions: str) -> str:
    """A token of the bench account from `host`'s token realm for repository:actions."""
    challenge = http.get(f"http://{host}/v2/").headers["WWW-Authenticate"].split(" ", 1)[1]
    params = {k: v.strip('"') for k, v in (p.split("=", 1) for p in challenge.split(","))}
    realm = params.pop("realm")
    params["scope"] = f"repository:{repository}:{actions}"
    return str(http.get(realm, params=params, auth=("bench", BENCH_TOKEN)).json()["token"])


def served_digest(host: str, repository: str, reference: str) -> str:
    """The digest a token-auth bench registry serves for a tag ('' when it serves none)."""
    with httpx.Client(timeout=60) as http:
        token = bearer_token(http, host, repository, "pull")
        answer = http.head(
            f"http://{host}/v2/{repository}/manifests/{reference}",
            headers={"Accept": MANIFEST_TYPES, "Authorization": f"Bearer {token}"},
        )
    return answer.headers.get("Docker-Content-Digest", "") if answer.status_code == 200 else ""


def check_served(side: str, host: str, repository: str, tag: str, expected: str) -> None:
    """Raise VoidRun unless `host` serves `expected` at repository:tag."""
    served = served_digest(host, repository, tag)
    if served != expected:
        raise VoidRun(
            f"{side} run void: {host}/{repository}:{tag} serves {served or 'nothing'}, the "
            f"source is {expected} (the copy changed the image)"
        )


def ratio(ours: float, theirs: float) -> str:
    """`0.83x`, or `-` when the other side is zero."""
    return f"{ours / theirs:.2f}x" if theirs > 0 else "-"


def row(name: str, ours: Side, theirs: Side, floor: float, goal: str) -> str:
    """A Markdown table row: both sides' medians (time, CPU), ratios, the floor, the loads."""
    loads = [
        value
        for side in (ours, theirs)
        for r in side.runs
        for value in (r.load_before, r.load_after)
    ]
    loaded = ours.loaded + theirs.loaded
    mark = f", {loaded} of {len(ours.runs) + len(theirs.runs)} runs LOADED" if loaded else ""
    return (
        f"| {name} | {ours.wall:.3f} s / {ours.cpu:.2f} CPU s | {theirs.wall:.3f} s / "
        f"{theirs.cpu:.2f} CPU s | {ratio(ours.wall, theirs.wall)} / {ratio(ours.cpu, theirs.cpu)} "
        f"| {floor:.3f} s | {min(loads):.2f}-{max(loads):.2f}{mark} | {goal} |"
    )


TABLE_HEAD = (
    "| measurement | pushgate (time / CPU) | skopeo (time / CPU) | ratio (time / CPU) | floor "
    "| load avg | goal |\n|---|---|---|---|---|---|---|"
)


def header(title: str, runs: int) -> None:
    """Print what every bench states first: the machine, the load, the rules."""
    print(
        f"\n== {title}\n{machine()}; load average now {load_average():.2f} (runs above "
        f"{LOADED_PER_CORE * CORES:.1f} are marked LOADED); medians of {runs} alternating runs; "
        "CPU = user + system seconds of the worker process tree during the job, of each skopeo "
        "process (rusage); skopeo's blob-info cache removed before each run; every skopeo run "
        "checked to leave the source's digest at the target",
        flush=True,
    )


def progress(line: str) -> None:
    """A per-run line on stderr."""
    print(line, file=sys.stderr, flush=True)


def bench_main(body: Callable[[], None]) -> None:
    """Run a bench; a void run ends it with its reason and exit status 2."""
    try:
        body()
    except VoidRun as void:
        print(f"VOID: {void}", file=sys.stderr, flush=True)
        sys.exit(2)


def checked_skopeo(argv: list[str], host: str, repository: str, tag: str, digest: str) -> Run:
    """One skopeo run (cache removed, CPU by rusage), then the check that `host` serves
    `digest` at repository:tag (VoidRun if not)."""
    run, _ = skopeo_runs([argv])
    check_served("skopeo", host, repository, tag, digest)
    return run

"""One alternating round of pushgate against skopeo on the same images, checked and measured.

A round copies every image cold to a wiped target with each side (pushgate first in even
rounds, skopeo first in odd ones), optionally then a new tag of the images the target now
holds, and checks after every copy that the target serves each source digest.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

from tests.bench.common import FreshVendor, skopeo_copy
from tests.bench.fleet import Fleet, Sampler
from tests.bench.measure import Run, Side, check_served, measuring, skopeo_runs
from worker.timestamps import parse_time


@dataclass(frozen=True)
class Image:
    """A source image: its reference, digest, and the target name pushgate pushes it to."""

    source: str
    digest: str
    target: str


@dataclass
class Duel:
    """Both sides' runs, peak memory and pushgate's final jobs, over the rounds."""

    fleet: Fleet
    vendor: FreshVendor
    host: str  # where copies go: the vendor itself, or a slow link in front of it
    new_tag: bool = False
    sides: dict[str, Side] = field(default_factory=dict)
    memory: dict[str, list[int]] = field(default_factory=dict)
    jobs: list[dict[str, Any]] = field(default_factory=list)

    def side(self, name: str) -> Side:
        """The named side, created on first use."""
        return self.sides.setdefault(name, Side(name))

    def round(self, images: list[Image], number: int) -> str:
        """One round; returns a line describing its runs."""
        order = [self._ours, self._theirs] if number % 2 == 0 else [self._theirs, self._ours]
        for contender in order:
            contender(images, number)
        return f"round {number + 1}: " + "; ".join(
            f"{name} {side.runs[-1].describe()}" for name, side in self.sides.items()
        )

    def _ours(self, images: list[Image], number: int) -> None:
        bodies = [{"source": i.source, "app_slug": "bench", "target": i.target} for i in images]
        self.vendor.reset()
        pid = self.fleet.worker.proc.pid
        with Sampler(pid) as sampler, measuring(pid) as out:
            jobs = self.fleet.push_all(bodies, tag=f"s{number}", registry=self.host)
        self._record("pushgate", out[0], sampler.peak)
        self.jobs.extend(jobs)
        self._check("pushgate", images, f"s{number}")
        if self.new_tag:
            with measuring(pid) as out:
                self.fleet.push_all(bodies, tag=f"n{number}")
            self._record("pushgate new tag", out[0], 0)
            self._check("pushgate", images, f"n{number}")

    def _theirs(self, images: list[Image], number: int) -> None:
        self.vendor.reset()
        for tag, name in [(f"k{number}", "skopeo"), (f"m{number}", "skopeo new tag")]:
            argvs = [skopeo_copy(i.source, f"{self.host}/bench/{i.target}:{tag}") for i in images]
            run, peak = skopeo_runs(argvs)
            self._record(name, run, peak)
            self._check("skopeo", images, tag)
            if not self.new_tag:
                break

    def _record(self, name: str, run: Run, peak: int) -> None:
        self.side(name).runs.append(run)
        self.memory.setdefault(name, []).append(peak)

    def _check(self, who: str, images: list[Image], tag: str) -> None:
        for image in images:
            check_served(who, self.vendor.host, f"bench/{image.target}", tag, image.digest)

    def phases(self) -> dict[str, tuple[float, float, float]]:
        """Per phase over pushgate's cold jobs, medians of (start after the job's creation,
        seconds from first start to last end, busy seconds); empty when jobs record none."""
        seen: dict[str, list[tuple[float, float, float]]] = {}
        for job in self.jobs:
            created = parse_time(job["created_at"]).timestamp()
            for phase in job.get("phases") or []:
                start = parse_time(phase["start"]).timestamp() - created
                seen.setdefault(phase["name"], []).append((start, phase["seconds"], phase["busy"]))
        return {
            name: tuple(statistics.median(v[i] for v in values) for i in range(3))  # type: ignore[misc]
            for name, values in seen.items()
        }

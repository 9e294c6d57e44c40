"""One engine copy in its own process, so a benchmark can read its peak RSS: SRC DEST."""

from __future__ import annotations

import sys

from worker.engines import build_engine
from worker.reference import parse_reference
from worker.settings import Settings


def main() -> None:
    """Copy argv[1] to argv[2] with settings from the environment."""
    engine = build_engine(Settings.from_env())
    engine.copy(parse_reference(sys.argv[1]), [parse_reference(sys.argv[2])])
    engine.close()


if __name__ == "__main__":
    main()

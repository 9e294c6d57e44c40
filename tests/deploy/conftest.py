"""Built once per session: the wheels (`make wheels`), the Debian base and the image."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import image
from tests.support.installs import build_wheels
from tests.support.services import DockerDaemon


@pytest.fixture(scope="session")
def wheels() -> Path:
    """build/wheels after `make wheels`: both distributions and all their dependencies."""
    return build_wheels()


@pytest.fixture(scope="session")
def debian_base_tar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Debian root file system with python3 (mmdebstrap), made once per session."""
    return image.debian_base_tar(tmp_path_factory.mktemp("debian-base"))


@pytest.fixture(scope="session")
def pushgate_image(docker_daemon: DockerDaemon, debian_base_tar: Path) -> str:
    """The image `make image` builds on the Debian base, in the test dockerd; its tag."""
    base = image.import_base(docker_daemon.url, debian_base_tar, "pushgate-test-base:latest")
    tags = image.make_image(docker_daemon.url, base)
    return tags[0]

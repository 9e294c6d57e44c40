"""Run the installed `pushgate` command as a subprocess, on pipes or on a pseudo-terminal."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time

CONTROL = {chr(c) for c in range(32) if chr(c) not in "\n\t"} | {"\x7f"}


def pushgate_command() -> list[str]:
    """The `pushgate` command of this checkout: `python -m pushgate_cli`, so the tests run the
    code under test whichever checkout the shared venv's console script was installed from
    (tests/deploy/test_wheels.py runs the installed console script)."""
    return [sys.executable, "-m", "pushgate_cli"]


def cli_env(url: str, api_key: str, **extra: str) -> dict[str, str]:
    """An environment for the CLI: the service URL and key, and no CI variables."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PUSHGATE_", "GITHUB_", "CI_", "GITLAB_"))
    }
    env.update({"PUSHGATE_URL": url, "PUSHGATE_API_KEY": api_key, **extra})
    return env


def run_cli(
    args: list[str], env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run `pushgate ARGS` with stdout and stderr captured (not a terminal)."""
    return subprocess.run(
        [*pushgate_command(), *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def run_cli_in_pty(args: list[str], env: dict[str, str], timeout: float = 120) -> tuple[int, str]:
    """Run `pushgate ARGS` with stdout and stderr on a pseudo-terminal; (exit code, output)."""
    controller, terminal = pty.openpty()
    proc = subprocess.Popen(
        [*pushgate_command(), *args],
        env={**env, "TERM": "xterm-256color", "COLUMNS": "120"},
        stdin=subprocess.DEVNULL,
        stdout=terminal,
        stderr=terminal,
    )
    os.close(terminal)
    output = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([controller], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(controller, 65536)
                except OSError:  # EIO: the terminal's last writer is gone
                    chunk = b""
                if not chunk:
                    break
                output += chunk
            elif proc.poll() is not None:
                break
        code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        os.close(controller)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return code, output.decode(errors="replace")

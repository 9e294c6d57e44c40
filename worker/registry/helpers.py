"""Docker credential helpers: `docker-credential-NAME get`, the server URL on standard input,
JSON {"Username", "Secret"} on standard output (ECR's ecr-login, gcloud, desktop keychains)."""

from __future__ import annotations

import json
import shutil
import subprocess

from worker.errors import AuthError
from worker.redaction import redact, redact_cut, register_secret

HELPER_TIMEOUT = 60.0
_NOT_FOUND = "credentials not found"  # docker's ErrCredentialsNotFound: log in anonymously


def helper_command(helper: str) -> str:
    """The executable name of credential helper `helper`."""
    return f"docker-credential-{helper}"


def run_helper(helper: str, server_url: str) -> tuple[str, str] | None:
    """(username, secret) from `docker-credential-HELPER get` for `server_url`; None when the
    helper has none for it; AuthError (redacted) when it is missing or fails."""
    command = helper_command(helper)
    path = shutil.which(command)
    if path is None:
        raise AuthError(
            f"credential helper {command} for {server_url} is not installed (not on the "
            "worker's PATH)"
        )
    try:
        answer = subprocess.run(
            [path, "get"],
            input=server_url,
            capture_output=True,
            text=True,
            timeout=HELPER_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise AuthError(
            f"credential helper {command} did not answer for {server_url} within "
            f"{HELPER_TIMEOUT:.0f} s"
        ) from None
    except OSError as exc:
        raise AuthError(f"cannot run credential helper {command}: {exc.strerror}") from None
    if answer.returncode != 0:
        message = redact_cut(answer.stdout.strip() or answer.stderr.strip(), 300)
        if _NOT_FOUND in message.lower():
            return None
        raise AuthError(
            redact(f"credential helper {command} failed for {server_url}: {message or 'no output'}")
        )
    try:
        document = json.loads(answer.stdout)
        username, secret = str(document["Username"]), str(document["Secret"])
    except (ValueError, KeyError, TypeError):
        raise AuthError(
            f"credential helper {command} answered for {server_url} with something other than "
            'its {"Username", "Secret"} JSON'
        ) from None
    register_secret(secret, username)
    return username, secret
